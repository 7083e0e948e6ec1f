#!/usr/bin/env bash
# The main job end to end: environment, a local Kafka, the demo model, a worker, synthetic events,
# the first predictions, then a drifted stream and the alert it raises. Stops everything on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
. .venv/bin/activate

export DRIFTLINE_BROKER=127.0.0.1:${DRIFTLINE_KAFKA_PORT:-9092}
# A broker of its own, emptied at every start: an earlier demo's open alert would otherwise come
# back as "updated" and its records would be the first that `tail alerts` prints.
export DRIFTLINE_KAFKA_DATA_DIR=.driftline/demo-kafka
mkdir -p .driftline
driftline kafka stop > /dev/null
rm -rf "$DRIFTLINE_KAFKA_DATA_DIR" .driftline/state  # the worker's local state belongs to that broker
driftline kafka start
worker_pid=
cleanup() {
  [ -n "$worker_pid" ] && kill "$worker_pid" 2>/dev/null && wait "$worker_pid" 2>/dev/null
  driftline kafka stop
}
trap cleanup EXIT

driftline models list --json | grep -q '"card-fraud"' || driftline models demo
driftline topics
driftline worker > .driftline/worker.log 2>&1 &
worker_pid=$!
driftline produce --count 3000 --rate 1500
echo "--- first predictions"
driftline tail predictions --count 5
echo "--- now the customers get older: +3 sigma on customer_age_years"
driftline produce --count 3000 --rate 1500 --seed 1 --id-prefix shifted --shift customer_age_years=3
echo "--- alerts"
driftline tail alerts --count 2 --timeout 30
echo "--- worker log: .driftline/worker.log"
