#!/usr/bin/env bash
# Throughput benchmark (see benches/ingest.rs): builds synthetic corpora once under target/
# (the throughput corpus, the compressible trail corpus, S3 access logs) and test GeoIP
# databases under target/bench-geoip (with the test venv's mmdb-writer), then times
# `trailship ingest --output /dev/null`. BENCH_MODE picks wall (whole-process wall time against
# zcat, one core and both, detection off/on, peak RSS, the goals), configs (in-process rate, detection and
# GeoIP on/off) and access (access logs per byte); default all three. BENCH_EVENTS,
# BENCH_TRAIL_FILES, BENCH_ACCESS_LINES and BENCH_RUNS tune it.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-env.sh
cargo bench --locked --bench ingest
