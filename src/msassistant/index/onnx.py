"""ONNX backends for the embedding model: the same model exported once to ONNX, with fp32 weights (`onnx`) or
with dynamically quantised int8 weights (`onnx-int8`), and run with onnxruntime instead of torch.

The export is made from the local, hash-verified model folder (never from a model hub), once, into a cache
folder, with a manifest (`export.json`) that records the source weights' sha256, the exported file's own
sha256 and the versions that made it. Before each load the file is hashed again: a file that does not match
its manifest (or a manifest for other weights) is exported anew, with a warning.

int8 weights make a query several times faster than torch and an ingest about four times (with every core;
`python -m benchmarks.backends`); the vectors differ slightly from fp32 ones (median cosine 0.994, measured by
`python -m benchmarks.parity` over every corpus chunk, sentence and eval question, in docs/benchmarks.md).
Only MatMul weights are quantised, per output channel: the embedding table, LayerNorm and softmax stay fp32.

Running a session needs only onnxruntime, numpy and tokenizers: a process on an ONNX backend never imports
torch, except to export.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

log = logging.getLogger("msassistant.index")

BACKENDS = ("torch", "onnx", "onnx-int8")
MANIFEST = "export.json"
FILE = "model.onnx"
OPSET = 17
FORMAT = 4  # bump when the export itself changes: older exports are made again
# int8 weights for every MatMul, per output channel (onnxruntime's dynamic quantisation). Keeping each layer's
# feed-forward output MatMul in fp32 was tried: closer vectors (median cosine 0.997 against 0.994) but a query
# 70% slower, and no nearer eval parity (docs/benchmarks.md)
QUANTISATION = {"weight_type": "QInt8", "per_channel": True, "op_types_to_quantize": ["MatMul"]}
BATCH = 32


class OnnxModelError(RuntimeError):
    """The model cannot be exported to, or run on, an ONNX backend."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export_folder(cache: Path, source_sha256: str, backend: str) -> Path:
    return cache / f"{source_sha256[:16]}-{backend}"


def read_manifest(folder: Path, source_sha256: str, backend: str) -> dict | None:
    """The manifest of a complete, unmodified export of these weights for this backend; else None."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if (manifest.get("format"), manifest.get("backend"), manifest.get("source_sha256")) != (FORMAT, backend, source_sha256):
        return None
    model = folder / manifest.get("file", FILE)
    if not model.is_file() or sha256(model) != manifest.get("sha256"):
        log.warning("the %s export in %s does not match its manifest; exporting it again", backend, folder)
        return None
    return manifest


def ensure_export(model_dir: Path, source_sha256: str, backend: str, cache: Path) -> tuple[Path, dict]:
    """The folder of a verified export (made now when missing or modified) and its manifest."""
    if backend not in BACKENDS[1:]:
        raise OnnxModelError(f"{backend!r} is not an ONNX backend (one of {', '.join(BACKENDS[1:])})")
    folder = export_folder(cache, source_sha256, backend)
    manifest = read_manifest(folder, source_sha256, backend)
    if manifest is not None:
        return folder, manifest
    from .repair import exclusive

    with exclusive(folder):  # another process exporting into this cache waits, then finds the export made
        manifest = read_manifest(folder, source_sha256, backend)
        if manifest is not None:
            return folder, manifest
        log.warning("exporting the embedding model to ONNX (%s) in %s: once, about ten seconds", backend, folder)
        work = cache / f".{folder.name}.{os.getpid()}.tmp"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            manifest = _export(model_dir, work, backend, source_sha256)
            shutil.rmtree(folder, ignore_errors=True)
            os.rename(work, folder)
        except OnnxModelError:
            raise
        except Exception as exc:
            raise OnnxModelError(f"exporting {model_dir} to ONNX ({backend}) failed: {type(exc).__name__}: {exc}") from exc
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return folder, manifest


def _export(model_dir: Path, out: Path, backend: str, source_sha256: str) -> dict:
    import onnxruntime
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(model_dir), attn_implementation="eager", local_files_only=True).eval()

    class Tokens(torch.nn.Module):  # the transformer's token vectors: pooling and normalising happen outside
        def __init__(self, inner):
            super().__init__()
            self.inner = inner

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    sample = Tokenizer(model_dir).encode(["an example sentence", "and a second, somewhat longer example sentence"])
    names = ["input_ids", "attention_mask", "token_type_ids"]
    fp32 = out / ("fp32.onnx" if backend == "onnx-int8" else FILE)
    with warnings.catch_warnings(), torch.inference_mode():
        warnings.simplefilter("ignore")  # the tracer's notes on Python branches, which are fixed for this model
        torch.onnx.export(Tokens(model), tuple(torch.from_numpy(sample[n]) for n in names), str(fp32),
                          input_names=names, output_names=["token_embeddings"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names + ["token_embeddings"]})
    if backend == "onnx-int8":
        from onnxruntime.quantization import QuantType, quantize_dynamic

        quiet = logging.Filter("msassistant")  # the quantiser's advice to its own users goes to the root logger
        logging.getLogger().addFilter(quiet)
        try:
            quantize_dynamic(str(fp32), str(out / FILE), weight_type=getattr(QuantType, QUANTISATION["weight_type"]),
                             per_channel=QUANTISATION["per_channel"],
                             op_types_to_quantize=QUANTISATION["op_types_to_quantize"])
        finally:
            logging.getLogger().removeFilter(quiet)
        fp32.unlink()
    manifest = {
        "format": FORMAT, "backend": backend, "source": str(model_dir), "source_sha256": source_sha256,
        "file": FILE, "sha256": sha256(out / FILE), "bytes": (out / FILE).stat().st_size, "opset": OPSET,
        "quantisation": QUANTISATION if backend == "onnx-int8" else None,
        "torch": torch.__version__, "onnxruntime": onnxruntime.__version__,
        "exported": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


class Tokenizer:
    """The model's own fast tokenizer (tokenizer.json), truncating where sentence-transformers does."""

    def __init__(self, model_dir: Path):
        from tokenizers import Tokenizer as FastTokenizer

        try:
            self.inner = FastTokenizer.from_file(str(model_dir / "tokenizer.json"))
        except Exception as exc:
            raise OnnxModelError(f"{model_dir} has no readable tokenizer.json ({exc})") from exc
        config = _json(model_dir / "sentence_bert_config.json")
        self.max_tokens = int(config.get("max_seq_length") or 512)
        self.inner.enable_truncation(self.max_tokens)
        self.inner.no_padding()

    def encode(self, texts: list[str]) -> dict[str, np.ndarray]:
        encoded = self.inner.encode_batch([t.strip() for t in texts])
        width = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(encoded), width), dtype=np.int64)
        mask = np.zeros((len(encoded), width), dtype=np.int64)
        for row, e in enumerate(encoded):
            ids[row, :len(e.ids)] = e.ids
            mask[row, :len(e.ids)] = 1
        return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def check_pooling(model_dir: Path) -> None:
    """The ONNX backends pool as the bundled model does (the mean of the token vectors, then normalised)."""
    pooling = _json(model_dir / "1_Pooling" / "config.json")
    if not pooling.get("pooling_mode_mean_tokens") or any(
            v for k, v in pooling.items() if k.startswith("pooling_mode_") and k != "pooling_mode_mean_tokens"):
        raise OnnxModelError(f"{model_dir}: the ONNX backends support mean pooling only (1_Pooling/config.json)")


class OnnxEncoder:
    """Normalised sentence vectors from an exported model. Thread-safe: a session runs calls concurrently.

    int8 activations are quantised per call, over the whole input: in a batch, a text's vector would depend
    on the texts beside it and their padding. So an int8 model embeds each text on its own, and ingest-sized
    calls (`bulk`) spread the texts over `bulk_threads` threads of one session thread each. An fp32 model
    embeds in batches sorted by length (little of a batch is padding) on a session of `bulk_threads`."""

    def __init__(self, folder: Path, model_dir: Path, threads: int, bulk_threads: int, quantised: bool):
        check_pooling(model_dir)
        self.path = folder / FILE
        self.tokenizer = Tokenizer(model_dir)
        self.threads, self.bulk_threads = max(1, threads), max(1, bulk_threads)
        self.quantised = quantised
        self._sessions: dict[int, object] = {}
        self._pool = None
        self._lock = threading.Lock()
        self.session(self.threads)

    def session(self, threads: int):
        if threads not in self._sessions:
            with self._lock:
                if threads not in self._sessions:
                    import onnxruntime as ort

                    options = ort.SessionOptions()
                    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
                    options.log_severity_level = 3
                    self._sessions[threads] = ort.InferenceSession(str(self.path), options,
                                                                   providers=["CPUExecutionProvider"])
        return self._sessions[threads]

    def _run(self, session, texts: list[str]) -> np.ndarray:
        inputs = self.tokenizer.encode(texts)
        tokens = session.run(None, inputs)[0]
        mask = inputs["attention_mask"][..., None].astype(np.float32)
        vectors = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        return vectors / np.clip(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12, None)

    def encode(self, texts: list[str], bulk: bool = False) -> np.ndarray:
        if self.quantised:
            if not bulk or self.bulk_threads == 1 or len(texts) < 2:
                session = self.session(self.threads if not bulk else 1)
                return np.vstack([self._run(session, [t]) for t in texts])
            session = self.session(1)
            if self._pool is None:
                with self._lock:
                    if self._pool is None:
                        from concurrent.futures import ThreadPoolExecutor

                        self._pool = ThreadPoolExecutor(self.bulk_threads, thread_name_prefix="msa-embed")
            return np.vstack(list(self._pool.map(lambda t: self._run(session, [t]), texts)))
        session = self.session(self.bulk_threads if bulk else self.threads)
        out = np.zeros((len(texts), 0), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(texts), BATCH):
            rows = order[start:start + BATCH]
            vectors = self._run(session, [texts[i] for i in rows])
            if not out.shape[1]:
                out = np.zeros((len(texts), vectors.shape[1]), dtype=np.float32)
            out[rows] = vectors
        return out
