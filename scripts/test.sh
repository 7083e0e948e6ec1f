#!/usr/bin/env bash
# The whole test suite from a fresh clone: environment, lint, types, then pytest in two phases:
# the unit tests and doctests on every core (pytest-xdist; they share nothing), then the
# integration tests one at a time (they start their own Kafka broker from Maven jars on a free
# port and share it, and several measure a worker's behaviour under load). Extra arguments go to
# both phases.
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

# The slowest tests in every CI log: the suite must stay under 15 minutes (it took 14:58 in one
# process on an idle machine, the unit tests and doctests about a fifth of it).
run_phase --durations=10 -n auto -m "not integration" "$@"
run_phase --durations=20 -m integration "$@"
if [ "$empty" -eq 2 ]; then
  echo "pytest collected no tests: treating that as a failure" >&2
  exit 1
fi
exit "$failed"
