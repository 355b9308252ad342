#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer through cargo-fuzz, on the stable toolchain: no
# sanitizer) of every parser that reads outside input; the targets and what they check are in
# src/fuzzing.rs, their seeds in fuzz/corpus/<target>/.
#
# Usage: scripts/fuzz.sh [--seconds N] [--quick] [TARGET...]
#   N seconds per target (default 60); targets: notification cloudtrail access_log sigma config
#   (default all); --quick builds the targets unoptimised (4 minutes from scratch instead of 8 on
#   two cores, some times fewer executions per second, and a slow input is one over ten seconds
#   instead of one: CI's short round). Inputs over a second, a single allocation over 64 MiB
#   (fuzz/src/lib.rs), a process past 1 GiB of memory, a panic or a crash are findings:
#   libFuzzer writes the input to fuzz/artifacts/<target>/ and this script exits 1 after the
#   other targets ran. Keep a finding as a regression: fix it, then copy the input
#   into fuzz/regressions/<target>/ (the unit tests replay every file there).
# New inputs the fuzzer finds go to target/fuzz-corpus/<target>/ (kept between runs, not in
# the repository). Prints executions per target and in all.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=60
profile=()
timeout=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --seconds) seconds="$2"; shift 2 ;;
    --quick) profile=(--dev); timeout=10; shift ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[ ${#targets[@]} -gt 0 ] || targets=(notification cloudtrail access_log sigma config)
command -v cargo-fuzz >/dev/null || cargo install --locked --quiet cargo-fuzz@0.13.2

echo "== building the fuzz targets (instrumented release build)" >&2
mkdir -p target
if ! cargo fuzz build "${profile[@]}" --sanitizer none >target/fuzz-build.log 2>&1; then
  tail -30 target/fuzz-build.log >&2
  exit 2
fi

total=0
failed=()
for t in "${targets[@]}"; do
  work="target/fuzz-corpus/$t"
  mkdir -p "$work" "fuzz/artifacts/$t"
  log="target/fuzz-corpus/$t.log"
  echo "== $t: $seconds s" >&2
  if cargo fuzz run "${profile[@]}" --sanitizer none "$t" "$work" "fuzz/corpus/$t" -- \
      -max_total_time="$seconds" -timeout="$timeout" -rss_limit_mb=1024 -max_len=65536 \
      -print_final_stats=1 -close_fd_mask=1 >"$log" 2>&1; then
    status=ok
  else
    status=FOUND
    failed+=("$t")
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  runs=${runs:-0}
  total=$((total + runs))
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)
  printf '%-13s %s: %s executions, %s, corpus %s inputs\n' "$t" "$status" "$runs" "${cov:-cov: ?}" \
    "$(ls "$work" | wc -l)"
  if [ "$status" = FOUND ]; then
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -8 >&2 || true
  fi
done
echo "fuzzing: $total executions in all, ${#targets[@]} targets x ${seconds} s; findings in: ${failed[*]:-none}"
[ ${#failed[@]} -eq 0 ]
