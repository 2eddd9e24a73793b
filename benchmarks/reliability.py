"""Load and kill: does the real server answer every request under load, and is every answer it acknowledged in the
turn log after a kill -9?

    python -m benchmarks.reliability                  # 32 clients for 60 s, then kill -9 under load; one JSON object
    python -m benchmarks.reliability --seconds 10     # shorter
    python -m benchmarks.reliability --write-docs     # also rewrites the tables in docs/reliability.md

1. **Load**: `msassistant serve` over the shipped corpus (SQLite log), 32 clients with a keep-alive connection
   each, posting chat messages for the given time. Errors are any status but 200, and any failed connection.
2. **Kill**: the same load on a new server, which is sent SIGKILL (with its workers) part-way; then every
   turn id a client received in a 200 is looked up in the log database.

State lives in bench-data/reliability/ (git-ignored).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import sqlite3
import sys
import threading
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
for _key in [k for k in os.environ if k.startswith("MSA_") and k != "MSA_TORCH_THREADS"]:
    del os.environ[_key]

from benchmarks.questions import QUESTIONS  # noqa: E402
from benchmarks.serving import Server, descendants  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HOME = ROOT / "bench-data" / "reliability"
DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- reliability:start -->", "<!-- reliability:end -->"


def log(message: str) -> None:
    print(f"[reliability {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Load:
    """`clients` threads posting chat messages until `stop` is set; counts statuses, keeps acknowledged turn ids."""

    def __init__(self, port: int, clients: int):
        self.port, self.clients = port, clients
        self.stop = threading.Event()
        self.statuses: Counter = Counter()
        self.failures: Counter = Counter()
        self.acknowledged: list[str] = []
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._client, args=(n,), daemon=True) for n in range(clients)]

    def _client(self, n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        i = n
        while not self.stop.is_set():
            body = json.dumps({"message": QUESTIONS[i % len(QUESTIONS)]})
            i += self.clients
            try:
                conn.request("POST", "/api/chat", body=body, headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
            except (OSError, http.client.HTTPException) as exc:
                with self.lock:
                    self.failures[type(exc).__name__] += 1
                conn.close()
                if self.stop.wait(0.05):
                    break
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                continue
            with self.lock:
                self.statuses[resp.status] += 1
                if resp.status == 200:
                    self.acknowledged.append(json.loads(data)["turn_id"])
        conn.close()

    def run(self, seconds: float, during=None) -> float:
        start = time.perf_counter()
        for t in self.threads:
            t.start()
        if during:
            during()
        else:
            time.sleep(seconds)
        self.stop.set()
        for t in self.threads:
            t.join(timeout=90)
        return time.perf_counter() - start


def _home() -> Path:
    shutil.rmtree(HOME, ignore_errors=True)
    HOME.mkdir(parents=True)
    return HOME


def logged(home: Path, ids: list[str]) -> int:
    db = sqlite3.connect(f"file:{home / 'data' / 'msassistant.db'}?mode=ro", uri=True)
    try:
        known = {row[0] for row in db.execute("SELECT id FROM turns")}
    finally:
        db.close()
    return sum(i in known for i in ids)


def load_phase(seconds: float, clients: int) -> dict:
    home = _home()
    server = Server(home, ROOT / "corpus")
    log(f"load: {clients} clients for {seconds:.0f} s")
    try:
        load = Load(server.port, clients)
        wall = load.run(seconds)
    finally:
        server.stop()
    ok = load.statuses.get(200, 0)
    errors = sum(n for s, n in load.statuses.items() if s != 200) + sum(load.failures.values())
    return {"clients": clients, "seconds": round(wall, 1), "requests": ok + errors, "ok": ok, "errors": errors,
            "turns_per_s": round(ok / wall, 1), "statuses": dict(load.statuses), "failures": dict(load.failures),
            "acknowledged": len(load.acknowledged), "in_log": logged(home, load.acknowledged)}


def kill_phase(seconds: float, clients: int) -> dict:
    home = _home()
    server = Server(home, ROOT / "corpus")
    log(f"kill: {clients} clients, SIGKILL to the server after {seconds:.0f} s")
    load = Load(server.port, clients)

    def kill_midway() -> None:
        time.sleep(seconds)
        for pid in [server.proc.pid] + descendants(server.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        server.proc.wait()
        time.sleep(0.5)  # the clients see their connections fail

    wall = load.run(seconds, during=kill_midway)
    server._log.close()
    acknowledged = len(load.acknowledged)
    present = logged(home, load.acknowledged)
    return {"clients": clients, "seconds": round(wall, 1), "acknowledged": acknowledged, "in_log": present,
            "missing": acknowledged - present, "failed_when_killed": dict(load.failures)}


def markdown(r: dict) -> str:
    a, k = r["load"], r["kill"]
    return "\n".join([
        f"Run: `python -m benchmarks.reliability` on {r['date']} ({r['machine']}).", "",
        "| phase | clients | seconds | requests | answered (200) | errors | turns/s | acknowledged | in the log |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| load | {a['clients']} | {a['seconds']} | {a['requests']} | {a['ok']} | {a['errors']} | {a['turns_per_s']} | "
        f"{a['acknowledged']} | {a['in_log']} |",
        f"| kill -9 under load | {k['clients']} | {k['seconds']} | | | | | {k['acknowledged']} | {k['in_log']} |", "",
        f"Errors under load: {a['errors']} (statuses {a['statuses']}, connection failures {a['failures'] or 'none'}). "
        f"After kill -9: {k['missing']} acknowledged turns missing from the log; the requests in flight when the "
        f"server died failed on the client side ({k['failed_when_killed'] or 'none'}), unacknowledged, as they should.",
    ])


def write_docs(text: str) -> None:
    doc = DOC.read_text()
    block = f"{START}\n<!-- written by `python -m benchmarks.reliability --write-docs`; edit outside the markers -->\n\n{text}\n{END}"
    DOC.write_text(doc[:doc.index(START)] + block + doc[doc.index(END) + len(END):])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="How long the load runs (default 60).")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--kill-after", type=float, default=20.0, help="Seconds of load before the kill -9.")
    parser.add_argument("--write-docs", action="store_true", help="Rewrite the tables in docs/reliability.md.")
    args = parser.parse_args()
    report = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "machine": f"{os.cpu_count()} CPU cores, SQLite log",
              "load": load_phase(args.seconds, args.clients), "kill": kill_phase(args.kill_after, args.clients)}
    report["ok"] = report["load"]["errors"] == 0 and report["kill"]["missing"] == 0
    print(json.dumps(report, indent=2))
    if args.write_docs:
        write_docs(markdown(report))
        log(f"wrote {DOC.relative_to(ROOT)}")
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
