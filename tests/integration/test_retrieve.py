"""Hybrid retrieval over the real index and model: each mode, the fusion, and the LangChain retriever."""

import pytest

from msassistant.index.langchain import MSRetriever


@pytest.mark.parametrize("mode", ["dense", "bm25", "hybrid"])
def test_each_mode_finds_the_passage(assistant, mode):
    search = assistant.search
    query = "fingolimod bradycardia ECG monitoring"
    vectors = [] if mode == "bm25" else [assistant.embeddings.embed_query(query)]
    hits = search.search(query, vectors, 3, 10, mode)
    assert hits and "fingolimod" in hits[0].document.page_content
    if mode == "hybrid":
        assert hits[0].dense is not None and hits[0].bm25 is not None


def test_hybrid_beats_each_list_alone_on_lay_and_exact_terms(assistant):
    # BM25 nails an exact acronym the embedding barely knows; the fusion keeps it on top
    search = assistant.search
    query = "ITMTX"
    hits = search.search(query, [assistant.embeddings.embed_query(query)], 3, 10, "hybrid")
    assert "ITMTX" in hits[0].document.page_content


def test_langchain_retriever(assistant):
    retriever = MSRetriever(search=assistant.search, embed_query=assistant.embeddings.embed_query, k=2)
    docs = retriever.invoke("Tai Chi balance training")
    assert len(docs) == 2 and "Tai Chi" in docs[0].page_content
    assert docs[0].metadata["source"] == "001_fa889e840cef5881.txt" and "score" in docs[0].metadata
