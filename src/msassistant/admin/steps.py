"""How the review console shows the steps of a turn: a readable title and a few labelled fields for each step.

Every logged turn keeps `steps`, one record per stage of the pipeline, e.g. {"step": "triage", "level": "urgent",
"rule": "vision_loss_or_double_vision"}. Staff read them here in words, e.g. "Triage: urgent — vision loss or double
vision"; the raw records stay on the page one click away.

Turns logged by older or newer versions of the assistant are shown too: a step of a kind not described here, or a
field not described here, is shown field by field, and a malformed row (not a record, no "step" name, a field of an
unexpected type) is shown as it is. Nothing in a logged turn can stop the conversation page from showing.

All wording staff see is in TITLES (step titles and follow-up cues) and LABELS (field names), to change in one place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

# Step titles. {placeholders} are filled in by the describer of each kind; counts come with their noun
# ("3 sentences", "1 passage").
TITLES = {
    "triage.flag": "Triage: {level} — {rule}",
    "triage.flag_no_rule": "Triage: {level} (no rule recorded)",
    "triage.none": "Triage: no red flag",
    "triage.overruled": "Triage: no red flag — rule {rule} explained away by the learned net (ordinary: {ordinary})",
    "resolve.carried": "Follow-up: yes, carried '{carried}'",
    "resolve.yes": "Follow-up: yes",
    "resolve.no": "Follow-up: no",
    "resolve.cue": "{title} ({cue})",
    "cue.anaphora": "pronoun '{word}'",
    "cue.reference": "refers back with '{word}'",
    "cue.ellipsis": "continues the last question with '{word}'",
    "cue.new_drug": "{cue}, new drug",
    "cue.switch": "the person changed the subject",
    "cue.own topic": "names its own topic",
    "cue.no cue": "nothing refers back",
    "cue.short, no topic of its own": "short, with no topic of its own",
    "llm.answer.used": "The model wrote the answer: {sentences} from {passages}",
    "llm.answer.fallback": "The model's answer was not used: the answer is the one built from the passages",
    "llm.rewrite.used": "The model rewrote the follow-up question",
    "llm.rewrite.fallback": "The model's rewrite was not used: the follow-up question is searched as the rules built it",
    "llm.other": "The model ({task}): {outcome}",
    "llm.used": "used",
    "llm.not_used": "not used",
    "scope.out_of_scope": "Scope: out of scope — {reason}",
    "scope.out_of_scope_no_reason": "Scope: out of scope",
    "scope.no_coverage": "Scope: no coverage — {details}",
    "scope.no_coverage_no_details": "Scope: no coverage",
    "scope.missing_drugs": "nothing in the library on {drugs}",
    "scope.unknown_words": "unknown words {words}",
    "scope.missing_aspects": "asks about {aspects}, which no passage found holds",
    "scope.answerable": "the learned net gives {p:.0%} that the library answers it",
    "scope.personal_decision": "Scope: a personal decision — the answer says the care team decides this with them",
    "scope.other": "Scope: {decision}",
    "expand.added": "Expanded the search with {added}",
    "expand.none": "Searched as written: no words added",
    "retrieve": "Retrieved {passages} ({mode}), best similarity {similarity}",
    "retrieve.no_similarity": "Retrieved {passages} ({mode})",
    "retrieve.unknown_count": "Retrieved passages ({mode}), best similarity {similarity}",
    "retrieve.bare": "Retrieved passages ({mode})",
    "focus": "Chose sentences from {passages} about the earlier topic (its words count {weight} of their weight)",
    "compose": "Composed {sentences} from {passages}",
    "compose.none": "Composed nothing: no sentence of the passages answered the question",
    "follow_ups": "Suggested next questions: {questions}",
    "follow_ups.none": "No next questions suggested",
    "review_loop.served_reviewed": "Review loop: served the clinic's reviewed answer #{id} (similarity {similarity})",
    "review_loop.blocked_unsafe": "Review loop: this answer repeated one marked unsafe (#{id}), so the reply says the library cannot answer",
    "review_loop.flagged_passages": "Review loop: flagged passages left out ({excluded}) or cited with the clinic's note ({annotated})",
    "other": "Step: {kind}",
    "malformed": "Step: {kind} (recorded in a form this console does not read; its fields follow)",
    "unnamed": "Step without a name",
    "unreadable": "Unreadable step",
}

# Field names. A field not listed here is shown by its own name, underscores turned into spaces.
LABELS = {
    "level": "Level", "rule": "Rule id", "follow_up": "Follow-up", "cue": "Cue", "carried": "Carried topic",
    "topic": "Topic", "query": "Query searched", "by": "Question built by", "task": "Task", "used": "Used",
    "model": "Model", "fallback": "Why not used", "sentences": "Sentences", "citations": "Passages cited",
    "decision": "Decision", "reason": "Reason", "missing_drugs": "Drugs not in the library",
    "unknown_words": "Words not in the library", "added": "Words added", "drugs": "Drugs named",
    "mode": "Search mode", "top_similarity": "Best similarity", "hits": "Passages found (score)",
    "topic_weight": "Weight of the topic's words", "passages": "Passages about the topic",
    "suggested": "Questions suggested", "value": "Value",
    "demoted": "Promotional passages placed after better sources", "missing_aspects": "Asked, not in the library",
    "cues": "Look-alike cues", "clause": "Read as the red flag", "ordinary": "Read as ordinary (lowest part)",
}

MAX_ITEMS = 8  # a longer list shows its first items, then "and N more"
MAX_CHARS = 600  # a longer value is cut, ending with "…"


@dataclass(frozen=True)
class StepView:
    """One step as staff see it: what happened, in words, and a few labelled details."""

    kind: str  # the stage's name as logged ("triage", "retrieve", …); "" when the step has none
    title: str
    fields: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class TurnSteps:
    """What the conversation page shows of one turn's steps: the readable items, and the raw JSON behind them."""

    views: list[StepView]
    raw: str

    @classmethod
    def of(cls, steps: Any) -> "TurnSteps":
        return cls(describe(steps), raw_json(steps))


def describe(steps: Any) -> list[StepView]:
    """The display items of one turn's logged steps, in order. Accepts anything a turn's log may hold."""
    if steps is None:
        return []
    if isinstance(steps, dict) or not isinstance(steps, (list, tuple)):
        steps = [steps]
    return [describe_step(step) for step in steps]


def describe_step(step: Any) -> StepView:
    if not isinstance(step, dict):
        return StepView("", TITLES["unreadable"], ((LABELS["value"], value_text(step)),))
    kind = step.get("step")
    describer = DESCRIBERS.get(kind) if isinstance(kind, str) else None
    if describer is not None:
        try:
            title, fields, shown = describer(step)
            rest = [(label_of(k), value_text(v)) for k, v in step.items() if k != "step" and k not in shown]
            return StepView(kind, title, tuple(fields) + tuple(rest))
        except Exception:  # a field of an unexpected type: show the step field by field instead
            title = TITLES["malformed"].format(kind=kind)
            return StepView(kind, title, tuple((label_of(k), value_text(v)) for k, v in step.items() if k != "step"))
    if kind is None or kind == "":
        title = TITLES["unnamed"]
    else:
        title = TITLES["other"].format(kind=_cut(readable(str(kind)), 120))
    fields = tuple((label_of(k), value_text(v)) for k, v in step.items() if k != "step")
    return StepView(str(kind) if kind is not None else "", title, fields)


def raw_json(steps: Any) -> str:
    """The logged steps as indented JSON, for the raw view."""
    return json.dumps(steps if steps is not None else [], indent=2, ensure_ascii=False, default=str)


# ---- wording helpers ---------------------------------------------------------------------------------------------
def readable(name: str) -> str:
    """A rule or field id in words: "vision_loss_or_double_vision" → "vision loss or double vision"."""
    return " ".join(name.replace("_", " ").replace("-", " ").split())


def label_of(key: Any) -> str:
    if key in LABELS:
        return LABELS[key]
    text = readable(str(key)) or str(key)
    return _cut(text[:1].upper() + text[1:], 120)


def value_text(value: Any) -> str:
    return _cut(_value(value), MAX_CHARS)


def _value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        if not value:
            return "none"
        items = [_value(v) for v in value[:MAX_ITEMS]]
        more = f"; and {len(value) - MAX_ITEMS} more" if len(value) > MAX_ITEMS else ""
        return "; ".join(items) + more
    if isinstance(value, dict):
        return ", ".join(f"{label_of(k).lower()} {_value(v)}" for k, v in value.items()) or "none"
    return str(value)


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _number(value: Any) -> int:
    """A logged count, or the length of a logged list."""
    if isinstance(value, bool):
        raise TypeError("not a count")
    if isinstance(value, int):
        return value
    if isinstance(value, (list, tuple)):
        return len(value)
    raise TypeError("not a count")


def _quoted(values: Any) -> str:
    if isinstance(values, str):
        values = [values]
    items = [f"'{v}'" for v in list(values)[:MAX_ITEMS]]
    if len(values) > MAX_ITEMS:
        items.append(f"and {len(values) - MAX_ITEMS} more")
    return ", ".join(items)


def _similarity(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("not a similarity")
    return f"{value:.2f}"


def _cue(cue: Any) -> str:
    """Why a question was taken as a follow-up, in words: "anaphora:its" → "pronoun 'its'"."""
    if not isinstance(cue, str) or not cue:
        return ""
    new_drug = cue.endswith(" (new drug)")
    if new_drug:
        cue = cue[: -len(" (new drug)")]
    kind, sep, word = cue.partition(":")
    if sep and f"cue.{kind}" in TITLES:
        text = TITLES[f"cue.{kind}"].format(word=word)
    else:
        text = TITLES.get(f"cue.{cue}", cue)
    return TITLES["cue.new_drug"].format(cue=text) if new_drug else text


# ---- one describer per kind: (title, labelled fields, the keys they cover) -----------------------------------------
Described = tuple[str, list[tuple[str, str]], set[str]]


def _triage(s: dict) -> Described:
    level, rule = s.get("level"), s.get("rule")
    fields = [(LABELS["rule"], str(rule))] if rule else []
    if not level and s.get("overruled"):
        title = TITLES["triage.overruled"].format(rule=readable(str(s["overruled"])), ordinary=s.get("ordinary"))
        return title, fields, {"level", "rule", "overruled", "ordinary"}
    if not level:
        return TITLES["triage.none"], fields, {"level", "rule"}
    if rule:
        return TITLES["triage.flag"].format(level=level, rule=readable(str(rule))), fields, {"level", "rule"}
    return TITLES["triage.flag_no_rule"].format(level=level), fields, {"level", "rule"}


def _resolve(s: dict) -> Described:
    carried = s.get("carried") or ""
    if s.get("follow_up"):
        title = TITLES["resolve.carried"].format(carried=carried) if carried else TITLES["resolve.yes"]
    else:
        title = TITLES["resolve.no"]
    cue = _cue(s.get("cue"))
    if cue:
        title = TITLES["resolve.cue"].format(title=title, cue=cue)
    fields = [(LABELS[k], value_text(s[k])) for k in ("query", "topic", "by") if s.get(k)]
    return title, fields, {"follow_up", "carried", "cue", "query", "topic", "by"}


def _llm(s: dict) -> Described:
    task, used = s.get("task"), bool(s.get("used"))
    fields = [(LABELS[k], value_text(s[k])) for k in ("model", "fallback") if s.get(k)]
    shown = {"task", "used", "model", "fallback"}
    if task == "answer" and used:
        title = TITLES["llm.answer.used"].format(sentences=_count(_number(s.get("sentences")), "sentence"),
                                                 passages=_count(_number(s.get("citations")), "passage"))
        fields.append((LABELS["citations"], value_text(s.get("citations"))))
        shown |= {"sentences", "citations"}
    elif task in ("answer", "rewrite"):
        title = TITLES[f"llm.{task}.{'used' if used else 'fallback'}"]
    else:
        title = TITLES["llm.other"].format(task=task or "no task recorded",
                                           outcome=TITLES["llm.used" if used else "llm.not_used"])
    return title, fields, shown


def _scope(s: dict) -> Described:
    decision = s.get("decision")
    if decision == "out_of_scope":
        reason = s.get("reason")
        title = TITLES["scope.out_of_scope"].format(reason=reason) if reason else TITLES["scope.out_of_scope_no_reason"]
        return title, [], {"decision", "reason"}
    if decision == "no_coverage":
        details = []
        if s.get("missing_drugs"):
            details.append(TITLES["scope.missing_drugs"].format(drugs=", ".join(map(str, s["missing_drugs"]))))
        if s.get("unknown_words"):
            details.append(TITLES["scope.unknown_words"].format(words=_quoted(s["unknown_words"])))
        if s.get("missing_aspects"):
            details.append(TITLES["scope.missing_aspects"].format(
                aspects=" and ".join(readable(str(a)) for a in s["missing_aspects"])))
        if isinstance(s.get("answerable"), (int, float)):
            details.append(TITLES["scope.answerable"].format(p=float(s["answerable"])))
        title = (TITLES["scope.no_coverage"].format(details="; ".join(details)) if details
                 else TITLES["scope.no_coverage_no_details"])
        return title, [], {"decision", "missing_drugs", "unknown_words", "missing_aspects", "answerable"}
    if decision == "personal_decision":
        return TITLES["scope.personal_decision"], [], {"decision"}
    return TITLES["scope.other"].format(decision=readable(str(decision or "none recorded"))), [], {"decision"}


def _expand(s: dict) -> Described:
    added = s.get("added") or []
    title = TITLES["expand.added"].format(added=_quoted(added)) if added else TITLES["expand.none"]
    fields = [(LABELS["drugs"], value_text(s["drugs"]))] if s.get("drugs") else []
    return title, fields, {"added", "drugs"}


def _retrieve(s: dict) -> Described:
    mode, hits = s.get("mode") or "mode not recorded", s.get("hits")
    similarity = _similarity(s["top_similarity"]) if s.get("top_similarity") is not None else None
    fields: list[tuple[str, str]] = []
    if hits is None:
        title = (TITLES["retrieve.unknown_count"].format(mode=mode, similarity=similarity) if similarity is not None
                 else TITLES["retrieve.bare"].format(mode=mode))
    else:
        key = "retrieve" if similarity is not None else "retrieve.no_similarity"
        title = TITLES[key].format(passages=_count(_number(hits), "passage"), mode=mode, similarity=similarity)
        fields.append((LABELS["hits"], value_text([_hit(h) for h in hits])))
    if s.get("demoted"):
        fields.append((LABELS["demoted"], value_text(s["demoted"])))
    return title, fields, {"mode", "top_similarity", "hits", "demoted"}


def _hit(hit: Any) -> str:
    if isinstance(hit, dict) and "id" in hit:
        score = hit.get("score")
        return f"{hit['id']} ({_value(score)})" if score is not None else str(hit["id"])
    return _value(hit)


def _focus(s: dict) -> Described:
    passages = s.get("passages") or []
    title = TITLES["focus"].format(passages=_count(_number(passages), "passage"), weight=_value(s.get("topic_weight")))
    return title, [(LABELS["passages"], value_text(passages))] if passages else [], {"topic_weight", "passages"}


def _compose(s: dict) -> Described:
    sentences, citations = _number(s.get("sentences", 0)), s.get("citations") or []
    if not sentences:
        return TITLES["compose.none"], [], {"sentences", "citations"}
    title = TITLES["compose"].format(sentences=_count(sentences, "sentence"),
                                     passages=_count(_number(citations), "passage"))
    return title, [(LABELS["citations"], value_text(citations))] if citations else [], {"sentences", "citations"}


def _follow_ups(s: dict) -> Described:
    suggested = s.get("suggested") or []
    if isinstance(suggested, str):
        suggested = [suggested]
    if not suggested:
        return TITLES["follow_ups.none"], [], {"suggested"}
    return TITLES["follow_ups"].format(questions=_cut(" · ".join(map(str, suggested)), MAX_CHARS)), [], {"suggested"}


def _review_loop(s: dict) -> Described:
    action = s.get("action")
    if action == "served_reviewed":
        return TITLES["review_loop.served_reviewed"].format(id=s.get("reviewed_id"), similarity=s.get("similarity")), [], \
            {"action", "reviewed_id", "similarity"}
    if action == "blocked_unsafe":
        return TITLES["review_loop.blocked_unsafe"].format(id=s.get("blocked_id")), [], {"action", "blocked_id"}
    return TITLES["review_loop.flagged_passages"].format(excluded=value_text(s.get("excluded")),
                                                          annotated=value_text(s.get("annotated"))), [], \
        {"action", "excluded", "annotated"}


DESCRIBERS: dict[str, Callable[[dict], Described]] = {
    "triage": _triage, "resolve": _resolve, "llm": _llm, "scope": _scope, "expand": _expand,
    "retrieve": _retrieve, "focus": _focus, "compose": _compose, "follow_ups": _follow_ups,
    "review_loop": _review_loop,
}
