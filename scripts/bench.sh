#!/usr/bin/env bash
# Throughput benchmark (see benches/ingest.rs): builds a synthetic corpus once under
# target/bench-corpus and times `trailship ingest --output /dev/null` pinned to one core.
# BENCH_EVENTS and BENCH_RUNS tune it.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench --locked --bench ingest
