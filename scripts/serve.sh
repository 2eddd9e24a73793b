#!/usr/bin/env bash
# One command for a new machine: install into .venv, build the index if needed, serve on http://127.0.0.1:8000
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
export HF_HUB_OFFLINE="${HF_HUB_OFFLINE:-1}"
exec .venv/bin/msassistant serve "$@"
