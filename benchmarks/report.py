"""Write a benchmark result into docs/benchmarks.md (between the generated markers) and docs/benchmarks.png.

    python -m benchmarks.report                          # the last full run (bench-data/results-full.json)
    python -m benchmarks.report bench-data/results-quick.json

The prose of docs/benchmarks.md outside the markers is kept as it is.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
PLOT = REPO / "docs" / "benchmarks.png"
START, END = "<!-- generated:start -->", "<!-- generated:end -->"


def plot(result: dict, path: Path = PLOT) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = result["latency_by_corpus_size"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    docs = [s["documents"] for s in sizes]
    for key, label, style in (("turn", "turn (Assistant.reply)", "o-"), ("bare", "bare embed + search", "s--"),
                              ("langchain", "LangChain similarity_search", "^:")):
        p50 = [s[key]["p50_ms"] for s in sizes]
        p95 = [s[key]["p95_ms"] for s in sizes]
        line = left.plot(docs, p50, style, label=f"{label}, p50")[0]
        left.fill_between(docs, p50, p95, color=line.get_color(), alpha=0.12)
    left.set_xscale("log")
    left.set_xticks(docs, [f"{d:,}\n({s['chunks']:,} chunks)" for d, s in zip(docs, sizes)])
    left.set_xlabel("documents in the corpus")
    left.set_ylabel("latency, ms (band: p50 to p95)")
    left.set_title("Latency vs corpus size (in process)")
    left.set_ylim(bottom=0)
    left.legend(fontsize=8, loc="upper left")
    left.grid(alpha=0.3)

    names = ["turn", "bare\nembed+search", "LangChain\nbaseline", "turn over\nHTTP"]
    stats = [result["in_process"]["turn"], result["bare_embed_plus_search"], result["langchain_baseline"],
             result["http"]["turn"]]
    p50 = [s["p50_ms"] for s in stats]
    p95 = [s["p95_ms"] for s in stats]
    bars = right.bar(names, p50, color=["#3b6ea8", "#8c8c8c", "#c28a2c", "#5c9c5c"])
    right.errorbar(names, p50, yerr=[[0] * len(p50), [b - a for a, b in zip(p50, p95)]], fmt="none", ecolor="black",
                   capsize=4, lw=1)
    for bar, value in zip(bars, p50):
        right.annotate(f"{value:.1f} ms", (bar.get_x() + bar.get_width() / 2, value / 2), ha="center", va="center",
                       color="white", fontsize=9, fontweight="bold")
    right.set_ylabel("p50 latency, ms (whisker: p95)")
    right.set_title(f"5 documents: turn vs bare vs LangChain ({result['mode']} run)")
    right.grid(axis="y", alpha=0.3)
    fig.suptitle(f"msassistant on {result['machine']['cpus']} CPU cores, {result['date'][:10]}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _ok(met) -> str:
    return {True: "met", False: "**missed**", None: "not measured"}[met]


def tables(r: dict) -> str:
    m = r["machine"]
    lines = [
        f"Run: `{r['command']}` on {r['date']} ({r['mode']} mode, {r['elapsed_s']} s). "
        f"{m['cpus']} CPU cores, Python {m['python']}, torch {m['torch']} with {m['torch_threads']} thread(s) per "
        f"embedding call; load average {m['load_average_at_start'][0]} at the start and "
        f"{m['load_average_at_end'][0]} at the end. {r['questions']} questions x {r['repeats']} repeats per point.",
        "",
        "### Targets",
        "",
        "| target | measured | limit | |",
        "|---|---:|---:|---|",
    ]
    for name, t in r["targets"].items():
        lines.append(f"| {name.replace('_', ' ')} | {t['value'] if t['value'] is not None else '-'} | {t['limit']} | "
                     f"{_ok(t['met'])} |")
    ip = r["in_process"]
    lines += [
        "",
        "### One turn, in process (5 documents)",
        "",
        "| | p50 ms | p95 ms | CPU p50 ms |",
        "|---|---:|---:|---:|",
        f"| turn (`Assistant.reply`) | {ip['turn']['p50_ms']} | {ip['turn']['p95_ms']} | {ip['turn']['cpu_p50_ms']} |",
        f"| turn, answered questions only | {ip['turn_answers_only']['p50_ms']} | {ip['turn_answers_only']['p95_ms']} | |",
        f"| bare: one query embedding + one chromadb search | {ip['bare']['p50_ms']} | {ip['bare']['p95_ms']} | "
        f"{ip['bare']['cpu_p50_ms']} |",
        f"| LangChain `Chroma.similarity_search(q, k=4)`, queries embedded by `SentenceTransformer.encode` | "
        f"{ip['langchain']['p50_ms']} | {ip['langchain']['p95_ms']} | {ip['langchain']['cpu_p50_ms']} |",
        *([f"| the same, with msassistant's embeddings class | {ip['langchain_own_embeddings']['p50_ms']} | "
           f"{ip['langchain_own_embeddings']['p95_ms']} | {ip['langchain_own_embeddings']['cpu_p50_ms']} |"]
          if "langchain_own_embeddings" in ip else []),
        "",
        f"turn/bare = **{r['turn_over_bare']}**, turn/LangChain = **{r['turn_over_langchain']}**"
        + (f" (with msassistant's embeddings class: {r['turn_over_langchain_own_embeddings']})"
           if "turn_over_langchain_own_embeddings" in r else "") + ". "
        f"Categories of the timed turns: {', '.join(f'{k} {v}' for k, v in ip['categories'].items())}.",
        "",
        "### Latency vs corpus size (in process)",
        "",
        "| documents | chunks | turn p50 | turn p95 | bare p50 | LangChain p50 | turn/bare | turn/LangChain | "
        "turn/LangChain (own embeddings) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for s in r["latency_by_corpus_size"]:
        lines.append(f"| {s['documents']:,} | {s['chunks']:,} | {s['turn']['p50_ms']} | {s['turn']['p95_ms']} | "
                     f"{s['bare']['p50_ms']} | {s['langchain']['p50_ms']} | {s['turn_over_bare']} | "
                     f"{s['turn_over_langchain']} | {s.get('turn_over_langchain_own_embeddings', '-')} |")
    h = r["http"]
    lines += [
        "",
        f"Largest corpus over 5 documents (turn p50): **{r['latency_largest_over_5']}**.",
        "",
        "### Over HTTP (loopback, `msassistant serve`, 5 documents)",
        "",
        f"One client, one turn at a time: p50 {h['turn']['p50_ms']} ms, p95 {h['turn']['p95_ms']} ms "
        f"({h['overhead_over_in_process_p50_ms']} ms over the in-process p50); errors {h['turn']['errors']}. "
        f"Server ready {h['server_ready_s']} s after start ({h['server_ready_cpu_s']} CPU s); "
        f"server peak RSS {h['server_peak_rss_mib']} MiB.",
        "",
        "| server | concurrency | turns | turns/s | p50 ms | p95 ms | errors | server CPU ms/turn |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [("1 process", t) for t in h["throughput"]]
    if "http_workers_2" in r:
        rows += [("`--workers 2`", t) for t in r["http_workers_2"]["throughput"]]
    for label, t in rows:
        lines.append(f"| {label} | {t['concurrency']} | {t['requests']} | {t['turns_per_s']} | {t['p50_ms']} | "
                     f"{t['p95_ms']} | {t['errors']} | {t['server_cpu_ms_per_turn']} |")
    ing = r["ingest"]
    lines += [
        "",
        "### Ingest and start-up",
        "",
        f"- Ingest rate: **{r['ingest_chunks_per_s']} chunks/s**, measured on {r['ingest_rate_measured_on_chunks']:,} "
        f"chunks embedded into an empty index (shipped corpus alone: {ing['shipped_corpus_fresh']['chunks_per_s']} "
        f"chunks/s over {ing['shipped_corpus_fresh']['chunks_embedded']} chunks). Model load: {r['model_load_s']} s.",
    ]
    for e in r["scale"]:
        cli = e["reingest_unchanged_cli"]
        lines.append(
            f"- {e['documents']:,} documents ({e['chunks']:,} chunks): unchanged re-ingest {cli['wall_s']} s with "
            f"`msassistant ingest` (a new process: imports, index check; peak RSS {cli['peak_rss_mib']} MiB), "
            f"{e['reingest_unchanged_in_process']['seconds']} s in process; cleaning every document as before: "
            f"{e['reingest_unchanged_cleaning_every_document_s']} s. Search load {e['search_load_s']} s from the "
            f"snapshot ({e.get('snapshot_mib', '?')} MiB on disk); "
            f"{e.get('search_build_from_chromadb_s', '?')} s to build it from chromadb.")
        if "build" in e and e["build"]:
            b = e["build"]
            when = "in this run" if b.get("in_this_run") else f"recorded {b.get('date', '?')}"
            lines.append(f"  Build from empty ({when}): {b.get('chunks_embedded', '?')} chunks in {b.get('wall_s', '?')} s "
                         f"({b.get('chunks_per_s', '?')} chunks/s, start-up included), "
                         f"peak RSS **{b.get('peak_rss_mib', '?')} MiB**.")
        if "ingest" in e and e["ingest"].get("chunks_embedded"):
            lines.append(f"  Built from empty in this run: {e['ingest']['chunks_embedded']:,} chunks in "
                         f"{e['ingest']['seconds']} s ({e['ingest']['chunks_per_s']} chunks/s).")
    if "server_ready_10k_s" in r:
        lines.append(f"- Server ready on the 10,000-document index: {r['server_ready_10k_s']} s "
                     f"({r['server_ready_10k_cpu_s']} CPU s), peak RSS {r['server_10k_peak_rss_mib']} MiB.")
    if "http_workers_2" in r:
        w = r["http_workers_2"]
        lines.append(f"- `--workers 2`: ready in {w['server_ready_s']} s, peak RSS of both workers "
                     f"{w['server_peak_rss_mib']} MiB.")
    lines.append(f"- Peak RSS of the benchmark process (model, every corpus size in turn): "
                 f"{r['peak_rss_mib_benchmark_process']} MiB.")
    for note in r.get("notes", []):
        lines.append(f"- Note: {note}")
    lines += backend_tables(r.get("backends"))
    lines += ["", "<details><summary>The JSON this run printed</summary>", "", "```json",
              json.dumps(r, indent=1), "```", "", "</details>"]
    return "\n".join(lines)


def backend_tables(b: dict | None) -> list[str]:
    """The embedding backends side by side (benchmarks/backends.py)."""
    if not b:
        return []
    lines = ["", "### Embedding backends (same run)", "",
             f"Turns over the shipped corpus, interleaved with the vanilla LangChain turn; ingest of the generated "
             f"{b['ingest_documents']:,}-document corpus into an empty index.", "",
             "| backend | turn p50 ms | turn p95 ms | turn / LangChain | ingest chunks/s | with search snapshot | "
             "speed-up | CLI ingest peak RSS MiB |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name in b["backends"]:
        t, i = b["turns"][f"turn_{name}"], b["ingest"][name]
        lines.append(f"| {name} | {t['p50_ms']} | {t['p95_ms']} | {b['turn_over_langchain'][name]} | {i['chunks_per_s']} | "
                     f"{i['chunks_per_s_with_snapshot']} | {b['ingest_speedup'][name]}x | {i['cli_peak_rss_mib']} |")
    lc = b["turns"]["langchain"]
    lines.append(f"| vanilla LangChain (torch) | {lc['p50_ms']} | {lc['p95_ms']} | 1.0 | | | | |")
    return lines


SKELETON = f"""# Benchmarks

{START}
{END}
"""


def write(result: dict, doc: Path = DOC, png: Path = PLOT) -> None:
    from benchmarks.targets import check_targets

    result = {**result, "targets": check_targets(result)}  # judged by the targets as defined now
    doc.parent.mkdir(exist_ok=True)
    plot(result, png)
    text = doc.read_text(encoding="utf-8") if doc.exists() else SKELETON
    if START not in text or END not in text:
        text = text.rstrip() + "\n\n" + START + "\n" + END + "\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    generated = f"{START}\n<!-- written by `python -m benchmarks.report`; edit outside the markers -->\n\n" \
                f"![latency vs corpus size; turn vs bare vs LangChain]({png.name})\n\n{tables(result)}\n{END}"
    doc.write_text(head + generated + tail, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="?", type=Path, default=REPO / "bench-data" / "results-full.json")
    args = parser.parse_args(argv)
    write(json.loads(args.results.read_text()))
    print(f"wrote {DOC.relative_to(REPO)} and {PLOT.relative_to(REPO)}")


if __name__ == "__main__":
    main()
