#!/usr/bin/env bash
# Create .venv in the repo root and install msassistant with pinned dependencies.
# Usage: scripts/install.sh [EXTRAS]   e.g. scripts/install.sh test,bench
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
if [ ! -x .venv/bin/python ]; then
  echo "Creating .venv"
  "$python" -m venv .venv
fi
stamp=".venv/.msassistant-installed-${extras:-base}"
want="$(cat pyproject.toml constraints.txt | sha256sum | cut -d' ' -f1)"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi
.venv/bin/python -m pip install --quiet --upgrade pip
# The CPU build of torch first, by exact version: anything else would pull CUDA packages.
.venv/bin/python -m pip install --quiet "torch==2.13.0"
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/python -m pip install --quiet -c constraints.txt -e "$spec"
echo "$want" > "$stamp"
echo "Installed msassistant${extras:+ with $extras} into .venv"
