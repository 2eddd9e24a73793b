"""Retrieve: the search query for a question (directives dropped, misspellings corrected, lay words expanded),
its query vectors, and the ranked passages.

`Library` owns the index and its loaded search (loaded once, when first needed, and reloaded after an
ingest changes the index). `Library.retrieve` is the stage: a question in, a `Retrieval` out.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Sequence

from ..config import Settings
from ..index.search import Hit, HybridSearch
from ..index.store import Index, IngestReport, sync_corpus
from ..corpus import credibility
from ..text import fold_words, tokenize
from .scope import strip_directives, texts as scope_texts
from .steps import ExpandStep, RetrieveStep
from .vocabulary import Drug, Expansion, Vocabulary

log = logging.getLogger(__name__)

MAX_TERM_VECTORS = 4096
FOLLOW_EVERY = 5.0  # seconds between checks for a newer index generation
# A promotional passage keeps its rank only over passages this much less relevant (fused score ratio); any
# guide or research passage closer to it than that comes first, unless the question is about its claims.
SIMILAR_RELEVANCE = 0.9
PROMOTIONAL_WORD = 0.8  # a word is the promotional sources' own when this share of the passages using it are theirs


PRIOR_SOURCE_BOOST = 1.3  # a follow-up that refers to the earlier answer ("did it help?") prefers its documents


def prefer_sources(hits: list[Hit], sources: Sequence[str]) -> list[Hit]:
    """Hits re-ranked with the fused scores of passages from `sources` raised by PRIOR_SOURCE_BOOST."""
    if not sources:
        return hits
    wanted = set(sources)

    def score(h: Hit) -> float:
        return h.score * (PRIOR_SOURCE_BOOST if h.document.metadata.get("source") in wanted else 1.0)

    return sorted(hits, key=score, reverse=True)


def is_promotional(hit: Hit) -> bool:
    return bool(hit.document.metadata.get("promotional"))


def credibility_order(hits: list[Hit], about_claims: bool) -> tuple[list[Hit], list[str]]:
    """Hits with each promotional passage moved behind the guide and research passages of similar relevance;
    unchanged when the question is about what a promotional source claims. Returns the hits and the ids moved."""
    if about_claims:
        return hits, []
    out: list[Hit] = []
    moved: list[str] = []
    waiting: list[Hit] = []  # promotional hits not yet placed, best first
    for hit in hits:
        if is_promotional(hit):
            waiting.append(hit)
            continue
        while waiting and hit.score < SIMILAR_RELEVANCE * waiting[0].score:
            out.append(waiting.pop(0))
        if waiting:
            moved += [w.id for w in waiting if w.id not in moved]
        out.append(hit)
    return out + waiting, moved


@dataclass
class Retrieval:
    expansion: Expansion
    query: str  # the expanded query that was searched
    vectors: list[list[float]]  # the query's embeddings (none in bm25 mode)
    hits: list[Hit]
    demoted: list[str] = field(default_factory=list)  # promotional passages moved behind better sources
    # the question is about what a promotional source claims: it names it, or refers back to an answer from it
    about_claims: bool = False

    @property
    def top_similarity(self) -> float:
        return max((h.dense for h in self.hits if h.dense is not None), default=0.0)

    def steps(self, mode: str) -> tuple[ExpandStep, RetrieveStep]:
        e = self.expansion
        return (ExpandStep(added=e.added, drugs=[d.generic for d in e.drugs]),
                RetrieveStep(mode=mode, top_similarity=round(self.top_similarity, 4),
                             hits=[{"id": h.id, "score": round(h.score, 4)} for h in self.hits],
                             demoted=self.demoted or None))


class Library:
    """The index, its search, and the query side of retrieval."""

    def __init__(self, settings: Settings, embeddings, index: Index, vocab: Vocabulary):
        self.settings, self.embeddings, self.index, self.vocab = settings, embeddings, index, vocab
        self._search: HybridSearch | None = None
        self._lock = threading.Lock()
        self._term_vectors: dict[str, list[float]] = {}
        self._offer: tuple[HybridSearch, str] | None = None
        self._followed = time.monotonic()
        self._following = threading.Lock()

    # ---- the index and its search ------------------------------------------------------------------
    def refresh(self, progress: bool = False) -> IngestReport:
        """Bring the index up to date with the corpus (incrementally), then load its search."""
        report = sync_corpus(self.settings, self.index, progress=progress)
        if report.changed or self._search is None:
            self._search = HybridSearch(self.index, progress=progress)
        return report

    def follow(self, wait: bool = False, on_switch=None) -> bool:
        """Switch to a newer index generation when another process (an ingest, a replica's sync into a shared
        Chroma) made one. Checked at most every FOLLOW_EVERY seconds; the new search loads in the background
        while requests go on with the old one, then replaces it in one step (`wait`: load it here instead).
        `on_switch` is called after a switch. True when a switch started (or, with `wait`, happened)."""
        now = time.monotonic()
        current = self._search
        if current is None or (not wait and now - self._followed < FOLLOW_EVERY) or self._following.locked():
            return False
        self._followed = now
        try:
            generation = self.index.generation(assign=False)
        except Exception:  # the index cannot be read just now: keep serving what is loaded
            log.warning("could not read the index generation; serving the loaded one", exc_info=True)
            return False
        if not generation or generation == current.generation:
            return False

        def load() -> None:
            with self._following:
                try:
                    fresh = HybridSearch(self.index)
                except Exception:
                    log.exception("could not load index generation %s; still serving %s", generation, current.generation)
                    return
                if self._search is current:
                    self._search = fresh
                    if on_switch:
                        on_switch()
                    log.info("now serving index generation %s", fresh.generation)

        if wait:
            load()
        else:
            threading.Thread(target=load, name="msa-follow-index", daemon=True).start()
        return True

    @property
    def search(self) -> HybridSearch:
        if self._search is None:
            with self._lock:
                if self._search is None:
                    if self.index.count() == 0:
                        raise RuntimeError("the index is empty: run `msassistant ingest` first")
                    self._search = HybridSearch(self.index)
        return self._search

    @search.setter
    def search(self, value: HybridSearch) -> None:
        self._search = value

    @property
    def loaded(self) -> HybridSearch | None:
        return self._search

    def health(self) -> dict:
        search = self._search
        if search is not None and search.generation == self.index.generation(assign=False):
            chunks, docs = len(search.ids), len(search.hashes)  # the index is as loaded: no need to count it
        else:
            chunks = self.index.count()
            docs = len(self.index.document_hashes()) if chunks else 0
        return {"status": "ok" if chunks else "empty_index", "documents": docs, "chunks": chunks,
                "generation": search.generation if search is not None else self.index.generation(assign=False),
                "embedding_model": self.embeddings.label, "retrieval_mode": self.settings.retrieval_mode}

    def covered(self, drug: Drug) -> bool:
        """Whether the library has any passage naming the drug."""
        return drug.named_in(self.search.doc_freq)

    # ---- the query ---------------------------------------------------------------------------------
    def expand(self, text: str) -> Expansion:
        """The search query for a question: directives to the assistant left out, misspellings corrected,
        lay words expanded."""
        return self.vocab.expand(self.search.correct(strip_directives(text) or text))

    def vectors(self, expansion: Expansion, cache: dict | None = None) -> list[list[float]]:
        """One dense query for the question, one for its clinical expansion (lay words rarely embed well)."""
        if self.settings.retrieval_mode == "bm25":
            return []
        texts = [expansion.text] + ([" ".join(expansion.added)] if expansion.added else [])
        if cache and all(t in cache for t in texts):
            return [cache[t] for t in texts]
        known = (cache or {}).get(expansion.text)  # triage embeds the message as written
        vectors = [known if known is not None else self.embeddings.embed_query(expansion.text)]
        if expansion.added:
            vectors.append(self._term_vector(" ".join(expansion.added)))
        return vectors

    def _term_vector(self, terms: str) -> list[float]:
        """The vector of the clinical terms added to a question. They come from the reviewed vocabulary, so
        there are few distinct ones and each is embedded once (the person's own words are embedded every time)."""
        vector = self._term_vectors.get(terms)
        if vector is None:
            if len(self._term_vectors) >= MAX_TERM_VECTORS:
                self._term_vectors.clear()
            vector = self._term_vectors[terms] = self.embeddings.embed_query(terms)
        return vector

    def embed_all(self, questions: Sequence[str]) -> dict[str, list[float]]:
        """The query vectors of many questions in one batch (what `vectors` would compute one by one)."""
        if self.settings.retrieval_mode == "bm25":
            return {}
        texts, terms = [], []
        for q in questions:
            e = self.expand(q)
            texts.append(e.text)
            if e.added:
                terms.append(" ".join(e.added))
        texts = list(dict.fromkeys(texts + terms))
        vectors = dict(zip(texts, self.embeddings.embed_documents(texts)))
        for t in terms:  # the vocabulary's terms for these questions are likely to come again
            self._term_vectors.setdefault(t, vectors[t])
        return vectors

    # ---- the stage -----------------------------------------------------------------------------------
    def retrieve(self, question: str, cache: dict | None = None, prefer: Sequence[str] = ()) -> Retrieval:
        """`prefer`: documents to favour (those the earlier answer cited, for a follow-up that refers to it)."""
        s = self.settings
        expansion = self.expand(question)
        vectors = self.vectors(expansion, cache)
        hits = self.search.search(expansion.query, vectors, s.candidates, s.candidates, s.retrieval_mode)
        hits = prefer_sources(hits, prefer)
        claims = bool(set(prefer) & self.search.promotional_sources) or self.about_claims(expansion.query)
        hits, demoted = credibility_order(hits, claims)
        return Retrieval(expansion=expansion, query=expansion.query, vectors=vectors, hits=hits, demoted=demoted,
                         about_claims=claims)

    def offer(self) -> str:
        """What the library can help with, in a sentence: its documents, by their study or title (read once
        per loaded search)."""
        search = self.search
        if self._offer is None or self._offer[0] is not search:
            self._offer = (search, self._read_offer(search))
        return self._offer[1]

    def _read_offer(self, search: HybridSearch) -> str:
        from ..corpus.ingest import load_catalog

        names = []
        try:
            catalog = load_catalog(self.settings.corpus_path)
        except ValueError:
            catalog = {}
        for source in sorted(search.hashes):
            entry = catalog.get(source, {})
            name = entry.get("study") or entry.get("title") or source.rsplit(".", 1)[0]
            names.append(name)
        items = "; ".join(names)
        return scope_texts()["no_coverage_offer"].format(library=items)

    def knows(self, word: str) -> bool:
        """Whether the library uses a word (or a near spelling of it)."""
        search = self.search
        return all(t in search.doc_freq or search.near(t) for t in tokenize(word))

    def about_claims(self, query: str) -> bool:
        """Whether a question is about what a promotional source claims: it points at one ("that article",
        rules/credibility.toml) or uses a word that is mostly the promotional passages' own."""
        folded = fold_words(query)
        if any(f" {w}" in folded for w in credibility.rules()["promotional"]["named_by"]["words"]):
            return True
        own = self.search.promotional_words(PROMOTIONAL_WORD)
        return any(t in own for t in tokenize(query))
