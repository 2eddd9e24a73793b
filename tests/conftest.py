"""Fixtures shared by every level: the paths, settings in a temporary folder, the fake embedder, a live server
and the browser.

The tests come in three folders: unit/ (pure stages, with the deterministic fake embedder; no model is
loaded), integration/ (the real model, chromadb, SQLite and PostgreSQL, servers and the CLI; its fixtures
are in integration/conftest.py) and browser/ (the widget and the console in Chromium).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
CORPUS = REPO / "corpus"


def make_settings(home: Path, **overrides):
    from msassistant.config import Settings

    return Settings(home=home, corpus_dir=overrides.pop("corpus_dir", CORPUS), **overrides)


@pytest.fixture(scope="session")
def fake_embeddings():
    """The deterministic stand-in for the real model (msassistant.index.fake): no model to load."""
    from msassistant.index.fake import HashEmbeddings

    return HashEmbeddings()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(url: str, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout}s")


def stop_process(proc: subprocess.Popen) -> None:
    """Ask a server to stop; kill it if it has not within 15 s."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def start_server(home: Path, extra_env: dict | None = None) -> tuple[str, subprocess.Popen]:
    port = free_port()
    env = {
        **os.environ, "MSA_HOME": str(home), "MSA_CORPUS_DIR": str(CORPUS), "MSA_RATE_LIMIT": "1000/minute",
        "MSA_ALLOWED_ORIGINS": f"http://127.0.0.1:{port},http://localhost:{port}", **(extra_env or {}),
    }
    log = open(home / "server.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "msassistant.cli", "serve", "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT, cwd=str(home),
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url + "/api/health", proc)
    except Exception:
        proc.kill()
        raise RuntimeError((home / "server.log").read_text()[-3000:])
    return url, proc


@pytest.fixture(scope="session")
def live_server(tmp_path_factory):
    """The real `msassistant serve` on a free port, with a temporary state folder and a built index."""
    home = tmp_path_factory.mktemp("server-home")
    url, proc = start_server(home)
    yield url
    stop_process(proc)


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright, one per run (Playwright's sync API allows one driver at a time)."""
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed at /usr/bin/chromium (run: bash scripts/browser-deps.sh)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()
