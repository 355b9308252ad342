#!/usr/bin/env bash
# Runs the whole test suite: unit tests and the integration tests against real moto and osmem
# servers (installed into a local venv on first use). Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-env.sh
cargo test --locked "$@"
