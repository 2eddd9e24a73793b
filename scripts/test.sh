#!/usr/bin/env bash
# One command for a new machine: install what the tests need (Python packages, Chromium, PostgreSQL, axe-core) and run them.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test,bench,llm
for deps in scripts/browser-deps.sh scripts/postgres-deps.sh; do
  if [ -f "$deps" ]; then bash "$deps"; fi
done
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
exec .venv/bin/python -m pytest -q "$@"
