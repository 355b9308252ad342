#!/usr/bin/env bash
# What SigmaHQ's CloudTrail rules (benches/sigmahq) cost when none of them matches: the first
# 40 files of the bench's trail corpus (target/bench-trail-corpus, built by scripts/bench.sh)
# without the events any of those rules matches (`trailship detect` names them), then
# callgrind instruction counts of `trailship ingest --output /dev/null` with detection off and
# with SigmaHQ's rules only, on those files and on a one-event file (the once-per-process
# part: loading the rules). Needs valgrind and a release build (cargo build --release);
# TRAILSHIP_BIN=PATH counts another build instead (an A/B of two commits).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${TRAILSHIP_BIN:-target/release/trailship}
corpus=${1:-target/bench-trail-corpus}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/sub" "$work/nomatch" "$work/one"
# sed, not head: head could leave ls writing into a closed pipe, a silent exit under pipefail.
ls "$corpus" | grep '\.gz$' | sed -n '1,40p' | while read -r f; do cp "$corpus/$f" "$work/sub/"; done
export TRAILSHIP__DETECT__BUILTIN=false RUST_LOG=warn
TRAILSHIP__DETECT__RULES=benches/sigmahq "$bin" detect "$work/sub" 2>/dev/null | awk 'NF > 3 {print $NF}' | sort -u >"$work/matched"
python3 - "$work" <<'PY'
import gzip, json, os, sys
work = sys.argv[1]
matched = set(open(os.path.join(work, "matched")).read().split())
kept = 0
for i, name in enumerate(sorted(os.listdir(os.path.join(work, "sub")))):
    records = json.load(gzip.open(os.path.join(work, "sub", name)))["Records"]
    left = [r for r in records if r.get("eventID") not in matched]
    kept += len(left)
    with gzip.open(os.path.join(work, "nomatch", name), "wt") as out:
        json.dump({"Records": left}, out)
    if i == 0:
        with gzip.open(os.path.join(work, "one", name), "wt") as out:
            json.dump({"Records": left[:1]}, out)
print(f"{kept} events no SigmaHQ rule matches")
PY
count() {
  valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" ingest --output /dev/null "$1" 2>&1 |
    awk '/refs:/ {gsub(",", "", $NF); print $NF}'
}
off=$(count "$work/nomatch")
off_one=$(count "$work/one")
export TRAILSHIP__DETECT__RULES=benches/sigmahq
on=$(count "$work/nomatch")
on_one=$(count "$work/one")
events=$(TRAILSHIP__DETECT__RULES=benches/sigmahq "$bin" detect "$work/nomatch" 2>&1 | tail -1 | awk '{print $5}')
python3 - "$off" "$on" "$off_one" "$on_one" "$events" <<'PY'
import sys
off, on, off_one, on_one, events = map(int, sys.argv[1:])
load = on_one - off_one
evaluation = on - off - load
print(f"detection off {off:,}; SigmaHQ {on:,} (+{100 * (on - off) / off:.1f}%); loading the rules {load:,} once; "
      f"evaluation with nothing matching {evaluation:,} = {evaluation / events:,.0f} per event = {100 * evaluation / off:.1f}% of detection off")
PY
