#!/usr/bin/env bash
# Runs the ceph/s3-tests selection against the real s3gate binary and checks the ratchet
# (expected-failures.txt). docs/s3-compat.md, "Conformance", says what and why.
#
#   tests/conformance/run.sh --binary target/debug/s3gate --stack sqlite|postgres-proxy|all
#       [-k EXPR]          run a subset (pytest -k); the ratchet is checked for what ran
#       [--update-docs]    rewrite the table in docs/s3-compat.md (whole selection, all stacks)
#       [--write-expected] rewrite expected-failures.txt from this run, keeping the causes of
#                          lines that still hold and marking new ones TODO-cause
#       [--timeout S]      per-test timeout in seconds (default 300)
#
# The suite's virtualenv (its requirements.txt + pytest-timeout, from PyPI) and the scratch
# directory (suite copy, junit xml, gateway and pytest logs) live under the cargo target
# directory: ${CARGO_TARGET_DIR:-target}/conformance-venv and .../conformance. The suite is
# read from ../shared/conformance/s3-tests beside the repository (or S3GATE_CONFORMANCE_SUITE).
# The postgres-proxy stack creates and drops its own database on the server of
# S3GATE_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# The suite snapshot sits beside the repository (../shared); S3GATE_CONFORMANCE_SUITE overrides.
suite="${S3GATE_CONFORMANCE_SUITE:-$repo/../shared/conformance/s3-tests}"

target="${CARGO_TARGET_DIR:-target}"
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
venv="$target/conformance-venv"
scratch="$target/conformance"

if [ ! -f "$suite/requirements.txt" ]; then
    echo "run.sh: the suite is not at $suite" >&2
    exit 2
fi
# Reinstall when requirements.txt changes (its hash is kept in the venv).
want="$(sha256sum "$suite/requirements.txt" | cut -d' ' -f1)"
if [ "$(cat "$venv/.requirements-sha256" 2>/dev/null)" != "$want" ] \
    || ! "$venv/bin/python3" -c 'import boto3, pytest, pytest_timeout' 2>/dev/null; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$suite/requirements.txt" pytest-timeout
    echo "$want" >"$venv/.requirements-sha256"
fi
"$venv/bin/python3" -c 'import boto3, pytest; print("[conformance] boto3", boto3.__version__, "pytest", pytest.__version__)'

exec "$venv/bin/python3" "$here/run.py" --suite "$suite" --scratch "$scratch" "$@"
