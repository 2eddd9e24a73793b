#!/usr/bin/env bash
# Run the log store and review console tests against SQLite and a throwaway PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/postgres-deps.sh
exec .venv/bin/pytest -q -m "not browser" tests/test_postgres.py tests/test_logstore.py tests/test_admin.py tests/test_redact.py "$@"
