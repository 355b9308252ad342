//! What a filter saves: the trail corpus with each file's events on one day (as CloudTrail's
//! five-minute files are; [`crate::corpus::build_one_day_corpus`]) through `trailship ingest
//! --output`, built-in rules,
//! one pinned core, without a filter and with `filter.drop` holding one rule that drops the
//! `Describe*`, `Get*` and `List*` calls and `AssumeRole` (some four events in five of that
//! corpus; the built-in rules keep the ones their grouped alerts count):
//! whole-process wall time (best and median, and the paired median of the ratio), events/s,
//! and the bytes of `_bulk` NDJSON written, which is what OpenSearch would be sent.

use crate::wall::{self, Config};
use std::path::Path;
use std::process::Command;

/// The filter rule the bench loads.
const READS: &str = "title: Describe, Get and List calls, and role assumptions
id: 0f3a8c2e-7d41-4b6e-a0c9-2e5b8d1f4a77
logsource:
    product: aws
    service: cloudtrail
detection:
    reads:
        eventName|startswith:
            - Describe
            - Get
            - List
    roles:
        eventName: AssumeRole
    condition: reads or roles
level: informational
";

/// `ingest --output FILE DIR` once with `env`: the bytes written and the summary line.
fn bulk_bytes(dir: &Path, env: &[(String, String)]) -> (u64, String) {
    let out = std::env::temp_dir().join(format!("trailship-bench-filter-{}.ndjson", std::process::id()));
    let run = Command::new(env!("CARGO_BIN_EXE_trailship"))
        .args(["ingest", "--output"])
        .arg(&out)
        .arg(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run trailship ingest");
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let stderr = String::from_utf8_lossy(&run.stderr);
    let summary = stderr.lines().rev().find(|l| l.starts_with("trailship ingest:")).unwrap_or_default().to_owned();
    let bytes = std::fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    let _ = std::fs::remove_file(&out);
    (bytes, summary)
}

/// The tally documents of the drops `ingest --output -` writes (`"dropped":true`).
fn tally_documents(dir: &Path, env: &[(String, String)]) -> usize {
    let run = Command::new(env!("CARGO_BIN_EXE_trailship"))
        .args(["ingest", "--output", "-"])
        .arg(dir)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run trailship ingest");
    run.stdout
        .split(|&b| b == b'\n')
        .filter(|l| l.starts_with(b"{\"day\":") && l.windows(15).any(|w| w == b"\"dropped\":true,"))
        .count()
}

/// Measures the trail corpus without and with the filter and prints what it saves.
pub fn report(root: &Path, dir: &Path, events: u64, runs: usize) {
    let filters = root.join("bench-filter");
    std::fs::create_dir_all(&filters).unwrap();
    std::fs::write(filters.join("reads.yml"), READS).unwrap();
    let with = vec![("TRAILSHIP__FILTER__DROP".to_owned(), filters.display().to_string())];
    let configs = [
        Config { label: "no filter", pinned: true, argv: wall::ingest(dir), env: Vec::new() },
        Config { label: "with the filter", pinned: true, argv: wall::ingest(dir), env: with.clone() },
    ];
    let t = wall::measure(&configs, runs);
    let (plain_bytes, _) = bulk_bytes(dir, &[]);
    let (filtered_bytes, summary) = bulk_bytes(dir, &with);
    let tallies = tally_documents(dir, &with);
    let dropped: u64 = summary
        .split("; ")
        .find(|p| p.contains(" dropped by filters"))
        .and_then(|p| p.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no drop count in the summary: {summary}"));
    for (c, t) in configs.iter().zip(&t) {
        println!(
            "filter, one-day trail corpus, one core, built-in rules, {}: {:.3} s / {:.3} s (best / median of {runs}) = {:.0} / {:.0} events/s read",
            c.label,
            t.best,
            t.median,
            events as f64 / t.best,
            events as f64 / t.median
        );
    }
    println!(
        "filter, one-day trail corpus: the filter drops {dropped} of {events} events ({:.1}%); wall time {:.2}x without it (paired median); \
         _bulk NDJSON {:.1} MB -> {:.1} MB ({:.1}% less, {tallies} tally documents of the drops included)",
        100.0 * dropped as f64 / events as f64,
        wall::paired(&t[1], &t[0]),
        plain_bytes as f64 / 1e6,
        filtered_bytes as f64 / 1e6,
        100.0 * (1.0 - filtered_bytes as f64 / plain_bytes.max(1) as f64)
    );
}
