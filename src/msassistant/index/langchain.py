"""The hybrid search as a LangChain retriever, for use in chains and in the benchmark."""

from __future__ import annotations

from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from pydantic import ConfigDict

from .search import HybridSearch, Mode


class MSRetriever(BaseRetriever):
    """LangChain retriever over the hybrid search, for use in chains and the benchmark."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    search: HybridSearch
    embed_query: object
    k: int = 4
    candidates: int = 8
    mode: Mode = "hybrid"

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        vectors = [self.embed_query(query)] if self.mode != "bm25" else []
        hits = self.search.search(query, vectors, self.k, self.candidates, self.mode)
        return [Document(page_content=h.document.page_content, metadata={**h.document.metadata, "score": h.score}, id=h.id) for h in hits]
