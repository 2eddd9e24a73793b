#!/usr/bin/env bash
# Run a Chroma server (the one in the pinned chromadb package) for MSA_CHROMA_URL.
# Usage: scripts/chroma-server.sh [DATA_DIR] [PORT]      (defaults: data/chroma, 8001, loopback only)
# Then, in another shell:  MSA_CHROMA_URL=http://127.0.0.1:8001 .venv/bin/msassistant serve
set -euo pipefail
cd "$(dirname "$0")/.."
data="${1:-data/chroma}"
port="${2:-8001}"
mkdir -p "$data"
exec .venv/bin/chroma run --path "$data" --host "${CHROMA_HOST:-127.0.0.1}" --port "$port"
