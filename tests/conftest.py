"""Shared fixtures: a real chromadb index in a temporary folder, the real model, a live server."""

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
def embeddings():
    """The default (bundled, hash-verified) model, loaded once for the whole run."""
    from msassistant.index.embeddings import SentenceTransformerEmbeddings

    return SentenceTransformerEmbeddings()


@pytest.fixture(scope="session")
def assistant(tmp_path_factory, embeddings):
    """An assistant over the shipped corpus, with its index and log in a temporary folder."""
    from msassistant.pipeline.assistant import Assistant

    settings = make_settings(tmp_path_factory.mktemp("home"))
    bot = Assistant(settings, embeddings=embeddings)
    bot.ensure_index()
    return bot


@pytest.fixture
def fresh_assistant(tmp_path, embeddings):
    """A factory for assistants with their own state folder (and optionally their own corpus)."""
    from msassistant.pipeline.assistant import Assistant

    def build(**overrides):
        return Assistant(make_settings(tmp_path, **overrides), embeddings=embeddings)

    return build


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
