"""The search snapshot's files: plain JSON and arrays, named by generation ids only, pruned without touching
a newer generation (loading, rebuilding and staleness over a real index: tests/integration/test_snapshot.py)."""

import json

import numpy as np

from msassistant.index import snapshot


def test_snapshot_holds_only_json_and_plain_arrays(assistant):
    folder = assistant.index.snapshot_path / assistant.search.generation
    files = [p for p in folder.rglob("*") if p.is_file()]
    assert files and {p.suffix for p in files} <= {".json", ".npy"}
    for path in files:
        if path.suffix == ".npy":
            np.load(path, allow_pickle=False)
        else:
            json.loads(path.read_text(encoding="utf-8"))


def test_generation_is_an_id_never_a_path(tmp_path):
    for bad in ["../../etc", "", "0" * 31, "G" * 32, None, 42]:
        assert not snapshot.valid_generation(bad)
        assert snapshot.read_manifest(tmp_path, bad, "m") is None
    state = snapshot.SearchState("../escape", "m", [], [], [], {}, {})
    assert snapshot.save(state, tmp_path) is None and not list(tmp_path.iterdir())


def test_pruning_keeps_the_current_generation_and_young_leftovers(tmp_path):
    import os
    import time

    def state(generation):
        return snapshot.SearchState(generation, "m", ["a#0"], ["text"], [{"source": "a", "chunk": 0, "doc_hash": "h"}],
                                    {"text": 1}, {"text": "text"})

    old, new = "a" * 32, "b" * 32
    snapshot.save(state(old), tmp_path)
    snapshot.save(state(new), tmp_path)  # saving never removes another generation (it may be newer)
    assert {p.name for p in tmp_path.iterdir()} == {old, new}
    stale, young = tmp_path / ".tmp-stale", tmp_path / ".tmp-young"
    stale.mkdir(), young.mkdir()
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    snapshot.prune(tmp_path, keep=new)
    assert {p.name for p in tmp_path.iterdir()} == {new, ".tmp-young"}
    assert snapshot.load(tmp_path, new, "m").hashes == {"a": "h"}


def test_sentences_are_saved_and_loaded_with_the_snapshot(tmp_path):
    import numpy as np

    from msassistant.index.sentences import Sentences

    sentences = Sentences(np.array([0, 0], dtype=np.int32), ["One.", "Two."], np.eye(2, 3, dtype=np.float32))
    state = snapshot.SearchState("c" * 32, "m", ["a#0"], ["One. Two."], [{"source": "a", "chunk": 0, "doc_hash": "h"}],
                                 {"one": 1}, {"one": "one"}, sentences=sentences)
    snapshot.save(state, tmp_path)
    got = snapshot.load(tmp_path, "c" * 32, "m").sentences
    assert got.texts == ["One.", "Two."] and got.owner.tolist() == [0, 0]
    assert np.allclose(got.vectors, sentences.vectors)
