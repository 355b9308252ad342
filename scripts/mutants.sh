#!/usr/bin/env bash
# Mutation testing: cargo mutants changes one line of the pure modules at a time (the list is
# in .cargo/mutants.toml: decoding and framing, enrichment, notification parsing, key routing,
# bulk answers, dead letters, detection indexing) and runs the library's unit tests against
# each change; a change no test notices is a survivor.
#
# Usage: scripts/mutants.sh [FILE.rs...] [CARGO_MUTANTS_ARGS...]
#   FILE.rs: only the mutants of these modules (of the list); other arguments go to cargo
#   mutants, e.g. --list (what would be tried), --re REGEX, --shard 1/4, -j 2, or --iterate
#   (only the mutants the last run in the same report directory did not catch).
# MUTANTS_OUT=DIR: where the report goes (default target/mutants), e.g. one per module.
# Every mutant takes ~14 s on two cores (a ~7 s incremental rebuild of the library's tests,
# then the tests), 7 to 9 s with -j 2; all of them take hours, so CI does not run it. Builds
# go to target/mutants-tree/ (kept between runs; with -j, each job builds in its own copy),
# the report to $MUTANTS_OUT/mutants.out/.
# Prints, per file and in all, caught, missed, timed out (a mutant that loops: counted as
# caught) and unviable (does not build), and the share caught of those that built. Each survivor must be listed, with why
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

out=${MUTANTS_OUT:-target/mutants}
mkdir -p "$out"
# One job builds in target/mutants-tree/, kept between runs. Parallel jobs (-j N, --jobs N)
# each build in their own copy from scratch instead: sharing one target directory would let a
# job test the binary another job just built.
target="$PWD/target/mutants-tree"
for a in "$@"; do
  case "$a" in -j|-j*|--jobs|--jobs=*) target="" ;; esac
done
if [ -n "$target" ]; then export CARGO_TARGET_DIR="$target"; else unset CARGO_TARGET_DIR; fi
# The mutants found unviable by earlier runs of an --iterate series.
seen="$out/unviable-seen.txt"
case " $* " in
  *" --iterate "*) touch "$seen"; [ -f "$out/mutants.out/unviable.txt" ] && cat "$out/mutants.out/unviable.txt" >>"$seen" ;;
  *) : >"$seen" ;;
esac
status=0
cargo mutants --timeout 20 --output "$out" "${args[@]}" \
  >"$out/run.log" 2>&1 || status=$?
# cargo mutants exits 2 when mutants survive, 3 when some time out; anything else is a failure.
case $status in
  0|2|3) ;;
  *) tail -20 "$out/run.log" >&2; exit "$status" ;;
esac

report="$out/mutants.out"
# Per file and in all: caught, timed out (a mutant that loops: counted as caught), missed,
# unviable (does not build). --iterate skips the mutants caught or unviable before and lists
# both kinds in previously_caught.txt: the unviable ones are told apart by unviable-seen.txt.
printf '%-46s %7s %8s %7s %9s %8s\n' file caught "timed out" missed unviable "caught %"
{ sed 's/^/seen\t/' "$seen"
  for kind in caught timeout missed unviable previously_caught; do
    [ -f "$report/$kind.txt" ] && sed "s/^/$kind\t/" "$report/$kind.txt"
  done
} | awk -F'\t' '
  $1 == "seen" { before[$2] = 1; next }
  { kind = $1
    if (kind == "previously_caught") kind = ($2 in before) ? "unviable" : "caught"
    file = $2; sub(/:.*/, "", file)
    n[file, kind]++; n["all", kind]++; files[file] = 1 }
  function row(f, out,   v) {
    v = n[f, "caught"] + n[f, "timeout"] + n[f, "missed"]
    printf "%-46s %7d %8d %7d %9d %7.1f%%\n", f, n[f, "caught"], n[f, "timeout"], n[f, "missed"], n[f, "unviable"],
      v ? 100 * (n[f, "caught"] + n[f, "timeout"]) / v : 100 | out
  }
  END {
    for (f in files) row(f, "sort")
    close("sort")
    row("all", "cat")
    close("cat")
    v = n["all", "caught"] + n["all", "timeout"] + n["all", "missed"]
    if (v) printf "caught %d of %d viable mutants: %.1f%%\n", n["all", "caught"] + n["all", "timeout"], v,
      100 * (n["all", "caught"] + n["all", "timeout"]) / v
  }'

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
