#!/usr/bin/env bash
# Instruction counts of whole `trailship ingest --output /dev/null` runs under callgrind, the
# steady figure on a shared machine (docs/performance.md, "Instruction counts"): the first 40
# files (by name) of the bench's trail corpus and the first 20 of its throughput corpus
# (target/bench-trail-corpus, target/bench-corpus: scripts/bench.sh builds them), with
# detection off, the built-in rules, SigmaHQ's CloudTrail rules (benches/sigmahq) alone,
# built-in + SigmaHQ, and that with no alert level grouped. Prints a Markdown table.
# Needs valgrind and a release build (cargo build --release); TRAILSHIP_BIN=PATH counts
# another build. Takes a few minutes (two runs at a time).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TRAILSHIP_BIN:-target/release/trailship}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/trail" "$work/throughput"
# The first N files: sed reads to the end (head would leave ls writing into a closed pipe,
# which pipefail turns into a silent exit).
take() { ls "$1" | grep '\.gz$' | sed -n "1,$2p" | while read -r f; do cp "$1/$f" "$3/"; done; }
take target/bench-trail-corpus 40 "$work/trail"
take target/bench-corpus 20 "$work/throughput"
export RUST_LOG=warn

# count NAME DIR [VAR=VALUE...]: instructions of one run, into $work/NAME.
count() {
  local name=$1 dir=$2
  shift 2
  env "$@" valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" ingest --output /dev/null "$dir" 2>&1 |
    awk '/refs:/ {gsub(",", "", $NF); print $NF}' >"$work/$name"
}
off=(TRAILSHIP__DETECT__BUILTIN=false)
sigma=(TRAILSHIP__DETECT__RULES=benches/sigmahq)
ungrouped=(TRAILSHIP__DETECT__RULES=benches/sigmahq "TRAILSHIP__ALERTS__GROUP_LEVELS= ")
alone=(TRAILSHIP__DETECT__BUILTIN=false TRAILSHIP__DETECT__RULES=benches/sigmahq)
count trail-off "$work/trail" "${off[@]}" &
count trail-builtin "$work/trail"
wait
count trail-sigma "$work/trail" "${sigma[@]}" &
count trail-ungrouped "$work/trail" "${ungrouped[@]}"
wait
count trail-alone "$work/trail" "${alone[@]}" &
count throughput-off "$work/throughput" "${off[@]}"
wait
count throughput-builtin "$work/throughput" &
count throughput-sigma "$work/throughput" "${sigma[@]}"
wait
count throughput-alone "$work/throughput" "${alone[@]}"

python3 - "$work" <<'PY'
import os, sys
work = sys.argv[1]
n = lambda name: int(open(os.path.join(work, name)).read())
print("| files, configuration | instructions | over detection off |")
print("| --- | --- | --- |")
for corpus, label in [("trail", "40 trail files"), ("throughput", "20 throughput files")]:
    off = n(f"{corpus}-off")
    for config, text in [("off", "detection off"), ("builtin", "built-in rules"), ("alone", "SigmaHQ alone"),
                         ("sigma", "built-in + SigmaHQ"), ("ungrouped", "built-in + SigmaHQ, no alert grouped")]:
        if not os.path.exists(os.path.join(work, f"{corpus}-{config}")):
            continue
        count = n(f"{corpus}-{config}")
        over = "" if config == "off" else f"{100 * (count - off) / off:.1f}%"
        print(f"| {label}, {text} | {count / 1e6:,.1f} M | {over} |")
PY
