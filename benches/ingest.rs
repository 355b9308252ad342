//! Throughput benchmark: decode + document building + bulk encoding, as `trailship ingest
//! --output /dev/null` runs them. Run with `cargo bench --bench ingest` (or `scripts/bench.sh`,
//! which prepares the venv for the GeoIP test databases).
//!
//! `BENCH_MODE` picks what runs (comma-separated; default all of them):
//! - `wall`: whole-process wall time as a user measures it with `time` ([`wall`]), against
//!   `zcat` of the same files, one pinned core and both cores, detection off, built-in rules
//!   and SigmaHQ's 57 CloudTrail rules (`benches/sigmahq`) alone and with the built-in ones, peak RSS; on the
//!   throughput corpus, the trail corpus, the trail corpus in CloudTrail's own member order,
//!   the trail corpus pretty-printed (newlines inside every record, compacted as they are
//!   framed) and the spread corpus (files of a few KB to several MB, as a real bucket holds)
//!   ([`corpus`]); then whether each goal holds.
//! - `configs`: the in-process rate of the `ingest` summary line, one core, for detection off /
//!   on and GeoIP off / on (dense test databases built once by `scripts/make-mmdb.py --dense`;
//!   public sources come from a pool of 10,000 addresses, so the cache both hits and misses).
//! - `access`: S3 server access-log files (plain text and gzip), lines/s and MB/s of log text
//!   beside the CloudTrail path's MB/s of decompressed JSON: the per-byte comparison.
//! - `filter`: the trail corpus, each file's events moved to one day as in a real trail,
//!   without and with a filter dropping some four events in five: wall time and `_bulk` bytes
//!   ([`filter`]).
//!
//! Environment: `BENCH_EVENTS` (throughput corpus, default 200000), `BENCH_TRAIL_FILES` (trail
//! corpus, default 300), `BENCH_ACCESS_LINES` (default 400000), `BENCH_RUNS` (default 5).

mod corpus;
mod filter;
mod typical_rules;
mod wall;

use corpus::{
    build_access_corpus, build_corpus, build_one_day_corpus, build_ordered_corpus, build_pretty_corpus,
    build_spread_corpus, build_trail_corpus, inflated_bytes,
};
use std::path::Path;
use std::process::Command;

/// The corpora and environment every mode shares.
struct Bench {
    runs: usize,
    dir: std::path::PathBuf,
    events: u64,
    no_detection: Vec<(String, String)>,
    rules: Vec<(String, String)>,
    /// SigmaHQ's CloudTrail rules (`benches/sigmahq`), the public rule set users load.
    sigmahq: Vec<(String, String)>,
}

fn main() {
    // `cargo bench` passes --bench; a plain `cargo test --benches` passes nothing: skip the work there.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let number = |k: &str, default: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(default);
    let modes = std::env::var("BENCH_MODE").unwrap_or_else(|_| "wall,configs,access,filter".into());
    let modes: Vec<&str> = modes.split(',').map(str::trim).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("target");
    let total = number("BENCH_EVENTS", 200_000);
    let dir = root.join("bench-corpus");
    let (events, bytes) = build_corpus(&dir, total);
    eprintln!(
        "throughput corpus: {events} events in {} files, {:.1} MB gzip, at {}",
        total.div_ceil(1000),
        bytes as f64 / 1e6,
        dir.display()
    );
    let rules = write_rules(&root.join("bench-rules"));
    let var = |k: &str, v: &str| (k.to_owned(), v.to_owned());
    let bench = Bench {
        runs: number("BENCH_RUNS", 5) as usize,
        dir,
        events,
        no_detection: vec![var("TRAILSHIP__DETECT__BUILTIN", "false")],
        rules: vec![var("TRAILSHIP__DETECT__RULES", &rules.display().to_string())],
        sigmahq: vec![var("TRAILSHIP__DETECT__RULES", concat!(env!("CARGO_MANIFEST_DIR"), "/benches/sigmahq"))],
    };
    for mode in modes {
        match mode {
            "wall" => wall_mode(&bench, &root, number("BENCH_TRAIL_FILES", 300)),
            "configs" => configs_mode(&bench, &geoip_databases(&root.join("bench-geoip"))),
            "access" => {
                access_mode(&bench, &geoip_databases(&root.join("bench-geoip")), number("BENCH_ACCESS_LINES", 400_000))
            }
            "filter" => {
                let trail = root.join("bench-trail-corpus");
                let (events, _) = build_trail_corpus(&trail, number("BENCH_TRAIL_FILES", 300));
                let one_day = root.join("bench-one-day-corpus");
                build_one_day_corpus(&one_day, &trail, events);
                filter::report(&root, &one_day, events, bench.runs);
            }
            other => panic!("BENCH_MODE: unknown mode {other:?} (wall, configs, access, filter)"),
        }
    }
}

/// Files in the spread corpus.
const SPREAD_FILES: u64 = 400;

/// Whole-process wall times on every corpus.
fn wall_mode(bench: &Bench, root: &Path, trail_files: u64) {
    let trail = root.join("bench-trail-corpus");
    let (trail_events, trail_bytes) = build_trail_corpus(&trail, trail_files);
    let inflated = inflated_bytes(&trail);
    eprintln!(
        "trail corpus: {trail_events} events in {trail_files} files, {:.1} MB gzip, {:.1} MB of JSON ({:.1}:1), at {}",
        trail_bytes as f64 / 1e6,
        inflated as f64 / 1e6,
        inflated as f64 / trail_bytes as f64,
        trail.display()
    );
    let pretty = root.join("bench-pretty-corpus");
    let (_, pretty_bytes) = build_pretty_corpus(&pretty, &trail, trail_events);
    eprintln!(
        "pretty-printed trail corpus: the same events indented, {:.1} MB gzip, {:.1} MB of JSON, at {}",
        pretty_bytes as f64 / 1e6,
        inflated_bytes(&pretty) as f64 / 1e6,
        pretty.display()
    );
    let ordered = root.join("bench-ordered-corpus");
    let (_, ordered_bytes) = build_ordered_corpus(&ordered, &trail, trail_events);
    eprintln!(
        "trail corpus in CloudTrail's member order: the same events, {:.1} MB gzip, at {}",
        ordered_bytes as f64 / 1e6,
        ordered.display()
    );
    let spread = root.join("bench-spread-corpus");
    let (spread_events, spread_bytes) = build_spread_corpus(&spread, SPREAD_FILES);
    eprintln!(
        "spread corpus: {spread_events} events in {SPREAD_FILES} files of a few KB to several MB, {:.1} MB gzip, {:.1} MB of JSON, at {}",
        spread_bytes as f64 / 1e6,
        inflated_bytes(&spread) as f64 / 1e6,
        spread.display()
    );
    let (runs, off, rules) = (bench.runs, &bench.no_detection, &bench.sigmahq);
    let mut goals = wall::Goals::default();
    for (name, dir, events) in [
        ("throughput corpus", &bench.dir, bench.events),
        ("trail corpus", &trail, trail_events),
        ("trail corpus, CloudTrail's member order", &ordered, trail_events),
        ("pretty-printed trail corpus", &pretty, trail_events),
        ("spread corpus", &spread, spread_events),
    ] {
        goals.add(name, &wall::report(name, dir, events, runs, off, rules));
    }
    goals.print();
}

/// The in-process rate of the summary line, one core, detection and GeoIP off and on.
fn configs_mode(bench: &Bench, geoip: &[(String, String)]) {
    let (dir, runs, events) = (&bench.dir, bench.runs, bench.events);
    let with_geoip: Vec<(String, String)> = bench.rules.iter().chain(geoip).cloned().collect();
    let geoip_only: Vec<(String, String)> = bench.no_detection.iter().chain(geoip).cloned().collect();
    let configs = [
        ("detection off", bench.no_detection.clone()),
        ("detection off, geoip", geoip_only),
        ("built-in rules", Vec::new()),
        ("built-in + 60 rules", bench.rules.clone()),
        ("built-in + 60 rules, geoip", with_geoip),
    ];
    let got = measure_alternately(dir, runs, &configs);
    let (off, geo_only, only_builtin, detect, on) = (got[0], got[1], got[2], got[3], got[4]);
    for (label, (median, best)) in [
        ("detection off, without GeoIP", off),
        ("detection off, with GeoIP (city + asn, cached)", geo_only),
        ("the built-in rules, without GeoIP", only_builtin),
        ("built-in + 60 typical rules, without GeoIP", detect),
        ("built-in + 60 typical rules, with GeoIP (city + asn, cached)", on),
    ] {
        println!(
            "in-process rate, one core, {label}: median {median:.0} events/s, best {best:.0} events/s over {runs} runs of {events} events"
        );
    }
    // How often the rules fire on this corpus: every event in it comes from attack detonations.
    for (label, env) in [("built-in rules", &configs[2].1), ("built-in + 60 rules", &configs[3].1)] {
        let out = Command::new(env!("CARGO_BIN_EXE_trailship"))
            .arg("detect")
            .arg(dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let summary = stderr.lines().rev().find(|l| l.starts_with("trailship detect:")).unwrap_or_default();
        let matches = summary.split("; ").nth(1).and_then(|m| m.split(" (").next()).unwrap_or_default();
        println!("{label}: {matches} on the {events} events of the corpus");
    }
    let cost = |with: f64| 100.0 * (off.0 - with) / off.0;
    println!(
        "detection costs {:.1}% (built-in rules) and {:.1}% (built-in + 60 rules) of the median in-process rate; GeoIP {:.1}%",
        cost(only_builtin.0),
        cost(detect.0),
        cost(geo_only.0)
    );
}

/// Per byte: the CloudTrail path's decompressed JSON against the access-log path's text.
fn access_mode(bench: &Bench, geoip: &[(String, String)], lines_total: u64) {
    let (dir, runs, events) = (&bench.dir, bench.runs, bench.events);
    let geoip_only: Vec<(String, String)> = bench.no_detection.iter().chain(geoip).cloned().collect();
    let got = measure_alternately(dir, runs, &[("detection off", bench.no_detection.clone()), ("geoip", geoip_only)]);
    let (off, geo_only) = (got[0], got[1]);
    let json_bytes = inflated_bytes(dir);
    let per_event = json_bytes as f64 / events as f64;
    let access_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench-access-corpus");
    let (lines, text) = build_access_corpus(&access_dir, lines_total);
    let per_line = text as f64 / lines as f64;
    eprintln!("access corpus: {lines} lines, {:.1} MB of text ({per_line:.0} bytes a line)", text as f64 / 1e6);
    let mb = |rate: f64, per: f64| rate * per / 1e6;
    println!(
        "cloudtrail, one core, without GeoIP: median {:.1} MB/s of decompressed JSON ({per_event:.0} bytes an event)",
        mb(off.0, per_event)
    );
    for (label, sub, env) in
        [("plain text", "plain", &[][..]), ("gzip", "gzip", &[][..]), ("plain text, with GeoIP", "plain", geoip)]
    {
        let (median, best) = measure(&access_dir.join(sub), runs, env);
        println!(
            "s3 access logs ({label}), one core: median {median:.0} lines/s ({:.1} MB/s of log text), best {best:.0} lines/s, over {runs} runs of {lines} lines; {:.2}x the cloudtrail path per byte",
            mb(median, per_line),
            mb(median, per_line) / mb(if env.is_empty() { off.0 } else { geo_only.0 }, per_event)
        );
    }
}

/// Writes the 60 typical rules (`typical_rules.rs`) into `dir`, replacing what was there.
fn write_rules(dir: &Path) -> std::path::PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for (name, yaml) in typical_rules::typical_rules() {
        std::fs::write(dir.join(name), yaml).unwrap();
    }
    dir.to_owned()
}

/// Dense test databases from `scripts/make-mmdb.py --dense` (the test venv's Python), built
/// once: every public address in the corpus finds a record, as on a full GeoLite2 file.
fn geoip_databases(dir: &Path) -> Vec<(String, String)> {
    let stamp = dir.join(".complete-v1");
    if !stamp.exists() {
        let venv = std::env::var("TRAILSHIP_TEST_VENV")
            .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/.venv").to_owned());
        let status = Command::new(Path::new(&venv).join("bin/python"))
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/make-mmdb.py"))
            .arg("--dense")
            .arg(dir)
            .status()
            .expect("run scripts/make-mmdb.py with the test venv (scripts/test-env.sh creates it)");
        assert!(status.success());
        std::fs::write(&stamp, b"ok").unwrap();
    }
    vec![
        ("TRAILSHIP__GEOIP__CITY_DB".into(), dir.join("city.mmdb").display().to_string()),
        ("TRAILSHIP__GEOIP__ASN_DB".into(), dir.join("asn.mmdb").display().to_string()),
    ]
}

/// Runs the ingest `runs` times; returns the median and best events/s.
fn measure(dir: &Path, runs: usize, env: &[(String, String)]) -> (f64, f64) {
    measure_alternately(dir, runs, &[("", env.to_vec())])[0]
}

/// Runs each configuration `runs` times, taking turns (one run of each, then again), so a
/// machine that slows down or speeds up meanwhile weighs on all of them alike. Per
/// configuration: the median and the best events/s.
fn measure_alternately(dir: &Path, runs: usize, configs: &[(&str, Vec<(String, String)>)]) -> Vec<(f64, f64)> {
    let bin = env!("CARGO_BIN_EXE_trailship");
    let mut rates = vec![Vec::new(); configs.len()];
    for run in 1..=runs {
        for (n, (label, env)) in configs.iter().enumerate() {
            let out = Command::new("taskset")
                .args(["-c", "0", bin, "ingest", "--output", "/dev/null"])
                .arg(dir)
                .env("RUST_LOG", "warn")
                .envs(env.iter().map(|(k, v)| (k, v)))
                .output()
                .expect("run trailship under taskset (util-linux)");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{stderr}");
            let summary = stderr.lines().rev().find(|l| l.starts_with("trailship ingest:")).unwrap().to_owned();
            assert!(summary.contains("(0 invalid records"), "the corpus must be all valid records: {summary}");
            let rate: f64 = summary.split(" events/s").next().unwrap().rsplit(' ').next().unwrap().parse().unwrap();
            eprintln!("run {run}{}: {summary}", if label.is_empty() { String::new() } else { format!(" ({label})") });
            rates[n].push(rate);
        }
    }
    rates
        .into_iter()
        .map(|mut r| {
            r.sort_by(|a, b| a.partial_cmp(b).unwrap());
            (r[r.len() / 2], r[r.len() - 1])
        })
        .collect()
}
