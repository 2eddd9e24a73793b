"""Benchmarks of msassistant: latency, throughput, ingest and start-up, on the shipped and generated corpora.

Run `python -m benchmarks.run --quick` (about a minute) or `python -m benchmarks.run` (full, with the
10,000-document corpus). Results and how to read them: docs/benchmarks.md.
"""
