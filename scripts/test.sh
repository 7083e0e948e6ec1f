#!/usr/bin/env bash
# The whole test suite from a fresh clone: environment, lint, types, then pytest (unit tests and
# integration tests, which start their own Kafka broker from Maven jars on a free port).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
. .venv/bin/activate

ruff check .
mypy
set +e
python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$status"
