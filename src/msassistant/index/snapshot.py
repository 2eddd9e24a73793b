"""Snapshot: what the hybrid search holds in memory, saved next to the index.

Loading the search from chromadb means reading every chunk, tokenising it and building BM25 again:
seconds at 10,000 documents. A snapshot holds the result (chunk texts and metadata, their vectors,
the BM25 index and the word statistics), so a server starts in a fraction of that time.

A snapshot belongs to one *generation* of the index: a random id in the collection's metadata. While
`Index.sync` changes the index the generation is a "syncing" marker, under which nothing is saved, and
a new id is set when the sync ends (also when it fails), so a snapshot of another state of the index
is never loaded, whichever process or replica changed it. Snapshots hold only JSON and numpy arrays,
never pickles. A damaged or unreadable snapshot is ignored with a warning and rebuilt.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

FORMAT = 3  # 3: with the sentences of every chunk and their vectors
GENERATION = re.compile(r"[0-9a-f]{32}")
MANIFEST = "manifest.json"
EXTRA_NAME = re.compile(r"[\w.-]+")  # files kept beside a snapshot: plain names, never paths


@dataclass
class SearchState:
    generation: str
    model: str
    ids: list[str]
    texts: list[str]
    metadatas: list[dict]
    doc_freq: dict[str, int]
    surface: dict[str, str]  # stem -> the word as the corpus writes it
    bm25: Any = None  # a bm25s.BM25, None for an empty index
    vectors: np.ndarray | None = None  # float32, one row per chunk; None above MSA_EXACT_SEARCH_MAX_CHUNKS
    hashes: dict[str, str] = field(default_factory=dict)  # source -> content hash
    sentences: Any = None  # a sentences.Sentences; None above MSA_EXACT_SEARCH_MAX_CHUNKS

    def __post_init__(self):
        if not self.hashes:
            self.hashes = {m["source"]: m["doc_hash"] for m in self.metadatas if m.get("chunk") == 0}


def valid_generation(generation: object) -> bool:
    return isinstance(generation, str) and bool(GENERATION.fullmatch(generation))


def _folder(root: Path, generation: str | None) -> Path | None:
    return root / generation if valid_generation(generation) else None


def read_manifest(root: Path, generation: str, model: str) -> dict | None:
    """The manifest of the snapshot of this generation and model, or None."""
    folder = _folder(root, generation)
    if folder is None:
        return None
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("search snapshot %s is unreadable (%s); it will be rebuilt", folder, exc)
        return None
    if manifest.get("format") != FORMAT or manifest.get("generation") != generation or manifest.get("model") != model:
        return None
    return manifest


def load(root: Path, generation: str, model: str) -> SearchState | None:
    """The snapshot of this generation, or None when there is none (or it cannot be read)."""
    manifest = read_manifest(root, generation, model)
    if manifest is None:
        return None
    folder = root / generation
    try:
        chunks = json.loads((folder / "chunks.json").read_text(encoding="utf-8"))
        terms = json.loads((folder / "terms.json").read_text(encoding="utf-8"))
        # mapped, not read: the pages come in on the first search (from the page cache, usually)
        vectors = np.load(folder / "vectors.npy", allow_pickle=False, mmap_mode="r") if manifest["vectors"] else None
        bm25 = None
        if manifest["bm25"]:
            import bm25s

            bm25 = bm25s.BM25.load(folder / "bm25", allow_pickle=False, show_progress=False)
        sentences = None
        if manifest.get("sentences"):
            from .sentences import Sentences

            data = json.loads((folder / "sentences.json").read_text(encoding="utf-8"))
            sentences = Sentences(np.asarray(data["owner"], dtype=np.int32), data["texts"],
                                  np.load(folder / "sentence_vectors.npy", allow_pickle=False, mmap_mode="r"))
            if len(sentences.texts) != len(sentences.owner) or sentences.vectors.shape[0] != len(sentences.texts):
                raise ValueError("its sentence parts disagree on the number of sentences")
        state = SearchState(generation, model, chunks["ids"], chunks["texts"], chunks["metadatas"],
                            terms["doc_freq"], terms["surface"], bm25, vectors, manifest["documents"], sentences)
        n = len(state.ids)
        if n != manifest["chunks"] or len(state.texts) != n or len(state.metadatas) != n or (
                vectors is not None and vectors.shape[0] != n):
            raise ValueError("its parts disagree on the number of chunks")
        return state
    except Exception as exc:  # noqa: BLE001 - any damage means: rebuild from chromadb
        log.warning("search snapshot %s could not be loaded (%s: %s); it will be rebuilt", folder, type(exc).__name__, exc)
        return None


def save(state: SearchState, root: Path) -> Path | None:
    """Write the snapshot into root/<generation>, all or nothing. Returns the folder, or None when the
    generation is not one the index gave out."""
    target = _folder(root, state.generation)
    if target is None:
        return None
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=root))
    os.chmod(tmp, 0o755)  # readable like the index next to it (mkdtemp makes it private)
    try:
        (tmp / "chunks.json").write_text(
            json.dumps({"ids": state.ids, "texts": state.texts, "metadatas": state.metadatas}, ensure_ascii=False),
            encoding="utf-8")
        (tmp / "terms.json").write_text(json.dumps({"doc_freq": state.doc_freq, "surface": state.surface},
                                                   ensure_ascii=False), encoding="utf-8")
        if state.vectors is not None:
            np.save(tmp / "vectors.npy", np.ascontiguousarray(state.vectors, dtype=np.float32), allow_pickle=False)
        if state.sentences is not None:
            (tmp / "sentences.json").write_text(json.dumps({"owner": state.sentences.owner.tolist(),
                                                            "texts": state.sentences.texts}, ensure_ascii=False),
                                                encoding="utf-8")
            np.save(tmp / "sentence_vectors.npy", np.ascontiguousarray(state.sentences.vectors, dtype=np.float32),
                    allow_pickle=False)
        if state.bm25 is not None:
            state.bm25.save(tmp / "bm25", allow_pickle=False, show_progress=False)
        manifest = {"format": FORMAT, "generation": state.generation, "model": state.model, "chunks": len(state.ids),
                    "vectors": state.vectors is not None, "bm25": state.bm25 is not None, "documents": state.hashes,
                    "sentences": state.sentences is not None}
        (tmp / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")  # last: a folder with it is complete
        # a snapshot is saved only when none could be loaded, so one already there is damaged: set it aside
        # (a rename, so that a reader sees either folder whole) and put the new one in its place
        old = root / f".old-{uuid.uuid4().hex}"
        try:
            os.rename(target, old)
        except OSError:
            pass  # none there
        try:
            os.rename(tmp, target)
        except OSError:  # another process saved this generation in the meantime: keep theirs
            shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


def prune(root: Path, keep: str) -> None:
    """Remove the snapshots of other generations, and what killed processes left half-written (after an
    hour). Call it only with the index's current generation: a slow process must not remove a newer one."""
    if not valid_generation(keep) or not root.is_dir():
        return
    for entry in root.iterdir():
        try:
            if valid_generation(entry.name) and entry.name != keep:
                shutil.rmtree(entry, ignore_errors=True)
            elif entry.name.startswith((".tmp-", ".old-")) and time.time() - entry.stat().st_mtime > 3600:
                shutil.rmtree(entry, ignore_errors=True)
        except OSError:
            pass


def load_extra(root: Path, generation: str | None, name: str) -> Any:
    """A JSON file kept with the snapshot of this generation (derived data, such as the pool of suggested
    questions), or None."""
    folder = _folder(root, generation)
    if folder is None or not EXTRA_NAME.fullmatch(name):
        return None
    try:
        return json.loads((folder / name).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("%s in the search snapshot is unreadable (%s); it will be rebuilt", name, exc)
        return None


def save_extra(root: Path, generation: str | None, name: str, data: Any) -> bool:
    """Keep a JSON file with the snapshot of this generation (written whole or not at all)."""
    folder = _folder(root, generation)
    if folder is None or not (folder / MANIFEST).is_file() or not EXTRA_NAME.fullmatch(name):
        return False
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=folder)
        os.chmod(tmp, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
        os.replace(tmp, folder / name)
        return True
    except OSError as exc:
        log.warning("could not save %s in the search snapshot: %s", name, exc)
        return False
