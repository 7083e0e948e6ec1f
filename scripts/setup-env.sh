#!/usr/bin/env bash
# Creates .venv (Python 3.11) and installs driftline with its dev and training extras, building the
# Cython kernels in place. Idempotent: a second run only re-checks the install.
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3.11}
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || { echo "driftline needs Python 3.11 (set PYTHON=...)" >&2; exit 1; }
command -v java >/dev/null || { echo "driftline's local Kafka needs Java 17+ on PATH" >&2; exit 1; }
command -v mvn >/dev/null || { echo "driftline resolves Kafka's jars with Maven: install maven" >&2; exit 1; }

# The dashboard and alert-rule tests evaluate their PromQL on a real Prometheus, and the forwarding
# tests deliver to a real Alertmanager (amtool checks the stack's routing): Debian's packages.
if ! command -v prometheus >/dev/null || ! command -v promtool >/dev/null \
    || ! command -v prometheus-alertmanager >/dev/null || ! command -v amtool >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    # The tests start their own servers on free ports; a service the package may start is no obstacle.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      prometheus prometheus-alertmanager >/dev/null
  else  # not fatal: everything else works, and those tests fail saying what is missing
    echo "warning: some tests need Debian's 'prometheus' and 'prometheus-alertmanager' packages" >&2
  fi
fi

# The secured local broker (`driftline kafka start --sasl-ssl-port`) and its tests make a CA and
# certificates with the openssl command-line tool: Debian's package of the same name.
if ! command -v openssl >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssl >/dev/null
  else  # not fatal: only the TLS tests and the secured broker need it, and they say so
    echo "warning: the TLS tests and 'kafka start --sasl-ssl-port' need openssl: install the Debian package 'openssl'" >&2
  fi
fi

[ -x .venv/bin/python ] || "$python" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[dev]'
