"""Optional language model: rewrites follow-ups into standalone questions and writes the answer from the
numbered passages. Off unless MSA_LLM names a LangChain chat model ("ollama:llama3.1", "openai:gpt-4o-mini").

Nothing the model writes reaches a reader unchecked. Its answer is split into sentences and each must cite
passages it was given, and share enough of its content words with them; otherwise, or when the model
fails or runs out of time, the extractive answer is used and the reason is logged. The safety notices and
the triage never depend on the model: code adds them around whichever body is used.

Prompt texts live in prompts/*.md so they can be reviewed without reading code.
"""

from __future__ import annotations

import logging
import re
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence, TypeVar

from ..resources import prompt
from ..text import protect_abbreviations, restore_abbreviations, tokenize
from .conversation import topic_words
from .steps import LLMStep

log = logging.getLogger(__name__)

T = TypeVar("T")

# A sentence is grounded when at least MIN_SUPPORT of its content words occur in the passages it cites,
# and each cited passage holds at least MIN_EACH of them (so no citation is decoration).
MIN_SUPPORT = 0.5
MIN_EACH = 0.25
MAX_SENTENCES = 8
MAX_CHARS = 2000
MAX_QUESTION_CHARS = 400
NO_ANSWER = "NO_ANSWER"
# Words too common in MS writing to show that a sentence rests on a passage.
UNINFORMATIVE = frozenset(tokenize("ms multiple sclerosis patient patients people person may can could might study research"))

MARKER = re.compile(r"\[\s*(\d+(?:\s*(?:[,;]|-|–|and)\s*\d+)*)\s*\]")
LEADING_MARKERS = re.compile(r"^((?:\[[^\]]*\d[^\]]*\]\s*)+)")
SENTENCE_BREAK = re.compile(r"(?<=[.!?])[\"”')]?\s+|(?<=\])\s+(?=[\"“(A-Z])")
BULLET = re.compile(r"^\s*(?:[-*•]|\d+[.)])\s+")
THINKING = re.compile(r"<think>.*?</think>", re.S | re.I)


class LLMFallback(Exception):
    """The model's output is not used; `reason` says why (logged for staff)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# ---- building the model ----------------------------------------------------------------------------
def build_chat_model(settings) -> Any | None:
    """The chat model MSA_LLM names, or None when it is off. Provider packages are optional extras:
    `pip install 'msassistant[llm]'` (langchain-openai, langchain-ollama)."""
    if not settings.llm:
        return None
    from langchain.chat_models import init_chat_model

    kwargs: dict[str, Any] = {"temperature": 0}
    if getattr(settings, "llm_base_url", None):
        kwargs["base_url"] = settings.llm_base_url
    provider = settings.llm.split(":", 1)[0] if ":" in settings.llm else ""
    if provider == "openai":
        kwargs.update(timeout=settings.llm_timeout, max_retries=0)
    elif provider == "ollama":
        kwargs["client_kwargs"] = {"timeout": settings.llm_timeout}
    return init_chat_model(settings.llm, **kwargs)


DEFAULT = object()  # "the model the settings name"


def writer_for(settings, model: Any = DEFAULT) -> tuple["LLMWriter | None", str | None]:
    """(the writer, or None when the model is off; why the configured model is unavailable, or None).
    `model`: a LangChain chat model to use instead of the one MSA_LLM names; None turns the model off.
    A missing provider package or bad settings must not stop the service: it answers without the model."""
    unavailable = None
    if model is DEFAULT:
        try:
            model = build_chat_model(settings)
        except Exception as exc:
            model = None
            unavailable = f"model unavailable: {type(exc).__name__}: {str(exc)[:200]}"
            log.warning("MSA_LLM=%s could not be loaded, answering without it: %s", settings.llm, exc)
    if model is None:
        return None, unavailable
    return LLMWriter(model, settings.llm_timeout, settings.llm or type(model).__name__), None


# ---- prompts ---------------------------------------------------------------------------------------


def render(template: str, **values: str) -> str:
    """Fill {name} fields; other braces (in passages or questions) are left alone."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


# ---- calling with a deadline -----------------------------------------------------------------------
_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="msa-llm")


def call_with_timeout(fn: Callable[[], T], timeout: float) -> T:
    """Run `fn` and give up after `timeout` seconds (the call itself is left to finish in the background)."""
    future = _pool.submit(fn)
    try:
        return future.result(timeout=timeout)
    except FutureTimeout:
        future.cancel()
        raise LLMFallback(f"timeout: no reply within {timeout:g}s") from None


def message_text(message: Any) -> str:
    content = getattr(message, "content", message)
    if isinstance(content, list):
        content = "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)
    return THINKING.sub("", str(content or "")).strip()


# ---- verification ----------------------------------------------------------------------------------
@dataclass
class Verified:
    sentences: list[tuple[str, list[int]]] = field(default_factory=list)  # (sentence without markers, cited ids)

    def cited(self) -> list[int]:
        return list(dict.fromkeys(i for _, ids in self.sentences for i in ids))


def _marker_ids(group: str) -> list[int]:
    ids: list[int] = []
    for part in re.split(r"\s*(?:[,;]|and)\s*", group):
        if re.fullmatch(r"\d+\s*[-–]\s*\d+", part):
            a, b = (int(x) for x in re.split(r"\s*[-–]\s*", part))
            ids += list(range(a, b + 1)) if 0 < b - a < 10 else [a, b]
        elif part.strip().isdigit():
            ids.append(int(part))
    return ids


def split_answer(text: str) -> list[str]:
    """Sentences of a model's answer; a citation written after the full stop stays with its sentence."""
    pieces: list[str] = []
    for line in protect_abbreviations(text).splitlines():
        line = BULLET.sub("", line).strip()
        if not line:
            continue
        for part in SENTENCE_BREAK.split(line):
            part = part.strip()
            if not part:
                continue
            lead = LEADING_MARKERS.match(part)
            if lead and pieces:
                pieces[-1] = f"{pieces[-1]} {lead.group(1).strip()}"
                part = part[lead.end():].strip()
            if part:
                pieces.append(part)
    return [restore_abbreviations(piece) for piece in pieces]


def content_words(text: str) -> set[str]:
    return {t for t in tokenize(MARKER.sub(" ", text)) if t not in UNINFORMATIVE}


def verify(text: str, passages: dict[int, str], question: str = "") -> Verified:
    """Check a model's answer against the passages it was given; raise LLMFallback with the reason if any
    sentence is uncited, cites a passage that does not exist, or says what its passages do not."""
    text = text.strip()
    if not text:
        raise LLMFallback("empty answer")
    if text.strip(" .").upper() == NO_ANSWER:
        raise LLMFallback("the model found no answer in the passages")
    if len(text) > MAX_CHARS:
        raise LLMFallback(f"answer too long ({len(text)} characters)")
    sentences = split_answer(text)
    if len(sentences) > MAX_SENTENCES:
        raise LLMFallback(f"answer too long ({len(sentences)} sentences)")
    words = {n: set(tokenize(p)) for n, p in passages.items()}
    out = Verified()
    for sentence in sentences:
        short = sentence if len(sentence) <= 80 else sentence[:77] + "..."
        groups = MARKER.findall(sentence)
        if not groups:
            if not content_words(sentence) and not re.search(r"\w", sentence):
                continue  # punctuation left over
            raise LLMFallback(f"sentence without a citation: {short!r}")
        ids = list(dict.fromkeys(i for g in groups for i in _marker_ids(g)))
        missing = [i for i in ids if i not in passages]
        if missing or not ids:
            raise LLMFallback(f"cites {', '.join(f'[{i}]' for i in missing) or 'nothing'}, which is not among "
                              f"the {len(passages)} passages: {short!r}")
        stems = content_words(sentence)
        if len(stems) < 2:
            raise LLMFallback(f"sentence says too little to check: {short!r}")
        union = set().union(*(words[i] for i in ids))
        support = len(stems & union) / len(stems)
        if support < MIN_SUPPORT:
            raise LLMFallback(f"not grounded: {support:.0%} of its words are in its passages: {short!r}")
        for i in ids:
            each = len(stems & words[i]) / len(stems)
            if each < MIN_EACH:
                raise LLMFallback(f"[{i}] does not support the sentence ({each:.0%} shared words): {short!r}")
        body = MARKER.sub("", sentence)
        body = re.sub(r"\s+([.,;:!?])", r"\1", re.sub(r"\s{2,}", " ", body)).strip()
        out.sentences.append((body, ids))
    if not out.sentences:
        raise LLMFallback("empty answer")
    topic = content_words(question) & set().union(*words.values())
    if topic and not topic & set().union(*(content_words(s) for s, _ in out.sentences)):
        raise LLMFallback("the answer does not address the question")
    return out


# ---- the writer ------------------------------------------------------------------------------------
@dataclass
class Passage:
    number: int
    text: str
    title: str = ""
    kind: str = ""


class LLMWriter:
    """The two things the model may do, each with a deadline and a check."""

    def __init__(self, model: Any, timeout: float = 20.0, label: str | None = None):
        self.model = model
        self.timeout = timeout
        self.label = label or type(model).__name__

    def _invoke(self, system: str, user: str) -> str:
        messages = [("system", system), ("human", user)]
        try:
            reply = call_with_timeout(lambda: self.model.invoke(messages), self.timeout)
        except LLMFallback:
            raise
        except Exception as exc:  # any provider error: connection, auth, rate limit, bad request...
            raise LLMFallback(f"error: {type(exc).__name__}: {str(exc)[:200]}") from exc
        return message_text(reply)

    def rewrite(self, message: str, history: Sequence[tuple[str, str]], allowed: str = "",
                anchor: Sequence[str] = ()) -> str:
        """A standalone question for a follow-up. `history` holds (message, topic) of earlier turns; `allowed`
        is all the text the rewrite may draw its words from; it must name at least one of the `anchor` words
        (the topic it continues)."""
        lines = "\n".join(f"- {m}" + (f" (about: {t})" if t else "") for m, t in history) or "- (none)"
        text = self._invoke(prompt("rewrite_system"), render(prompt("rewrite_user"), history=lines, message=message))
        question = text.strip().splitlines()[0].strip().strip("\"'“”") if text.strip() else ""
        question = re.sub(r"^(?:standalone question|question)\s*:\s*", "", question, flags=re.I).strip()
        if not question:
            raise LLMFallback("rewrite: empty")
        if len(question) > MAX_QUESTION_CHARS:
            raise LLMFallback("rewrite: too long")
        if anchor and not set(tokenize(question)) & set(tokenize(" ".join(anchor))):
            raise LLMFallback("rewrite: lost the topic it continues")
        new = set(tokenize(question)) - set(tokenize(allowed))
        if len(new) > 3:
            raise LLMFallback(f"rewrite: added words from nowhere ({', '.join(sorted(new)[:5])})")
        return question

    def answer(self, question: str, passages: Sequence[Passage]) -> Verified:
        listed = "\n\n".join(
            f"[{p.number}] ({p.title}; {p.kind})\n{p.text}" if p.title else f"[{p.number}]\n{p.text}" for p in passages
        )
        text = self._invoke(prompt("answer_system"), render(prompt("answer_user"), question=question, passages=listed))
        return verify(text, {p.number: p.text for p in passages}, question)


# ---- the stages that may use the model -------------------------------------------------------------
def rewrite_follow_up(writer: LLMWriter, message: str, history: Sequence, res, vocab, general: frozenset[str]):
    """A follow-up rewritten by the model into a standalone question: (the resolution to use, the step when
    the model's rewrite was refused). The rules' resolution stays when the model fails, or when its question
    drops a drug the person named."""
    own_drugs = topic_words(message, vocab).drugs
    earlier = [(h.message, h.topic or "") for h in list(history)[-3:]]
    allowed = " ".join([message, res.query, *(f"{m} {t}" for m, t in earlier)])
    try:
        anchor = [w for w in " ".join([res.carried, *res.own]).split() if not set(tokenize(w)) <= general]
        question = writer.rewrite(message, earlier, allowed=allowed, anchor=anchor)
        lost = set(own_drugs) - {d.generic for d in vocab.find_drugs(question)}
        if lost:
            raise LLMFallback(f"rewrite: dropped {', '.join(sorted(lost))}")
        return replace(res, query=question, by="llm"), None
    except LLMFallback as exc:
        return res, LLMStep(task="rewrite", used=False, model=writer.label, fallback=exc.reason)


@dataclass
class Written:
    """The model's checked answer: body pieces with their markers renumbered, and the citations they keep."""

    body: list[str] | None = None
    shown: list | None = None
    fallback: str | None = None
    step: LLMStep | None = None


def write_answer(writer: LLMWriter | None, unavailable: str | None, configured: str | None, question: str,
                 citations: list) -> Written:
    """Let the model write the body from the cited passages; the extractive body stays unless it passes."""
    if writer is None:
        if not unavailable:
            return Written()
        return Written(fallback=unavailable,
                       step=LLMStep(task="answer", used=False, model=configured, fallback=unavailable))
    passages = [Passage(c.id, c.passage, c.title, c.kind) for c in citations]
    try:
        checked = writer.answer(question, passages)
    except LLMFallback as exc:
        return Written(fallback=exc.reason, step=LLMStep(task="answer", used=False, model=writer.label,
                                                         fallback=exc.reason))
    number = {old: new for new, old in enumerate(checked.cited(), start=1)}
    by_id = {c.id: c for c in citations}
    shown = [replace(by_id[old], id=new) for old, new in number.items()]
    body = [f"{s} " + " ".join(f"[{number[i]}]" for i in ids) for s, ids in checked.sentences]
    return Written(body=body, shown=shown, step=LLMStep(task="answer", used=True, model=writer.label,
                                                        sentences=len(body), citations=[c.chunk_id for c in shown]))
