"""Parity of the embedding backends: how close the ONNX vectors are to torch's, and whether the product's own
eval figures move.

    python -m benchmarks.parity               # prints a JSON report, keeps it in bench-data/parity.json
    python -m benchmarks.parity --write-docs  # also rewrites the parity tables in docs/benchmarks.md
    python -m benchmarks.parity --from-json bench-data/parity.json   # the tables of a saved report

1. The cosine between each ONNX backend's vector and torch's for every corpus chunk (as embedded: title and
   section first), every corpus sentence (as the sentence index embeds it) and every eval question (the
   eval sets, the triage and answerability sets): minimum, 1st percentile and median.
2. The eval commands' figures (`msassistant eval cases`, `msassistant eval triage`) run once per backend in a
   child process, and whether each figure is within one case of torch's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
BENCH_DATA = ROOT / "bench-data"
DOCS = ROOT / "docs" / "benchmarks.md"
BACKENDS = ("torch", "onnx", "onnx-int8")
CASE_SETS = {"dev": sorted((ROOT / "eval" / "dev").glob("*.jsonl")),
             "held out": sorted((ROOT / "eval" / "heldout").glob("*.jsonl"))}
TRIAGE_SETS = [ROOT / "src/msassistant/rules/triage/heldout.jsonl",
               ROOT / "src/msassistant/rules/triage/heldout_blind.jsonl"]
CASE_FIGURES = ["category", "hit@1", "hit@3", "key_fact", "noise", "promotional_leads", "no_coverage_right",
                "unanswerable_answered", "in_scope_declined", "false_alarms"]
START, END = "<!-- parity:start -->", "<!-- parity:end -->"


def log(message: str) -> None:
    print(f"[parity] {message}", file=sys.stderr, flush=True)


def _questions() -> list[str]:
    out: list[str] = []
    files = [f for group in CASE_SETS.values() for f in group] + TRIAGE_SETS + [
        ROOT / "src/msassistant/rules/triage/train.jsonl", ROOT / "src/msassistant/rules/answerable/train.jsonl"]
    for path in files:
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                out += row.get("turns") or [row.get("text") or row.get("message") or row.get("question") or ""]
    return [q for q in out if q.strip()]


def _corpus_texts(settings) -> tuple[list[str], list[str]]:
    from msassistant.index.embeddings import SentenceTransformerEmbeddings
    from msassistant.index.sentences import Sentences
    from msassistant.index.store import Index, embedding_text, sync_corpus

    embeddings = SentenceTransformerEmbeddings.from_settings(settings)
    index = Index(settings, embeddings, embeddings.index_label)
    sync_corpus(settings, index)
    chunks = index.all_chunks()
    _, _, sentences = Sentences.split([d.page_content for d in chunks], [d.metadata.get("title", "") for d in chunks])
    return [embedding_text(d) for d in chunks], sentences


def _summary(cosines: np.ndarray) -> dict:
    return {"n": int(len(cosines)), "min": round(float(cosines.min()), 4),
            "p1": round(float(np.percentile(cosines, 1)), 4), "median": round(float(np.median(cosines)), 4)}


def cosines(cache: Path) -> dict:
    from msassistant.config import Settings
    from msassistant.index.embeddings import SentenceTransformerEmbeddings

    with tempfile.TemporaryDirectory(prefix="msa-parity-") as tmp:
        settings = Settings(home=Path(tmp), corpus_dir=ROOT / "corpus", embedding_backend="torch", model_cache_dir=cache)
        chunks, sentences = _corpus_texts(settings)
    groups = {"corpus chunks": chunks, "corpus sentences": sentences, "eval questions": _questions()}
    vectors = {}
    for backend in BACKENDS:
        log(f"embedding {sum(map(len, groups.values()))} texts with {backend}")
        emb = SentenceTransformerEmbeddings(backend=backend, cache=cache, threads=1, bulk_threads=0)
        vectors[backend] = {g: np.asarray(emb.embed_documents(t), dtype=np.float32) for g, t in groups.items()}
    return {backend: {g: _summary((vectors[backend][g] * vectors["torch"][g]).sum(axis=1)) for g in groups}
            for backend in BACKENDS[1:]}


def _cli(backend: str, cache: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MSA_")}
    env.update(MSA_EMBEDDING_BACKEND=backend, MSA_MODEL_CACHE_DIR=str(cache), HF_HUB_OFFLINE="1",
               TRANSFORMERS_OFFLINE="1")
    done = subprocess.run([sys.executable, "-m", "msassistant.cli", *args, "--json"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"{' '.join(args)} with {backend} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout)


def figures(cache: Path) -> dict:
    out: dict = {}
    for backend in BACKENDS:
        got: dict = {}
        for name, files in CASE_SETS.items():
            log(f"eval cases ({name}) with {backend}")
            got[name] = _cli(backend, cache, "eval", "cases", *map(str, files), "-q")["all"]
        for path in TRIAGE_SETS:
            log(f"eval triage {path.name} with {backend}")
            got[f"triage {path.stem}"] = _cli(backend, cache, "eval", "triage", str(path))
        out[backend] = got
    return out


def _count(rate) -> tuple[int, int] | None:
    """A figure as (hits, of): the eval's rates are {"n": hits, "of": total, ...} or "a/b" style."""
    if isinstance(rate, dict) and "n" in rate and "of" in rate:
        return int(rate["n"]), int(rate["of"])
    if isinstance(rate, dict) and "caught" in rate:
        return int(rate["caught"]), int(rate["of"])
    if isinstance(rate, dict) and "flagged" in rate:
        return int(rate["flagged"]), int(rate["of"])
    return None


def compare(figs: dict) -> list[dict]:
    rows = []
    base = figs["torch"]
    for group, values in base.items():
        names = ([("recall " + k, ("recall", k)) for k in values["recall"]] + [("false alarms", ("false_alarms",))]
                 if group.startswith("triage") else [(k, (k,)) for k in CASE_FIGURES])
        for label, path in names:
            row = {"set": group, "figure": label}
            counts = {}
            for backend in BACKENDS:
                value = figs[backend][group]
                for key in path:
                    value = value[key]
                counts[backend] = _count(value)
            if counts["torch"] is None or not counts["torch"][1]:
                continue
            row.update({b: f"{c[0]}/{c[1]}" for b, c in counts.items()})
            row["within_one"] = {b: abs(counts[b][0] - counts["torch"][0]) <= 1 for b in BACKENDS[1:]}
            rows.append(row)
    return rows


def markdown(report: dict) -> str:
    lines = [f"Run: `python -m benchmarks.parity` on {report['date']}.", "",
             "Cosine to the torch vector (fp32, the reference) of the same text:", "",
             "| backend | texts | n | min | 1st percentile | median |", "|---|---|---:|---:|---:|---:|"]
    for backend, groups in report["cosines"].items():
        for group, s in groups.items():
            lines.append(f"| {backend} | {group} | {s['n']} | {s['min']} | {s['p1']} | {s['median']} |")
    lines += ["", "The eval commands' figures per backend (cases right / cases; ✓ = within one case of torch):", "",
              "| set | figure | torch | onnx | onnx-int8 |", "|---|---|---:|---:|---:|"]
    for row in report["figures"]:
        marks = {b: "✓" if row["within_one"][b] else "✗" for b in BACKENDS[1:]}
        lines.append(f"| {row['set']} | {row['figure']} | {row['torch']} | {row['onnx']} {marks['onnx']} | "
                     f"{row['onnx-int8']} {marks['onnx-int8']} |")
    for backend in BACKENDS[1:]:
        bad = [f"{r['set']} {r['figure']}" for r in report["figures"] if not r["within_one"][backend]]
        lines.append(f"\n{backend}: parity {'holds' if not bad else 'does not hold'}"
                     + (f" (more than one case apart: {', '.join(bad)})" if bad else " (every figure within one case)"))
    return "\n".join(lines)


def write_docs(text: str) -> None:
    doc = DOCS.read_text()
    block = f"{START}\n<!-- written by `python -m benchmarks.parity --write-docs`; edit outside the markers -->\n\n{text}\n{END}"
    if START in doc:
        doc = doc[:doc.index(START)] + block + doc[doc.index(END) + len(END):]
    else:
        doc += f"\n## Embedding backends: parity\n\n{block}\n"
    DOCS.write_text(doc)


def main() -> None:
    from datetime import datetime, timezone

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write-docs", action="store_true", help="Rewrite the parity tables in docs/benchmarks.md.")
    parser.add_argument("--from-json", type=Path, help="Write the tables of a saved report instead of measuring.")
    args = parser.parse_args()
    if args.from_json:
        write_docs(markdown(json.loads(args.from_json.read_text())))
        return
    BENCH_DATA.mkdir(exist_ok=True)
    cache = BENCH_DATA / "models"
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"), "cosines": cosines(cache)}
    report["figures"] = compare(figures(cache))
    report["parity"] = {b: all(r["within_one"][b] for r in report["figures"]) for b in BACKENDS[1:]}
    (BENCH_DATA / "parity.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    if args.write_docs:
        write_docs(markdown(report))
        log(f"wrote {DOCS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
