"""Citation integrity: every [n] resolves, every passage is an indexed chunk, every sentence is in its passage."""

import re

import pytest

from msassistant.pipeline.vocabulary import vocabulary

QUESTIONS = [
    "What side effects did people get from ITMTX?",
    "Is azathioprine better than interferon beta at preventing relapses?",
    "What did researchers find about iron in the thalamus?",
    "What is remyelination therapy and how does it work?",
    "Can vitamin D or omega-3 supplements help with MS?",
    "Heat makes my symptoms worse. What can I do about it?",
    "What helps with depression or memory problems in MS?",
    "Which blood tests are done while on MS treatment?",
    "What does the EDSS score measure?",
    "How often should I have neurological check-ups and MRI scans?",
]


@pytest.fixture(scope="module")
def indexed(assistant):
    return {c.id: c.page_content for c in assistant.index.all_chunks()}


@pytest.mark.parametrize("question", QUESTIONS)
def test_citations_are_exact_and_complete(assistant, indexed, question):
    reply = assistant.reply(question)
    assert reply.category == "answer"
    ids = [c.id for c in reply.citations]
    assert ids == list(range(1, len(ids) + 1))
    markers = {int(m) for m in re.findall(r"\[(\d+)\]", reply.answer)}
    assert markers == set(ids)  # every marker resolves, every citation is used
    for c in reply.citations:
        assert c.passage in indexed.values()
        assert c.kind and c.credibility and c.title and c.source.endswith(".txt")
    body = reply.answer.split(reply.safety.care_team)[0]
    glosses = [e["gloss"] for e in vocabulary().terms.values() if e.get("gloss")]
    cited_sentences = 0
    for paragraph in body.split("\n\n"):  # the answer is shown piece by piece
        paragraph = paragraph.strip()
        if not paragraph:
            continue
        if not re.search(r"\[\d+\]$", paragraph):
            # not cited: a source's lead, a notice or the promotional caution, all written by code
            assert paragraph.endswith((":", ".")) and len(paragraph) < 400, paragraph
            continue
        for sentence, n in re.findall(r"(.+?) \[(\d+)\](?:\s+|$)", paragraph):
            passage = " ".join(reply.citations[int(n) - 1].passage.split())
            own = sentence
            for g in glosses:  # a gloss is the vocabulary's explanation of the word before it
                own = own.replace(f" ({g})", "")
            stem = own[:-1] if own.endswith(".") else own
            rest = stem[len("This means "):] if stem.startswith("This means ") else None  # a split at ", which means"
            assert (stem in passage or (stem[0].lower() + stem[1:]) in passage
                    or (rest and (f", which means {rest}" in passage or f", meaning {rest}" in passage))), (sentence, passage)
            cited_sentences += 1
    assert cited_sentences >= len(reply.citations)


def test_each_source_is_introduced_by_what_it_is(assistant):
    reply = assistant.reply("What side effects do interferon beta injections cause?")
    paragraphs = reply.answer.split("\n\n")
    first_cited = next(i for i, p in enumerate(paragraphs) if re.search(r"\[\d+\]$", p.strip()))
    assert paragraphs[first_cited - 1].endswith(":")  # "The treatment guide says:" and the like
    assert any(p.startswith(("The treatment guide says", "A ")) for p in paragraphs[:first_cited])


def test_answers_never_repeat_a_question_as_a_claim(assistant):
    reply = assistant.reply("How can lifestyle adjustments slow disease progression?")
    body = reply.answer.split(reply.safety.care_team)[0]
    assert not re.search(r"\? \[\d+\]", body)
