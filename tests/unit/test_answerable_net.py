"""The learned answerability net: its signals, its arithmetic, its model file and its training, on the fake
embedder (the shipped model's decisions on MiniLM are checked in tests/integration)."""

import json

import numpy as np
import pytest

from msassistant.evaluate.answerable import choose_threshold, feature_rows, train
from msassistant.pipeline import answerable_net as net
from msassistant.pipeline.scope import generic


def test_words_the_library_never_uses_weigh_against_it(assistant):
    search = assistant.search
    texts = [d.page_content for d in search.chunks[:5]]
    _, _, unknown_known, _ = net.word_signals(net.asked_words("what about azathioprine and relapses?", [], generic()), texts, search)
    _, _, unknown_foreign, _ = net.word_signals(net.asked_words("what about shingrix and teriflunomide?", [], generic()), texts, search)
    assert unknown_known == 0.0
    assert unknown_foreign == pytest.approx(1.0)


def test_one_passage_holding_every_asked_word_scores_higher_than_words_spread_over_many(assistant):
    search = assistant.search
    passages = ["Azathioprine lowered the relapse rate.", "Interferon was compared in trials."]
    one, every, _, n = net.word_signals(net.asked_words("azathioprine relapse interferon?", [], generic()), passages, search)
    assert n == 3 and every == pytest.approx(1.0) and one < every


def test_a_question_with_only_generic_words_reads_as_fully_held(assistant):
    assert net.word_signals(net.asked_words("what can help?", [], generic()), [], assistant.search)[:3] == (1.0, 1.0, 0.0)


def test_a_brand_name_is_read_as_the_librarys_name_for_the_drug():
    from msassistant.pipeline.vocabulary import vocabulary

    drugs = vocabulary().find_drugs("copaxone side effects?")
    words = net.asked_words("copaxone side effects?", drugs, generic())
    assert "copaxon" not in words and any(w.startswith("glatiram") for w in words)


def test_nearest_averages_each_side():
    sims = np.asarray([0.9, 0.8, 0.1, 0.5, 0.4], dtype=np.float32)
    covered = np.asarray([True, True, True, False, False])
    c, u = net.nearest(sims, covered)
    assert c == pytest.approx(0.6) and u == pytest.approx(0.45)


def _net(dim=4, threshold=0.5):
    k = len(net.FEATURES)
    return net.AnswerableNet(np.zeros(k, np.float32), np.ones(k, np.float32), np.eye(k, dtype=np.float32)[0],
                             0.0, threshold, np.eye(dim, dtype=np.float32), np.asarray([True, True, False, False]),
                             "fake", "abc")


def test_the_probability_follows_the_weights():
    model = _net()
    values = {f: 0.0 for f in net.FEATURES if f not in ("near_covered", "near_uncovered", "near_margin")}
    high = net.Signals(dict(values, sentence_best=2.0), np.asarray([1, 0, 0, 0], np.float32))
    low = net.Signals(dict(values, sentence_best=-2.0), np.asarray([1, 0, 0, 0], np.float32))
    p_high, features = model.probability(high)
    p_low, _ = model.probability(low)
    assert p_high > 0.85 > 0.15 > p_low
    assert features["near_covered"] == pytest.approx(0.5) and features["near_uncovered"] == 0.0


def test_the_model_file_round_trips_and_refuses_another_labelled_set_or_embedder(tmp_path):
    model = _net()
    file = tmp_path / "model.json"
    file.write_text(json.dumps(model.to_dict()))
    again = net.AnswerableNet.load("fake", file, expected_hash="abc")
    assert np.allclose(again.examples, model.examples) and list(again.covered) == list(model.covered)
    with pytest.raises(net.StaleAnswerableModel, match="another version"):
        net.AnswerableNet.load("fake", file, expected_hash="other")
    with pytest.raises(net.StaleAnswerableModel, match="embedding model"):
        net.AnswerableNet.load("minilm", file, expected_hash="abc")
    file.write_text("{not json")
    with pytest.raises(net.StaleAnswerableModel, match="cannot be read"):
        net.AnswerableNet.load("fake", file, expected_hash="abc")
    with pytest.raises(net.StaleAnswerableModel, match="no learned"):
        net.AnswerableNet.load("fake", tmp_path / "missing.json")


def test_a_bad_labelled_row_is_named(tmp_path):
    file = tmp_path / "train.jsonl"
    file.write_text('{"text": "fine", "label": "covered"}\n{"text": "what", "label": "maybe"}\n')
    with pytest.raises(ValueError, match="train.jsonl:2"):
        net.read_labelled(file)


def test_the_threshold_is_the_one_that_best_separates():
    probs = np.asarray([0.9, 0.8, 0.7, 0.3, 0.2, 0.1])
    y = np.asarray([1, 1, 1, 0, 0, 0])
    t, balanced = choose_threshold(probs, y)
    assert 0.3 < t <= 0.7 and balanced == 1.0


def test_a_row_never_counts_itself_or_its_near_copies_as_a_neighbour():
    v = np.asarray([[1, 0], [1, 0], [0.6, 0.8]], dtype=np.float32)
    measured = [net.Signals({f: 0.0 for f in net.FEATURES}, row) for row in v]
    rows = feature_rows(measured, np.asarray([True, False, True]))
    near_covered, near_uncovered = net.FEATURES.index("near_covered"), net.FEATURES.index("near_uncovered")
    assert rows[0][near_covered] == pytest.approx(0.6)  # row 2
    assert rows[0][near_uncovered] == 0.0  # row 1 is a copy of row 0: not a neighbour
    assert rows[2][near_uncovered] == pytest.approx(0.6)


def test_training_writes_a_model_that_separates_its_own_labelled_set(assistant, tmp_path):
    library = [d.page_content for d in assistant.search.chunks]
    covered = [f"what does the guide say about {w}?" for w in
               ("azathioprine relapses", "interferon side effects", "thalamus iron", "methotrexate intrathecal",
                "remyelination trial", "physiotherapy balance", "occupational therapy hands", "fatigue exercise",
                "stress yoga", "support groups")]
    uncovered = [f"what does it cost to get {w}?" for w in
                 ("shingrix jabs", "teriflunomide abroad", "a wheelchair ramp", "private dentistry", "hip surgery",
                  "laser eye surgery", "hearing aids", "tattoo removal", "braces", "contact lenses")]
    assert library
    file = tmp_path / "train.jsonl"
    file.write_text("".join(json.dumps({"text": t, "label": lab}) + "\n"
                            for lab, items in (("covered", covered), ("uncovered", uncovered)) for t in items))
    out = tmp_path / "model.json"
    report = train(assistant, out=out, progress=False, train_file=file)
    model = net.AnswerableNet.load(assistant.embeddings.label, out, expected_hash=net.labelled_set_hash(file))
    assert model.covered.sum() == 10 and len(model.covered) == 20
    assert float(report["out_of_fold"]["covered_answered"].split("%")[0]) >= 70
    assert float(report["out_of_fold"]["uncovered_declined"].split("%")[0]) >= 70
