#!/usr/bin/env bash
# The main job end to end: environment, a local Kafka, the demo model, a worker, 2,000 synthetic
# events, and the first predictions and dead letters printed. Stops the worker and Kafka on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup-env.sh
. .venv/bin/activate

export DRIFTLINE_BROKER=127.0.0.1:${DRIFTLINE_KAFKA_PORT:-9092}
mkdir -p .driftline
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
driftline produce --count 2000 --rate 1000
echo "--- first predictions"
driftline tail predictions --count 5
echo "--- worker log: .driftline/worker.log"
