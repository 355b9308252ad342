#!/usr/bin/env python3
"""What limits two cores (docs/performance.md, "What limits two cores"): the whole-process wall
time and CPU time (user + system, from the kernel's accounting of the finished process) of
`trailship ingest --output /dev/null` on the ten largest files of the bench's spread corpus
(target/bench-spread-corpus: scripts/bench.sh builds it), pinned to one core (taskset -c 0) and
on both, taking turns; then an empty folder (start-up alone) with the built-in rules and with
detection off. Prints the median of RUNS runs (default 11) of each.

Usage: scripts/two-cores.py [BINARY] (default target/release/trailship; build it with
`cargo build --release`).
"""
import os, shutil, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "trailship")
RUNS = int(os.environ.get("RUNS", "11"))
CORPUS = os.path.join(ROOT, "target", "bench-spread-corpus")


def run(argv, env):
    """Wall and CPU seconds of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    assert os.waitstatus_to_exitcode(status) == 0, f"{argv} failed"
    return wall, usage.ru_utime + usage.ru_stime


def main():
    files = sorted((f for f in os.listdir(CORPUS) if f.endswith(".gz")),
                   key=lambda f: os.path.getsize(os.path.join(CORPUS, f)), reverse=True)[:10]
    with tempfile.TemporaryDirectory() as work:
        big, empty = os.path.join(work, "big"), os.path.join(work, "empty")
        os.makedirs(big)
        os.makedirs(empty)
        for f in files:
            shutil.copy(os.path.join(CORPUS, f), big)
        env = dict(os.environ, RUST_LOG="warn")
        off = dict(env, TRAILSHIP__DETECT__BUILTIN="false")
        ingest = lambda folder: [BINARY, "ingest", "--output", "/dev/null", folder]
        configs = {
            "one": (["taskset", "-c", "0"] + ingest(big), env),
            "both": (ingest(big), env),
            "empty, built-in rules": (ingest(empty), env),
            "empty, detection off": (ingest(empty), off),
        }
        got = {name: [] for name in configs}
        for _ in range(RUNS):
            for name, (argv, e) in configs.items():
                got[name].append(run(argv, e))
    med = lambda name, i: statistics.median(r[i] for r in got[name])
    one, both = (med("one", 0), med("one", 1)), (med("both", 0), med("both", 1))
    print(f"medians of {RUNS} runs, the spread corpus's ten largest files:")
    print(f"  one core:   wall {one[0]:.3f} s, CPU {one[1]:.3f} s")
    print(f"  both cores: wall {both[0]:.3f} s, CPU {both[1]:.3f} s ({both[1] / both[0]:.2f} cores busy)")
    print(f"  both cores give {one[0] / both[0]:.2f}x one; two threads take "
          f"{100 * (both[1] / one[1] - 1):.0f}% more CPU for the same work")
    for name in ["empty, built-in rules", "empty, detection off"]:
        print(f"an {name.replace('empty', 'empty folder')}: wall {1000 * med(name, 0):.1f} ms, CPU {1000 * med(name, 1):.1f} ms")


if __name__ == "__main__":
    main()
