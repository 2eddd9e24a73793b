"""The real CLI for the benchmark: `msassistant serve` (start-up to a ready /api/health, HTTP latency and
throughput) and `msassistant ingest` (wall time and peak RSS)."""

from __future__ import annotations

import http.client
import itertools
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.questions import QUESTIONS
from benchmarks.stats import ms, progress

RATE_LIMIT = "1000000/minute"  # the limiter still runs on every request, it just never refuses
REPO = Path(__file__).resolve().parents[1]


def child_env(home: Path, corpus: Path, port: int | None = None) -> dict:
    env = {**os.environ, "MSA_HOME": str(home), "MSA_CORPUS_DIR": str(corpus), "MSA_RATE_LIMIT": RATE_LIMIT}
    if port:
        env["MSA_ALLOWED_ORIGINS"] = f"http://127.0.0.1:{port}"
    return env



def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]



def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            kids = Path(f"/proc/{p}/task/{p}/children").read_text().split()
        except OSError:
            continue
        out += [int(k) for k in kids]
        todo += [int(k) for k in kids]
    return out



def vm_hwm_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return 0.0



class Server:
    """`msassistant serve` on a free loopback port, with its start-up time to a ready /api/health."""

    def __init__(self, home: Path, corpus: Path, workers: int = 1, timeout: float = 300):
        self.port = free_port()
        self.log_path = home / f"server-{self.port}.log"
        cmd = [sys.executable, "-m", "msassistant.cli", "serve", "--port", str(self.port)]
        if workers > 1:
            cmd += ["--workers", str(workers)]
        start = time.perf_counter()
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(cmd, env=child_env(home, corpus, self.port), stdout=self._log,
                                     stderr=subprocess.STDOUT, cwd=str(home))
        url = f"http://127.0.0.1:{self.port}/api/health"
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self.log_path.read_text()[-3000:]}")
            if time.perf_counter() - start > timeout:
                self.stop()
                raise TimeoutError(f"server not ready within {timeout}s: {self.log_path.read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(url, timeout=5) as resp:
                    if resp.status == 200:
                        self.health = json.loads(resp.read())
                        break
            except OSError:
                time.sleep(0.05)
        self.ready_s = round(time.perf_counter() - start, 2)
        self.ready_cpu_s = self.cpu_s()

    def cpu_s(self) -> float:
        """CPU seconds used so far by the server and its worker processes."""
        tick = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in [self.proc.pid] + descendants(self.proc.pid):
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return round(total / tick, 2)

    def peak_rss_mib(self) -> float:
        """The server's peak RSS; with several workers, the sum over its processes."""
        return round(sum(vm_hwm_mib(p) for p in [self.proc.pid] + descendants(self.proc.pid)), 1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()



def post_chat(conn: http.client.HTTPConnection, message: str) -> tuple[int, float]:
    body = json.dumps({"message": message})
    start = time.perf_counter()
    conn.request("POST", "/api/chat", body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    resp.read()
    return resp.status, time.perf_counter() - start



def http_sequential(port: int, repeats: int) -> dict:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    for q in QUESTIONS:
        post_chat(conn, q)
    times, errors = [], 0
    for q in progress([q for _ in range(repeats) for q in QUESTIONS], "HTTP turns, one at a time"):
        status, elapsed = post_chat(conn, q)
        if status == 200:
            times.append(elapsed)
        else:
            errors += 1
    conn.close()
    return {**ms(times), "errors": errors}



def http_throughput(server: Server, concurrency: int, requests: int) -> dict:
    """`concurrency` clients, each with its own keep-alive connection, share `requests` chat turns."""
    counter = itertools.count()
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def client() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while (i := next(counter)) < requests:
            try:
                status, elapsed = post_chat(conn, QUESTIONS[i % len(QUESTIONS)])
            except (OSError, http.client.HTTPException) as exc:
                with lock:
                    errors.append(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                continue
            with lock:
                if status == 200:
                    latencies.append(elapsed)
                else:
                    errors.append(str(status))
        conn.close()

    port = server.port
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    cpu_before = server.cpu_s()
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    server_cpu = server.cpu_s() - cpu_before
    return {"concurrency": concurrency, "requests": requests, "seconds": round(wall, 2),
            "turns_per_s": round(len(latencies) / wall, 1), **{k: v for k, v in ms(latencies).items() if k != "n"},
            "errors": len(errors),
            # the server's own CPU per turn; 1000 * cores / this is what 2 idle cores could serve at most
            "server_cpu_ms_per_turn": round(1000 * server_cpu / max(len(latencies), 1), 1)}



def cli_ingest(home: Path, corpus: Path, show_progress: bool, env: dict | None = None) -> dict:
    """`msassistant ingest` in a child process: wall time (with start-up) and the child's peak RSS.

    The peak is the child's own VmHWM, sampled until it exits. (getrusage/wait4 would not do: the child
    starts as a copy of this big process, and Linux counts that copy's resident set as the child's peak.)"""
    cmd = [sys.executable, "-m", "msassistant.cli", "ingest"] + ([] if show_progress else ["--quiet"])
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env={**child_env(home, corpus), **(env or {})}, stdout=subprocess.PIPE,
                            stderr=None if show_progress else subprocess.PIPE, text=True, cwd=str(REPO))
    peak = [0.0]

    def sample() -> None:
        while proc.poll() is None:
            peak[0] = max(peak[0], vm_hwm_mib(proc.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    out, err = proc.communicate()
    sampler.join()
    elapsed = time.perf_counter() - start
    if proc.returncode:
        raise RuntimeError(f"msassistant ingest failed ({proc.returncode}): {out[-2000:]} {(err or '')[-2000:]}")
    embedded = 0
    for part in out.split(";"):
        if "chunks embedded" in part:
            embedded = int(part.split("chunks embedded")[0].split()[-1])
    return {"wall_s": round(elapsed, 2), "peak_rss_mib": peak[0], "chunks_embedded": embedded,
            "output": out.strip().splitlines()[-1] if out.strip() else ""}
