#!/usr/bin/env bash
# Mutation testing: cargo mutants changes one line of the pure modules at a time (the list is
# in .cargo/mutants.toml: decoding and framing, enrichment, notification parsing, key routing,
# bulk answers, dead letters, detection indexing) and runs the library's unit tests against
# each change; a change no test notices is a survivor.
#
# Usage: scripts/mutants.sh [FILE.rs...] [CARGO_MUTANTS_ARGS...]
#   FILE.rs: only the mutants of these modules (of the list); other arguments go to cargo
#   mutants, e.g. --list (what would be tried), --re REGEX, --shard 1/4.
# Every mutant takes ~14 s on two cores (a ~7 s incremental rebuild of the library's tests,
# then the tests); all of them take hours, so CI does not run it. Builds go to
# target/mutants-tree/ (kept between runs), the report to target/mutants/mutants.out/.
# Prints caught, missed, timed out (a mutant that loops: counted as caught) and unviable (does
# not build), and the share caught of those that built. Each survivor must be listed, with why
# it is harmless, in scripts/mutants-survivors.txt: exits 1 if one is not.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-mutants >/dev/null || cargo install --locked --quiet cargo-mutants@27.1.0
# cargo mutants adds a --file to the configured globs rather than narrowing them: a module is
# chosen by its mutants' names instead, which start with its path.
args=()
for a in "$@"; do
  case "$a" in
    *.rs) args+=(--re "^${a//./\\.}:") ;;
    *) args+=("$a") ;;
  esac
done
for a in "$@"; do
  case "$a" in --list|--list-files|-h|--help) exec cargo mutants "${args[@]}" ;; esac
done

out=target/mutants
mkdir -p "$out"
status=0
CARGO_TARGET_DIR="$PWD/target/mutants-tree" cargo mutants --timeout 20 --output "$out" "${args[@]}" \
  >"$out/run.log" 2>&1 || status=$?
# cargo mutants exits 2 when mutants survive, 3 when some time out; anything else is a failure.
case $status in
  0|2|3) ;;
  *) tail -20 "$out/run.log" >&2; exit "$status" ;;
esac

report="$out/mutants.out"
count() { local n=0; [ -f "$report/$1.txt" ] && n=$(grep -c . "$report/$1.txt" || true); echo "${n:-0}"; }
caught=$(count caught); missed=$(count missed); timeout=$(count timeout); unviable=$(count unviable)
viable=$((caught + missed + timeout))
echo "caught $caught, timed out $timeout, missed $missed, unviable $unviable"
if [ "$viable" -gt 0 ]; then
  awk -v c=$((caught + timeout)) -v v="$viable" \
    'BEGIN { printf "caught %d of %d viable mutants: %.1f%%\n", c, v, 100 * c / v }'
fi

# A survivor is named as cargo mutants names it, without its line and column; a name listed
# once excuses one survivor of that name (two alike in one function are listed twice).
strip() { sed -E 's/^([^:]+):[0-9]+:[0-9]+: /\1: /'; }
unlisted=$(
  { grep -v '^#' scripts/mutants-survivors.txt | grep . | sed 's/^/listed\t/' || true
    [ -f "$report/missed.txt" ] && strip <"$report/missed.txt" | sed 's/^/missed\t/' || true
  } | awk -F'\t' '$1 == "listed" { n[$2]++ } $1 == "missed" { if (n[$2]-- <= 0) print "  " $2 }'
)
if [ -n "$unlisted" ]; then
  echo "survivors not in scripts/mutants-survivors.txt (add a test, or list them with why):"
  echo "$unlisted"
  exit 1
fi
echo "every survivor is listed in scripts/mutants-survivors.txt"
