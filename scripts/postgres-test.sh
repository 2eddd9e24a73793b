#!/usr/bin/env bash
# Run the log store and review console tests against SQLite and a throwaway PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/postgres-deps.sh
exec .venv/bin/pytest -q -m "not browser" tests/integration/test_postgres.py tests/integration/test_logstore.py tests/integration/test_admin.py tests/unit/test_redact.py "$@"
