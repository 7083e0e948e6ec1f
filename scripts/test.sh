#!/usr/bin/env bash
# The whole test suite from a fresh clone: environment, lint, types, then pytest in two phases:
# the unit tests and doctests on every core (pytest-xdist; they share nothing), then the
# integration tests in two xdist workers, each with its own Kafka broker from Maven jars on a free
# port: the broker-outage and bench tests in one, every other test one at a time in the other
# (several measure a worker's behaviour under load; tests/integration/conftest.py draws the
# groups). Extra arguments go to both phases.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
. .venv/bin/activate

ruff check .
mypy

# pytest exits 5 when it collects no test. Arguments such as `-k pipeline` may leave one phase
# empty, but a run in which no phase found a test is a broken suite, not a pass. Both phases run
# whatever the first one gave, so one log shows every failure.
empty=0
failed=0
run_phase() {
  local status=0
  python -m pytest "$@" || status=$?
  case "$status" in
    0) ;;
    5) empty=$((empty + 1)) ;;
    *) failed=$status ;;
  esac
}

# The slowest tests in every CI log: the suite must stay under 15 minutes (one integration
# process took 764 s of a 972 s suite on 2026-12-03; the outage test alone waits 150 s).
run_phase --durations=10 -n auto -m "not integration" "$@"
run_phase --durations=20 -n 2 --dist loadgroup -m integration "$@"
if [ "$empty" -eq 2 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$failed"
