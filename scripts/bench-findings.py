#!/usr/bin/env python3
"""What the findings pass costs `ingest` into a cluster, for docs/performance.md and
docs/anomalies.md: the same files ingested into a fresh osmem with everything on (the defaults:
built-in single-event and correlation rules, grouped low alerts, the behavioural detections and
the pass at the end) and with all of it off (`detect.builtin = false`, `anomalies.enabled =
false`), taking turns, round after round; then `trailship anomalies` over the same days on the
filled cluster, which is the pass alone.

    .venv/bin/python scripts/bench-findings.py TRAILSHIP_BINARY [CORPUS_DIR] [FILES] [ROUNDS]

CORPUS_DIR defaults to the benchmark's trail corpus (target/bench-trail-corpus, written by
`scripts/bench.sh`), FILES to 40 of its files, ROUNDS to 5. The files are re-stamped as a trail
delivers them, file after file of five minutes each (the benchmark's own files spread their
events over a month, which would make the pass recompute a month for a few thousand events). Prints the medians, the paired
ratio (median over the rounds of on / off within a round) and whether everything on keeps at
least 85% of the throughput. osmem answers aggregations far slower than OpenSearch, so the
pass's share is, if anything, overstated.
"""
import gzip
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module  # noqa: E402

backfill = import_module("bench-backfill")

OFF = {"TRAILSHIP__DETECT__BUILTIN": "false", "TRAILSHIP__ANOMALIES__ENABLED": "false"}


def run(binary, args, url, extra, cwd):
    env = {"PATH": os.environ["PATH"], "TRAILSHIP__OPENSEARCH__URL": url, "RUST_LOG": "warn", **extra}
    started = time.monotonic()
    done = subprocess.run([binary, *args], env=env, cwd=cwd, capture_output=True, text=True)
    wall = time.monotonic() - started
    summary = [l for l in done.stderr.splitlines() if l.startswith("trailship ")]
    if done.returncode != 0 or not summary:
        raise SystemExit(f"trailship {' '.join(args)} failed: {done.stderr}")
    return wall, summary[-1]


def event_days(url):
    """The first and last day of the indexed events, `YYYY-MM-DD`."""
    body = json.dumps({"size": 0, "aggs": {"first": {"min": {"field": "@timestamp"}},
                                           "last": {"max": {"field": "@timestamp"}}}}).encode()
    request = urllib.request.Request(f"{url}/cloudtrail-*/_search", data=body,
                                     headers={"Content-Type": "application/json"})
    aggs = json.load(urllib.request.urlopen(request, timeout=60))["aggregations"]
    day = lambda ms: time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))  # noqa: E731
    return day(aggs["first"]["value"]), day(aggs["last"]["value"])


def ingest(binary, files, extra):
    """One ingest into a fresh osmem: (wall seconds, events, findings written, the pass's days)."""
    osmem, url = backfill.start_osmem()
    try:
        with tempfile.TemporaryDirectory() as cwd:
            wall, summary = run(binary, ["ingest", files], url, extra, cwd)
            events = int(re.search(r"(\d+) events", summary).group(1))
            found = re.search(r"(\d+) findings written", summary)
            pass_wall = None
            if not extra:
                first, last = event_days(url)
                pass_wall, _ = run(binary, ["anomalies", "--from", first, "--to", last], url, {}, cwd)
            return wall, events, int(found.group(1)) if found else 0, pass_wall
    finally:
        osmem.terminate()
        osmem.wait()


def main():
    binary = os.path.abspath(sys.argv[1])
    corpus = sys.argv[2] if len(sys.argv) > 2 else "target/bench-trail-corpus"
    count = int(sys.argv[3]) if len(sys.argv) > 3 else 40
    rounds = int(sys.argv[4]) if len(sys.argv) > 4 else 5
    names = sorted(f for f in os.listdir(corpus) if f.endswith(".json.gz"))[:count]
    if not names:
        raise SystemExit(f"no .json.gz files in {corpus}: run scripts/bench.sh first")
    with tempfile.TemporaryDirectory() as files:
        start = 1_740_787_200  # 2025-03-01T00:00:00Z
        for k, n in enumerate(names):
            with gzip.open(os.path.join(corpus, n)) as f:
                log = json.load(f)
            records = log["Records"]
            for i, r in enumerate(records):
                at = start + 300 * k + 300 * i // len(records)
                r["eventTime"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
            with gzip.open(os.path.join(files, n), "wt") as f:
                json.dump(log, f)
        on, off, ratios, passes = [], [], [], []
        for r in range(rounds):
            order = [("on", {}), ("off", OFF)] if r % 2 == 0 else [("off", OFF), ("on", {})]
            got = {}
            for name, extra in order:
                got[name] = ingest(binary, files, extra)
            on.append(got["on"][0])
            off.append(got["off"][0])
            passes.append(got["on"][3])
            ratios.append(got["off"][0] / got["on"][0])
            events, findings = got["on"][1], got["on"][2]
    med_on, med_off, share = statistics.median(on), statistics.median(off), statistics.median(ratios)
    print(f"{len(names)} files, {events} events, {rounds} rounds, a fresh osmem per run")
    print(f"everything off: {med_off:.2f} s median, {events / med_off:,.0f} events/s")
    print(f"everything on:  {med_on:.2f} s median, {events / med_on:,.0f} events/s, {findings} findings written")
    print(f"the pass alone (trailship anomalies over the same days): {statistics.median(passes):.2f} s median")
    verdict = "holds" if share >= 0.85 else "does not hold"
    print(f"everything on keeps {share:.1%} of the throughput (paired median); the goal of at least 85% {verdict}")


if __name__ == "__main__":
    main()
