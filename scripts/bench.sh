#!/usr/bin/env bash
# Throughput benchmark (see benches/ingest.rs): builds a synthetic corpus once under
# target/bench-corpus and test GeoIP databases under target/bench-geoip (with the test venv's
# mmdb-writer), then times `trailship ingest --output /dev/null` pinned to one core, without
# and with GeoIP. BENCH_EVENTS and BENCH_RUNS tune it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-env.sh
cargo bench --locked --bench ingest
