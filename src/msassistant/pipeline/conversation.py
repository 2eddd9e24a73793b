"""Conversation: follow-up questions resolved against earlier turns.

No model is involved. A message is a follow-up when it leans on an earlier turn: a pronoun or a
definite reference with nothing of its own to point at ("What are its side effects?", "Did the study
look at walking?"), or an elliptic continuation ("and for progressive MS?", "Is water exercise an
option too?"). A follow-up borrows the topic of the earlier turns for retrieval; a message that names
its own topic, or says it changes the subject ("Separate question: ..."), never does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterable, Protocol, Sequence

from ..text import TOKEN as WORDS, fold_spaced as _fold, tokenize
from .steps import ResolveStep
from .vocabulary import Vocabulary


MAX_TOPIC_WORDS = 6
MAX_SHORT_WORDS = 8  # a question this short, with no topic of its own and no cue, still continues the last one
LOOKBACK = 3  # how many earlier turns may lend their topic

# Words that say what is asked about a topic (its risks, dose, results...) or that carry no topic at all.
# A message made only of these names no topic of its own.
NON_TOPIC = frozenset(tokenize(
    """ms multiple sclerosis help helps helped helping people person patient patients treatment treatments treat treated
    disease work works worked working symptom symptoms good best better worse worst option options choice choices
    side effect effects risk risks safe safety danger dangerous dose doses dosage often long much many far follow followed
    follow-up find found finding findings result results outcome outcomes study studies research researcher researchers
    trial trials review evidence compare compared comparison versus cost costs price take takes taking took give given
    use used using start started starting stop stopped stopping last lasted year years month months week weeks day days
    time times participant participants effective effectiveness success rate rates chance chances likely common normal
    serious mild severe option alternative alternatives approved available limitation limitations downside downsides
    problem problems issue issues question questions kind kinds type types way ways something anything everything other
    else new old same different first second next again term happen happens happened happening cause causes caused
    mean means meaning watch watching avoid expect ask careful monitor monitored monitoring check checked checking look looked looking see show showed shown say says said think tell told explain info information
    detail details okay ok yes thanks thank please hi hello hey sure right true wrong possible important worth need needs
    needed want wanted try tried trying go goes going make makes made come comes came keep kept able lot bit little
    more less improve improved improvement benefit benefits reduce reduced lower increase increased change changed
    changes difference apply applies affect affects affected interact interacts interaction interactions safe part whole long-term
    short-term anyone someone everyone body feel feeling feels like still ever already soon early late later usually
    generally typical typically exactly actually also too well either as any every each such own instead kind sort
    husband wife partner mom mum mother dad father son daughter child children kid kids friend family brother sister
    grandma grandpa grandmother grandfather aunt uncle loved care caring caregiver carer
    drug drugs medicine medicines medication medications med meds pill pills therapy therapies approach article paper"""
))

SWITCH = re.compile(
    r"\b(?:(?:separate|different|new|unrelated|other|another) (?:question|topic|subject|thing)"
    r"|unrelated|chang(?:e|ing) (?:of |the )?(?:subject|topic)"
    r"|on (?:another|a different|an unrelated) note|something (?:else|different) entirely)\b"
)
# A switch announced at the start of the message ("Separate question: ...") is not part of the question.
SWITCH_PREFIX = re.compile(
    r"^\s*(?:(?:ok(?:ay)?|also|and|but|now|so|one more thing)[\s,]+)?(?:a |an |on a |on an |on )?"
    r"(?:separate|different|new|unrelated|other|another)\s+(?:question|topic|subject|note|thing)\s*[:,.\-–—]+\s*",
    re.I,
)

IT = re.compile(r"\b(?:it|its|it's|itself)\b")
# "it" that points at nothing: "is it normal to ...", "it's hot out", "it's been two days".
EXPLETIVE_IT = re.compile(
    r"\bit(?:'s| is| was| will be| would be| could be| can be| gets| got)? ?(?:\w+ )?"
    r"(?:true|normal|common|possible|okay|ok|safe|wise|worth|likely|unlikely|hard|difficult|easy|bad|good|better|best|"
    r"dangerous|necessary|important|usual|unusual|typical|rare|wrong|right|fine)\s+(?:to|that|if|when|for \w+ to)\b"
    r"|\bit(?:'s| is| was| gets| got)\s+(?:\w+ )?(?:hot|cold|warm|humid|sunny|raining|snowing|late|early)\b"
    r"|\bit(?:'s| has) been\b|\bwhen it comes to\b|\bmake it to\b"
)
DEMONSTRATIVE = re.compile(
    r"\b(?:this|that|these|those|the same)\s+(?:drug|drugs|medicine|medicines|medication|medications|med|meds|"
    r"treatment|treatments|therapy|therapies|study|studies|trial|trials|research|review|paper|article|approach|"
    r"option|options|one|ones|pill|pills|injection|injections|infusion|infusions|shot|shots|result|results|"
    r"finding|findings|side effects?|exercise|exercises|program|programme|thing|stuff)\b"
)
BARE_THIS = re.compile(
    r"\b(?:is|does|did|was|were|can|could|will|would|should|about|of|for|with|on|from|take|taking|try|trying|use|"
    r"using|like|do|mean)\s+(?:this|that)(?=\s*(?:[?.!,;]|$)|\s+(?:help|helps|work|works|cause|causes|mean|safe|ok|"
    r"okay|normal|true|right|affect|affects|interact|make|makes|really|still|also|too|last|take|have|has|lead|reduce|"
    r"slow|improve|used|given|tested|common|serious|dangerous|during|in|for|with|apply|cost)\b)"
)
# "the study", "the drug"... that name nothing more precise after them.
DEFINITE = re.compile(
    r"\bthe\s+(?:drug|medicine|medication|med|treatment|therapy|study|trial|research|review|researchers|results|"
    r"findings|paper|article|pill|injection|infusion|exercise|exercises)\b"
    r"(?!\s+(?:on|of|about|for|in|with|called|named|that|which|by|from)\b)"
)
THEY = re.compile(r"\b(?:they|them|their|theirs)\b")
# a word that leans on what was said before: a short message with one, after an MS turn, is part of that talk
LEANS = re.compile(r"\b(?:it|its|they|them|their|those|these|that|this|he|she|him|his|her)\b")
# "they" doing what a treatment does ("can they cause...") rather than what doctors do ("what can they do").
THEY_TREATMENT = re.compile(
    r"\b(?:they|them)\s+(?:cause|help|work|interact|affect|reduce|slow|improve|prevent|lower|raise|increase|stop|"
    r"have|give|make|need|require|come|last|damage|hurt|harm|show|showed|find|found|follow|followed|test|tested|look|"
    r"looked|measure|measured|study|studied|compare|compared)\b"
    r"|\b(?:take|taking|took|try|trying|on|of|with|combine|mix|stop|stopping|start|starting)\s+them\b"
)
ELLIPSIS_STRONG = re.compile(
    r"^(?:and|but|or|plus|so)\s+(?:for|in|with|without|during|if|when|on|after|before|about|at|vs|versus|what about|"
    r"how about|the|its|their|also|in terms of)\b"
    r"|^(?:what|how)\s+about\b"
    r"|\b(?:too|as well|either|also)\s*[?.!]*\s*$"
)
ELLIPSIS_WEAK = re.compile(r"^(?:and|also|plus|what else|anything else|any other|so)\b")
MS_MENTION = re.compile(r"\b(?:ms|multiple sclerosis|sclerosis)\b")


class PriorTurn(Protocol):
    """What a resolution needs from an earlier turn (a row of the turn log)."""

    message: str
    resolved_query: str
    topic: str
    category: str
    citations: list  # [{"source", "title", ...}] of its answer, best first


@dataclass
class Resolution:
    query: str  # the question as it is searched for: standalone, the earlier topic added when it continues one
    topic: str  # what this turn is about (drug, therapy, subject words), stored on the turn
    follow_up: bool = False
    cue: str | None = None  # why it is (or is not) a follow-up
    carried: str = ""  # the earlier topic brought into the query
    own: list[str] = field(default_factory=list)  # topic words the message names itself
    by: str = "rules"
    sources: list[str] = field(default_factory=list)  # the documents the earlier answer cited, when it refers to one
    # a short message in a conversation about MS (an earlier turn was in scope), read as part of it by scope
    in_conversation: bool = False

    def step(self) -> ResolveStep:
        return ResolveStep(follow_up=self.follow_up, cue=self.cue, carried=self.carried, topic=self.topic,
                           query=self.query, by=self.by, sources=self.sources or None)


@dataclass
class TopicWords:
    words: list[str]  # in message order, drugs by their generic name
    drugs: list[str]
    first_at: int | None  # character offset of the first topic word, for "which came first, the topic or 'it'?"


def topic_words(text: str, vocab: Vocabulary, known: Callable[[str], bool] | None = None) -> TopicWords:
    """The words of a message that name what it is about: drugs (by generic name) and any other content word
    that is not a question word, a generic MS word or an aspect (side effects, dose, results...). With
    `known`, only words the library uses count: "are there precautions with it?" names nothing of its own."""
    folded = _fold(vocab.correct(text))
    drugs = vocab.find_drugs(folded)
    drug_tokens: set[str] = set()
    positions: list[tuple[int, str]] = []
    for drug in drugs:
        for name in drug.names:
            for m in re.finditer(rf"(?<![a-z]){re.escape(name)}(?![a-z])", folded):
                positions.append((m.start(), drug.generic))
                drug_tokens.update(WORDS.findall(name))
    for drug in drugs:  # matched only by a near spelling
        if not any(g == drug.generic for _, g in positions):
            positions.append((len(folded), drug.generic))
            drug_tokens.update(WORDS.findall(" ".join(drug.names)))
    for m in WORDS.finditer(folded):
        word = m.group(0)
        if word in drug_tokens or len(word) < 3 or word.isdigit():
            continue
        stems = tokenize(word)
        if stems and all(s not in NON_TOPIC for s in stems) and (known is None or known(word)):
            positions.append((m.start(), word))
    positions.sort()
    words = list(dict.fromkeys(w for _, w in positions))
    return TopicWords(words=words, drugs=[d.generic for d in drugs], first_at=positions[0][0] if positions else None)


def _cap(words: Iterable[str], limit: int = MAX_TOPIC_WORDS) -> list[str]:
    out: list[str] = []
    for w in words:
        for part in w.split():
            if part not in out:
                out.append(part)
    return out[-limit:] if len(out) > limit else out


def _join(words: Iterable[str]) -> str:
    return " ".join(_cap(words))


def _aspect(message: str) -> list[str]:
    """What an earlier message asked about its topic (its side effects, its dose...): carried over when the
    next message swaps the topic but keeps the question ("What about fingolimod?")."""
    keep = tokenize("side effects risks dose dosage interact interactions cost results limitations relapses "
                    "disability walking monitoring tests given often long work")
    return list(dict.fromkeys(w for w in WORDS.findall(_fold(message)) if tokenize(w) and tokenize(w)[0] in keep))


def strip_switch(message: str) -> str:
    return SWITCH_PREFIX.sub("", message, count=1).strip() or message.strip()


def previous_topic(history: Sequence[PriorTurn]) -> PriorTurn | None:
    """The most recent of the last few turns that had a topic."""
    for prior in list(history)[::-1][:LOOKBACK]:
        if (prior.topic or "").strip():
            return prior
    return None


def cited_sources(prior: PriorTurn, limit: int = 2) -> list[str]:
    """The documents an earlier answer rested on, its first citations first."""
    out: list[str] = []
    for c in getattr(prior, "citations", None) or []:
        source = c.get("source") if isinstance(c, dict) else None
        if source and source not in out:
            out.append(source)
    return out[:limit]


def resolve(message: str, history: Sequence[PriorTurn], vocab: Vocabulary,
            known: Callable[[str], bool] | None = None) -> Resolution:
    """Decide whether `message` continues an earlier turn and, if so, what to search for. `known(word)`:
    whether the library uses a word (a word it never uses names no topic the library could answer about)."""
    switched = SWITCH.search(_fold(message))
    if switched:
        message = strip_switch(message)
    folded = _fold(message)
    own = topic_words(message, vocab, known)
    mentions_ms = bool(MS_MENTION.search(folded))
    own_topic = _join(own.words) or ("MS" if mentions_ms else "")
    standalone = Resolution(query=message.strip(), topic=own_topic, own=own.words)
    if switched:
        standalone.cue = "switch"
        return standalone
    prior = previous_topic(history)
    if prior is None:
        return standalone
    standalone.in_conversation = (prior.category != "out_of_scope" and len(WORDS.findall(folded)) <= MAX_SHORT_WORDS
                                  and bool(LEANS.search(folded)))

    def before_own(m: re.Match | None) -> bool:
        """A pronoun is the earlier topic's stand-in unless the message named a topic before it."""
        return m is not None and (own.first_at is None or m.start() < own.first_at)

    it = next((m for m in IT.finditer(folded) if not _inside(m, EXPLETIVE_IT, folded)), None)
    cue = None
    kind = None
    if before_own(it):
        cue, kind = f"anaphora:{it.group(0)}", "refer"
    elif (m := DEMONSTRATIVE.search(folded)) and before_own(m):
        cue, kind = f"anaphora:{m.group(0)}", "refer"
    elif (m := BARE_THIS.search(folded)) and before_own(m):
        cue, kind = f"anaphora:{m.group(0).split()[-1]}", "refer"
    elif (m := THEY_TREATMENT.search(folded)) and before_own(m):
        cue, kind = f"anaphora:{m.group(0)}", "refer"
    elif (m := DEFINITE.search(folded)) and not own.drugs:
        cue, kind = f"reference:{m.group(0)}", "refer"
    elif m := ELLIPSIS_STRONG.search(folded):
        cue, kind = f"ellipsis:{m.group(0).strip(' ?.!')}", "ellipsis"
    elif (m := THEY.search(folded)) and before_own(m) and not own.drugs \
            and len(WORDS.findall(folded)) <= MAX_SHORT_WORDS:  # "who are they meant for?", "what do they offer?"
        cue, kind = f"anaphora:{m.group(0)}", "refer"
    elif not own.words and THEY.search(folded):  # "which type of MS were they looking at?"
        cue, kind = "anaphora:they", "refer"
    elif not own.words and not mentions_ms:
        if m := ELLIPSIS_WEAK.search(folded):
            cue, kind = f"ellipsis:{m.group(0)}", "ellipsis"
        elif len(WORDS.findall(folded)) <= MAX_SHORT_WORDS:
            cue, kind = "short, no topic of its own", "refer"
    if kind is None:
        standalone.cue = "own topic" if own.words or mentions_ms else "no cue"
        return standalone

    carried = prior.topic.strip()
    if kind == "ellipsis" and own.drugs and not set(own.drugs) & set(topic_words(carried, vocab).drugs):
        # the question stays, the drug changes: "What are its side effects?" → "What about fingolimod?"
        aspect = _aspect(prior.message)
        query = " ".join([message.strip(), *aspect])
        return Resolution(query=query, topic=own_topic, follow_up=True, cue=f"{cue} (new drug)",
                          carried=" ".join(aspect), own=own.words)
    # the turn is about the earlier topic and whatever it names itself ("it's about remyelination therapy, what
    # is that?"), and the next turn may lean on either
    topic = _join([carried, *own.words])
    return Resolution(query=f"{message.strip()} {carried}", topic=topic, follow_up=True, cue=cue,
                      carried=carried, own=own.words, sources=cited_sources(prior) if kind == "refer" else [])


def _inside(match: re.Match, pattern: re.Pattern, text: str) -> bool:
    return any(m.start() <= match.start() < m.end() for m in pattern.finditer(text))
