"""Cleaning, metadata and chunking of the scraped corpus pages."""

import re
from pathlib import Path

import pytest

from msassistant.corpus import ingest
from msassistant.corpus.ingest import chunk_paragraphs, clean_document, load_corpus, to_documents
from msassistant.text import split_sentences

from conftest import CORPUS

BOILERPLATE = [
    re.compile(r"\bRead More\b", re.I),
    re.compile(r"You May Also Like", re.I),
    re.compile(r"Understanding MS Research", re.I),
    re.compile(r"Whether you.ve recently been diagnosed", re.I),
    re.compile(r"not all research is created equal", re.I),
    re.compile(r"By presenting a wide range of MS-focused studies", re.I),
    re.compile(r"More Details section", re.I),
    re.compile(r"\b\d{1,2}/\d{1,2}/\d{4}\b"),
    re.compile(r"^(Learn|Discover) how", re.M),
    re.compile(r"Anti-NMDAR|Piezo1|PHH-1V|Vanishing White Matter|paramagnetic rim", re.I),
]


@pytest.fixture(scope="module")
def corpus_chunks():
    docs, skipped = load_corpus(CORPUS)
    assert not skipped
    return docs, [c for d in docs for c in to_documents(d)]


def test_every_document_is_loaded(corpus_chunks):
    docs, chunks = corpus_chunks
    assert sorted(d.source for d in docs) == sorted(p.name for p in CORPUS.glob("*.txt"))
    assert all(c.metadata["source"] in {d.source for d in docs} for c in chunks)


def test_no_chunk_contains_boilerplate(corpus_chunks):
    _, chunks = corpus_chunks
    for chunk in chunks:
        for pattern in BOILERPLATE:
            assert not pattern.search(chunk.page_content), (chunk.id, pattern.pattern, chunk.page_content[:200])


def test_title_lines_appear_once(corpus_chunks):
    docs, chunks = corpus_chunks
    azathioprine = next(d for d in docs if d.source.startswith("002"))
    assert azathioprine.title == "Can Azathioprine Help Manage MS Symptoms?"
    text = " ".join(c.page_content for c in chunks if c.metadata["source"] == azathioprine.source)
    assert azathioprine.title not in text  # a headline, kept as metadata only
    for doc in docs:
        joined = " ".join(c.page_content for c in chunks if c.metadata["source"] == doc.source)
        assert joined.count(doc.title) <= 1


def test_widget_labels_are_dropped(corpus_chunks):
    _, chunks = corpus_chunks
    assert not any(c.page_content.strip() in {"Credibility", "Interest"} for c in chunks)


def test_metadata_from_text_and_catalog(corpus_chunks):
    docs, _ = corpus_chunks
    by = {d.source[:3]: d for d in docs}
    assert by["000"].journal == "Journal of neurology"
    assert by["002"].journal == "The Cochrane database of systematic reviews"
    assert by["003"].journal == "Neuroimage"
    assert by["001"].journal is None and by["001"].kind == "treatment guide"
    assert by["004"].kind == "news/promotional article" and by["004"].promotional
    assert "systematic review" in by["002"].credibility
    assert "small study" in by["000"].credibility
    assert "Promotional" in by["004"].credibility and "not been verified" in by["004"].credibility
    assert not any(d.promotional for d in docs if d.source[:3] != "004")


def test_chunks_are_whole_sentences(corpus_chunks):
    docs, chunks = corpus_chunks
    raw = {p.name: " ".join(p.read_text(encoding="utf-8").split()) for p in CORPUS.glob("*.txt")}
    for chunk in chunks:
        text = chunk.page_content
        assert text[-1] in ".!?\"”)", (chunk.id, text[-60:])
        assert text[0].isupper() or text[0].isdigit(), (chunk.id, text[:60])
        assert len(text) <= ingest.MAX_CHUNK + 5
        # every sentence of a chunk is verbatim source text (nothing invented by cleaning)
        for sentence in split_sentences(text):
            assert sentence in raw[chunk.metadata["source"]].replace("?", "? "), (chunk.id, sentence)


def test_faq_questions_are_split_from_answers(corpus_chunks):
    _, chunks = corpus_chunks
    assert not any(re.search(r"\?[A-Z]", c.page_content) for c in chunks)
    rehab = next(c for c in chunks if "rehabilitation help alleviate" in c.page_content)
    assert rehab.page_content.startswith("How does rehabilitation")


def test_split_sentences_keeps_abbreviations():
    text = "Drugs (e.g. interferon) help. Relapse rates fall by 30-50%. Is it safe? Yes, mostly."
    assert split_sentences(text) == ["Drugs (e.g. interferon) help.", "Relapse rates fall by 30-50%.", "Is it safe?", "Yes, mostly."]


def test_long_paragraphs_split_at_sentences():
    sentence = "Patients with multiple sclerosis benefit from regular exercise programs and rest."
    chunks = chunk_paragraphs([("", " ".join([sentence] * 20))], max_chars=300)
    assert len(chunks) > 1
    for _, text in chunks:
        assert len(text) <= 300 and text.endswith(".")
        assert all(s == sentence for s in split_sentences(text))


def test_short_paragraphs_are_merged():
    chunks = chunk_paragraphs([("", "Yes, reversing."), ("", "This therapy repairs the myelin sheath in MS.")])
    assert chunks == [("", "Yes, reversing. This therapy repairs the myelin sheath in MS.")]


def test_teaser_block_with_headlines_is_removed():
    text = (
        "A real finding about MS fatigue was reported.\n\nYou May Also Like\n\nSome Headline About Gut Health\n"
        "Some Headline About Gut Health\n\n1/1/2026\n\nDiscover how gut bacteria may help\n\nRead More\n"
        "Understanding MS Research\n\nWhether you’ve recently been diagnosed with MS, studies published in respected "
        "medical journals like Brain often range from early work to trials.\n"
    )
    doc = clean_document("x.txt", text, {"kind": "research summary"})
    assert [p for _, p in doc.paragraphs] == ["A real finding about MS fatigue was reported."]
    assert doc.journal == "Brain"


def test_unreadable_files_are_skipped_with_a_warning(tmp_path, caplog):
    (tmp_path / "good.txt").write_text("Fatigue is common in MS. Rest helps many people.", encoding="utf-8")
    (tmp_path / "binary.txt").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00IHDR" + bytes(range(256)))
    (tmp_path / "latin1.txt").write_bytes("Fatigue caus\xe9e par la SEP.".encode("latin-1"))
    (tmp_path / "empty.txt").write_text("   \n", encoding="utf-8")
    docs, skipped = load_corpus(tmp_path)
    assert [d.source for d in docs] == ["good.txt"]
    assert len(skipped) == 3
    assert any("binary" in s for s in skipped) and any("UTF-8" in s for s in skipped)
    assert "skipped" in caplog.text


def test_broken_catalog_is_a_clear_error(tmp_path):
    (tmp_path / "a.txt").write_text("MS text.", encoding="utf-8")
    (tmp_path / "catalog.toml").write_text("[broken\n", encoding="utf-8")
    with pytest.raises(ValueError, match="catalog.toml"):
        load_corpus(tmp_path)
