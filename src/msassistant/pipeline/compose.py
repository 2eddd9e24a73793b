"""Compose: an extractive answer, the most relevant sentences of the retrieved passages, each cited [n].

Every sentence of the body is copied verbatim from the passage it cites, so nothing reaches the reader
that a cited passage does not say.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from .conversation import Resolution
    from .vocabulary import Vocabulary

from ..corpus import credibility, roles
from ..index.search import Hit, HybridSearch
from ..index.store import keyword_text
from ..text import fold, split_sentences, tokenize
from . import plain
from .steps import ComposeStep, FocusStep, Step

MAX_SENTENCES = 4  # chosen sentences, before the sentences they lean on are added
PER_PASSAGE = 2
RELATIVE = 0.6  # a sentence is shown while its relevance is at least this share of the best sentence's ...
MIN_RELEVANCE = 0.25  # ... and at least this much: the answer stops when relevance drops, not at a count
RANK_PRIOR = 0.15  # weight of the retrieval rank when reranking passages by sentence match
TOPIC_WEIGHT = 0.3  # share of its weight a topic carried into a follow-up has when choosing sentences
PROMOTIONAL_DISCOUNT = 0.8
MAX_LEAN = 2  # a sentence that refers back is shown with at most this many sentences before it, or not at all
# A sentence's relevance: this share is its meaning (cosine of its vector with the question's), the rest its
# words (the question's words it has, by their weight). Meaning finds "flu-like symptoms" for "flu symptoms"
# and "make you feel like you have the flu" alike; words keep names and numbers exact.
MEANING = 0.5


@dataclass
class Citation:
    id: int
    source: str
    title: str
    passage: str
    score: float
    kind: str
    credibility: str
    chunk_id: str
    promotional: bool = False

    def public(self) -> dict:
        return {
            "id": self.id, "source": self.source, "title": self.title, "passage": self.passage,
            "score": round(self.score, 4), "kind": self.kind, "credibility": self.credibility,
        }


@dataclass
class Composed:
    sentences: list[tuple[str, int]] = field(default_factory=list)  # (sentence as shown, citation id)
    citations: list[Citation] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)
    leads: dict[int, str] = field(default_factory=dict)  # index of a source's first sentence -> what it is

    @property
    def body(self) -> str:
        return " ".join(f"{s} [{cid}]" for s, cid in self.sentences)

    def pieces(self) -> list[str]:
        """The answer as shown: each source's lead ("The treatment guide says:"), then its cited sentences."""
        if not self.leads:
            return [f"{s} [{cid}]" for s, cid in self.sentences]
        out: list[str] = []
        group: list[str] = []
        for i, (s, cid) in enumerate(self.sentences):
            if i in self.leads:
                if group:
                    out.append(" ".join(group))
                    group = []
                out.append(self.leads[i])
            group.append(f"{s} [{cid}]")
        if group:
            out.append(" ".join(group))
        return out


def citation(number: int, doc, score: float = 0.0) -> Citation:
    """The citation of an indexed passage (a LangChain Document with the index's metadata)."""
    meta = doc.metadata
    return Citation(id=number, source=meta["source"], title=meta["title"], passage=doc.page_content, score=score,
                    kind=meta["kind"], credibility=meta["credibility"], chunk_id=doc.id,
                    promotional=bool(meta.get("promotional")))


def _score(tokens: frozenset[str], weights: dict[str, float], total: float) -> float:
    if not total:
        return 0.0
    return sum(w for t, w in weights.items() if t in tokens) / total


@lru_cache(maxsize=8192)  # passages come back turn after turn: split, tokenise and read their roles once
def statements(passage: str, marked: str = "") -> tuple[tuple[int, str, frozenset[str], str], ...]:
    """(position, sentence, its words, its role) of the passage's sentences that are not questions."""
    sentences = split_sentences(passage)
    kinds = roles.decode(marked, len(sentences))
    return tuple((pos, s, frozenset(tokenize(s)), kinds[pos]) for pos, s in enumerate(sentences)
                 if not s.rstrip().endswith("?"))


def lead_for(meta: dict) -> str:
    """What a source is and how much weight it carries, said before its sentences."""
    if meta.get("lead"):
        return str(meta["lead"])
    leads = credibility.rules().get("leads", {})
    return leads.get(str(meta.get("kind")), leads.get("default", "{title} says:")).format(title=meta.get("title", ""))


def _leaned(pos: int, by_pos: dict, picked: set[int]) -> list[int] | None:
    """The positions a refers-back sentence needs before it (nearest last), or None when it cannot be shown."""
    need, p = [], pos
    while by_pos[p][2] == roles.REFERS_BACK:
        p -= 1
        if p not in by_pos or by_pos[p][2] not in roles.SHOWN or len(need) >= MAX_LEAN:
            return None
        need.append(p)
        if p in picked:
            break
    return need


def compose(query: str, hits: list[Hit], idf, doc_freq, max_passages: int = 3, pool: int = 6,
            meaning=None, promotional_may_lead: bool = False, glossary: tuple = ()) -> Composed:
    """Rerank the top `pool` passages by how well their best shown sentence matches the question (with a prior
    for the retrieval rank); show their most relevant facts while relevance holds, from up to `max_passages`
    passages, grouped by source behind a lead that says what the source is. `meaning(hit)`: the similarity of
    each of the passage's sentences to the question, when sentence vectors are at hand."""
    weights = {t: idf(t) for t in set(tokenize(query)) if doc_freq.get(t)}
    total = sum(weights.values())
    candidates = []  # (passage score, rank, {position: (sentence, score, role)}, shown positions best first)
    for rank, hit in enumerate(hits[:pool]):
        sims = meaning(hit) if meaning else None

        def relevance(pos: int, tokens: frozenset[str]) -> float:
            lexical = _score(tokens, weights, total)
            if sims is None or pos >= len(sims):
                return lexical
            return (1 - MEANING) * lexical + MEANING * max(0.0, sims[pos])

        rows = statements(hit.document.page_content, hit.document.metadata.get("roles", ""))
        by_pos = {pos: (s, relevance(pos, tokens), kind) for pos, s, tokens, kind in rows}
        shown = sorted((p for p, v in by_pos.items() if v[2] in roles.SHOWN), key=lambda p: by_pos[p][1], reverse=True)
        if shown:
            candidates.append((by_pos[shown[0]][1] + RANK_PRIOR / (rank + 1), rank, by_pos, shown))
    # a promotional passage goes behind any other whose match is close to its own, unless the question asks
    # about its claims
    discount = 1.0 if promotional_may_lead else PROMOTIONAL_DISCOUNT
    candidates.sort(key=lambda c: c[0] * (discount if hits[c[1]].document.metadata.get("promotional") else 1.0),
                    reverse=True)
    best = max((c[2][c[3][0]][1] for c in candidates), default=0.0)
    floor = max(MIN_RELEVANCE, RELATIVE * best)
    picks: dict[int, list[int]] = {}  # rank -> positions, in the order chosen
    count = 0
    for _, rank, by_pos, shown in candidates:
        if len(picks) >= max_passages or count >= MAX_SENTENCES:
            break
        for pos in shown[:PER_PASSAGE]:
            if count and (by_pos[pos][1] < floor or count >= MAX_SENTENCES):
                break
            lean = _leaned(pos, by_pos, set(picks.get(rank, [])))
            if lean is None:
                continue
            mine = picks.setdefault(rank, [])
            mine += [p for p in reversed(lean) if p not in mine] + [pos]
            count += 1
    return _assemble(hits, candidates, picks, weights, glossary)


def _assemble(hits: list[Hit], candidates: list, picks: dict[int, list[int]], weights: dict, glossary: tuple) -> Composed:
    """The chosen sentences in reading order: sources in the order their passages were ranked, a source's
    passages together; in the first passage the answering sentence first, elsewhere the passage's own order."""
    order = [c[1] for c in candidates if c[1] in picks]
    by_source: dict[str, list[int]] = {}
    for rank in order:
        by_source.setdefault(hits[rank].document.metadata["source"], []).append(rank)
    rows = {c[1]: c[2] for c in candidates}
    shown: list[tuple[str, int, int]] = []  # (piece, rank, source group)
    first = True
    for group, ranks in enumerate(by_source.values()):
        for rank in ranks:
            positions = picks[rank] if first else sorted(picks[rank])
            first = False
            for pos in positions:
                sentence, _, kind = rows[rank][pos]
                shown += [(piece, rank, group) for piece in plain.joints(roles.shown_text(sentence, kind))]
    glossed = plain.gloss([p for p, _, _ in shown], glossary)
    composed = Composed(weights=weights)
    number: dict[int, int] = {}
    groups_led: set[int] = set()
    for text, (_, rank, group) in zip(glossed, shown):
        hit = hits[rank]
        # every piece shown is the cited passage's own words (less the vocabulary's glosses), or it is not shown
        if not plain.in_passage(text, hit.document.page_content, glossary):
            continue
        meta = hit.document.metadata
        if rank not in number:
            number[rank] = len(composed.citations) + 1
            composed.citations.append(citation(number[rank], hit.document,
                                               hit.dense if hit.dense is not None else hit.score))
        if group not in groups_led:
            groups_led.add(group)
            composed.leads[len(composed.sentences)] = lead_for(meta)
        composed.sentences.append((text, number[rank]))
    return composed


def _frame_sentences(search: HybridSearch, source: str) -> dict[str, tuple[int, int, str]]:
    """The status and pressure sentences of a promotional source: kind -> (chunk position, sentence position, text)."""
    key = (id(search), search.generation, source)
    if key not in _FRAMES:
        rules = roles.frame_rules()
        found: dict[str, tuple[int, int, str]] = {}
        rows = [(n, pos, sentence, kind) for n, meta in enumerate(search._metadatas) if meta.get("source") == source
                for pos, sentence, _, kind in statements(search._texts[n], meta.get("roles", ""))]
        for part in ("status", "pressure"):
            for pattern in rules[part]:  # the first pattern that a sentence matches wins
                hit = next(((n, pos, roles.shown_text(s, kind)) for n, pos, s, kind in rows
                            if pattern.search(s) and (part == "pressure" or kind in roles.SHOWN)), None)
                if hit:
                    found[part] = hit
                    break
        if len(_FRAMES) > 64:  # a few per index generation: keep the cache from growing across reloads
            _FRAMES.clear()
        _FRAMES[key] = found
    return _FRAMES[key]


_FRAMES: dict[tuple, dict[str, tuple[int, int, str]]] = {}


def promotes(question: str, meta: dict) -> bool:
    """Whether a question names what a promotional source promotes (its catalog entry's `promotes`)."""
    folded = fold(question)
    return any(w.strip() and w.strip() in folded for w in str(meta.get("promotes") or "").split("|"))


def frame(composed: Composed, search: HybridSearch, question: str) -> None:
    """An answer led by a promotional source's claims about what it promotes goes on with what the source
    says about where the treatment stands and how it presses readers to act fast
    (rules/sentence_roles.toml [promotional_frame])."""
    if not composed.citations or not composed.citations[0].promotional:
        return
    first = search.position.get(composed.citations[0].chunk_id)
    if first is None or not promotes(question, search._metadatas[first]):
        return
    source, rules = composed.citations[0].source, roles.frame_rules()
    end = next((i for i in sorted(composed.leads) if i > 0), len(composed.sentences))
    shown = {s for s, _ in composed.sentences}
    insert: list[tuple[str, str, int]] = []  # (lead, sentence, chunk position)
    for part in ("status", "pressure"):
        got = _frame_sentences(search, source).get(part)
        if got and got[2] not in shown:
            insert.append((rules[f"{part}_lead"], got[2], got[0]))
    if not insert:
        return
    by_chunk = {c.chunk_id: c.id for c in composed.citations}
    sentences = composed.sentences[:end]
    leads = {i: v for i, v in composed.leads.items() if i < end}
    for lead, sentence, n in insert:
        doc = search.document(n)
        if doc.id not in by_chunk:
            composed.citations.append(citation(len(composed.citations) + 1, doc))
            by_chunk[doc.id] = composed.citations[-1].id
        leads[len(sentences)] = lead
        sentences.append((sentence, by_chunk[doc.id]))
    shift = len(sentences) - end
    leads.update({i + shift: v for i, v in composed.leads.items() if i >= end})
    composed.sentences, composed.leads = sentences + composed.sentences[end:], leads
    _renumber(composed)


def _renumber(composed: Composed) -> None:
    """Citations numbered in the order the answer first cites them."""
    order: dict[int, int] = {}
    for _, cid in composed.sentences:
        order.setdefault(cid, len(order) + 1)
    composed.sentences = [(s, order[cid]) for s, cid in composed.sentences]
    cited = sorted((c for c in composed.citations if c.id in order), key=lambda c: order[c.id])
    for c in cited:
        c.id = order[c.id]
    composed.citations = cited


def citations_for(search: HybridSearch, chunk_ids: Sequence[str]) -> list[Citation]:
    """Citations of indexed passages by chunk id (a passage no longer in the index is left out)."""
    found = [search.position[c] for c in chunk_ids if c in search.position]
    return [citation(i, search.document(n)) for i, n in enumerate(found, start=1)]


def focus(message: str, res: "Resolution", hits: list[Hit], search: HybridSearch, vocab: "Vocabulary",
          general: frozenset[str]):
    """How the answer's sentences are chosen: (passages, word weights, the focus step or None).

    A follow-up that refers back ("What are its side effects?") is retrieved with the earlier topic; but
    every passage about that topic names it, so among the passages about the topic, its sentences are chosen
    mostly by the follow-up's own words (the topic's words count for a fraction of their weight)."""
    if not (res.follow_up and res.carried) or (res.cue or "").startswith("ellipsis"):
        return hits, search.idf, None  # "and for progressive MS?": the earlier topic is part of the question
    topic = set(tokenize(res.carried)) - general
    # about the topic: a passage that names it, or, when the earlier answer rested on one document, a passage of
    # that document ("can I get on it early?" after an answer about the therapy an article promotes)
    referred = set(res.sources) if len(res.sources) == 1 else set()
    on_topic = [h for h in hits if h.document.metadata.get("source") in referred
                or topic & set(tokenize(keyword_text(h.document)))]
    own = set(tokenize(vocab.expand(message).query)) - general - topic
    if not on_topic or not [t for t in own if t in search.doc_freq]:
        return hits, search.idf, None  # nothing of its own to choose by ("what else?")
    step = FocusStep(topic_weight=TOPIC_WEIGHT, passages=[h.id for h in on_topic[:6]])
    return on_topic, (lambda t: search.idf(t) * (TOPIC_WEIGHT if t in topic else 1.0)), step


def sentence_meaning(search: HybridSearch, vectors: Sequence[Sequence[float]]):
    """`meaning(hit)` for compose: each sentence's best cosine with the question's vectors, from the search's
    sentence vectors (None without them)."""
    sentences = search.sentences
    if sentences is None or not vectors:
        return None
    import numpy as np

    queries = np.asarray(vectors, dtype=np.float32)

    def meaning(hit: Hit) -> list[float] | None:
        position = search.position.get(hit.id)
        if position is None:
            return None
        rows = sentences.of(position)
        if not rows:
            return None
        return (np.asarray(sentences.vectors[rows]) @ queries.T).max(axis=1).tolist()

    return meaning


def answer(query: str, message: str, res: "Resolution", hits: list[Hit], search: HybridSearch,
           vocab: "Vocabulary", general: frozenset[str], urgent: bool, top_k: int,
           vectors: Sequence[Sequence[float]] = (), about_claims: bool = False) -> tuple[Composed, list[Step]]:
    """The compose stage: the extractive answer to a turn, and the steps that explain it."""
    passages, idf, focused = focus(message, res, hits, search, vocab, general)
    # an urgent reply stays short: the guidance, then only the most relevant passage, never a promotional one
    if urgent:
        passages = [h for h in passages if not h.document.metadata.get("promotional")]
    composed = compose(query, passages, idf, search.doc_freq, max_passages=1 if urgent else top_k,
                       meaning=sentence_meaning(search, vectors), promotional_may_lead=about_claims and not urgent,
                       glossary=plain.glossary(vocab.terms))
    if about_claims and not urgent:
        frame(composed, search, f"{message} {query}")
    step = ComposeStep(sentences=len(composed.sentences), citations=[c.chunk_id for c in composed.citations])
    return composed, ([focused] if focused else []) + [step]


def source_changed(previous: Sequence[str], citations: Sequence[Citation]) -> str | None:
    """The title of the source a follow-up's answer leads with, when the earlier answer rested on others."""
    if not previous or not citations or citations[0].source in previous:
        return None
    title = citations[0].title or citations[0].source
    return f"\u201c{title}\u201d" if citations[0].kind != "treatment guide" else "the treatment guide"
