"""The benchmark's targets, and each one judged on a run's figures (read by the run and by the report)."""

from __future__ import annotations


TARGETS = {
    "turn_over_bare_max": 2.0,
    "turn_over_langchain_max": 1.0,
    "turns_per_s_at_8_min": 30.0,
    "ingest_10k_peak_rss_mib_max": 1536.0,
    "reingest_unchanged_s_max": 5.0,
    "latency_10k_over_5_max": 2.0,
    "server_ready_s_max": 10.0,
    "int8_turn_over_langchain_max": 0.5,
    "int8_ingest_chunks_per_s_min": 80.0,
}


def verdict(value, limit, higher_is_better=False) -> dict:
    if value is None:
        return {"value": None, "limit": limit, "met": None}
    met = value >= limit if higher_is_better else value <= limit
    return {"value": value, "limit": limit, "met": met}


def check_targets(r: dict) -> dict:
    """Each target with the figure it is judged on; None where this run did not measure it."""
    t = TARGETS
    at8 = next((x["turns_per_s"] for x in r["http"]["throughput"] if x["concurrency"] == 8), None)
    big = next((e for e in r["scale"] if e["documents"] == 10000), None)
    largest = r["scale"][-1] if r["scale"] else None

    reingest = largest["reingest_unchanged_cli"]["wall_s"] if largest else None
    return {
        "turn_p50_at_most_2x_bare": verdict(r["turn_over_bare"], t["turn_over_bare_max"]),
        "turn_p50_no_slower_than_langchain": verdict(r["turn_over_langchain"], t["turn_over_langchain_max"]),
        "turns_per_s_at_concurrency_8": verdict(at8, t["turns_per_s_at_8_min"], higher_is_better=True),
        "ingest_10k_peak_rss_mib": verdict(big["build"].get("peak_rss_mib") if big else None,
                                           t["ingest_10k_peak_rss_mib_max"]),
        f"reingest_unchanged_{largest['documents'] if largest else 0}_docs_s": verdict(reingest,
                                                                                       t["reingest_unchanged_s_max"]),
        f"latency_{largest['documents'] if largest else 0}_docs_over_5_docs": verdict(r["latency_largest_over_5"],
                                                                                      t["latency_10k_over_5_max"]),
        "server_ready_s_shipped_corpus": verdict(r["http"]["server_ready_s"], t["server_ready_s_max"]),
        "server_ready_s_10k_docs": verdict(r.get("server_ready_10k_s"), t["server_ready_s_max"]),
        **backend_targets(r.get("backends")),
    }


def backend_targets(b: dict | None) -> dict:
    """The int8 backend's targets, judged on the backends part of a run."""
    if not b or "onnx-int8" not in b.get("ingest", {}):
        return {}
    t, ing = TARGETS, b["ingest"]
    return {
        "int8_turn_p50_at_most_half_langchain": verdict(b["turn_over_langchain"]["onnx-int8"],
                                                        t["int8_turn_over_langchain_max"]),
        f"int8_ingest_chunks_per_s_{b['ingest_documents']}_docs": verdict(ing["onnx-int8"]["chunks_per_s"],
                                                                           t["int8_ingest_chunks_per_s_min"], True),
        "int8_ingest_peak_rss_mib_not_above_torch": verdict(ing["onnx-int8"]["cli_peak_rss_mib"],
                                                            ing["torch"]["cli_peak_rss_mib"]),
    }

