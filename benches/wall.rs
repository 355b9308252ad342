//! Whole-process figures, as a user measures them with `time`: the wall time of
//! `trailship ingest --output /dev/null DIR` from spawn to exit (start-up, rule compilation and
//! the last flush included), against the wall time of `zcat DIR/*.gz > /dev/null` on the same
//! files, on one pinned core (`taskset -c 0`) and on both cores; peak RSS from GNU time's `%M`.
//! Each configuration runs `runs` times, taking turns with the others, and reports its best
//! and median.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// One measured command: a label, whether it is pinned to one core, and its argv.
pub struct Config {
    pub label: &'static str,
    pub pinned: bool,
    pub argv: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Best and median wall seconds, the largest peak RSS seen (MB), and every run's seconds in
/// the order they ran (round by round, as the configurations took turns).
#[derive(Clone, Debug)]
pub struct Timing {
    pub best: f64,
    pub median: f64,
    pub rss_mb: f64,
    pub runs: Vec<f64>,
}

/// The median over rounds of `a`'s time over `b`'s in the same round: runs that took turns
/// share the machine's mood of the moment, so on a noisy machine this ratio holds steadier than
/// one of bests.
pub fn paired(a: &Timing, b: &Timing) -> f64 {
    let mut ratios: Vec<f64> = a.runs.iter().zip(&b.runs).map(|(x, y)| x / y).collect();
    ratios.sort_by(|x, y| x.partial_cmp(y).unwrap());
    ratios[ratios.len() / 2]
}

/// Runs every configuration `runs` times, alternately.
pub fn measure(configs: &[Config], runs: usize) -> Vec<Timing> {
    let rss_file = std::env::temp_dir().join(format!("trailship-bench-rss-{}", std::process::id()));
    let mut secs = vec![Vec::new(); configs.len()];
    let mut rss = vec![0u64; configs.len()];
    for _ in 0..runs {
        for (n, c) in configs.iter().enumerate() {
            let mut cmd = Command::new("/usr/bin/time");
            cmd.arg("-f").arg("%M").arg("-o").arg(&rss_file);
            if c.pinned {
                cmd.args(["taskset", "-c", "0"]);
            }
            cmd.args(&c.argv).envs(c.env.iter().map(|(k, v)| (k, v))).env("RUST_LOG", "warn");
            cmd.stdout(Stdio::null()).stderr(Stdio::piped());
            let start = Instant::now();
            let out = cmd.output().expect("run the command under GNU time (/usr/bin/time) and taskset");
            let took = start.elapsed().as_secs_f64();
            assert!(out.status.success(), "{}: {}", c.label, String::from_utf8_lossy(&out.stderr));
            let stderr = String::from_utf8_lossy(&out.stderr);
            if let Some(summary) = stderr.lines().rev().find(|l| l.starts_with("trailship ingest:")) {
                assert!(summary.contains("(0 invalid records"), "the corpus must be all valid records: {summary}");
            }
            let kb: u64 = std::fs::read_to_string(&rss_file).unwrap().trim().parse().unwrap();
            rss[n] = rss[n].max(kb);
            secs[n].push(took);
        }
    }
    let _ = std::fs::remove_file(&rss_file);
    secs.into_iter()
        .zip(rss)
        .map(|(runs, kb)| {
            let mut s = runs.clone();
            s.sort_by(|a, b| a.partial_cmp(b).unwrap());
            Timing { best: s[0], median: s[s.len() / 2], rss_mb: kb as f64 / 1024.0, runs }
        })
        .collect()
}

/// `sh -c 'zcat DIR/*.gz > /dev/null'`: only inflating the files.
pub fn zcat(dir: &Path) -> Vec<String> {
    vec!["sh".into(), "-c".into(), format!("zcat '{}'/*.gz > /dev/null", dir.display())]
}

/// `trailship ingest --output /dev/null DIR`.
pub fn ingest(dir: &Path) -> Vec<String> {
    vec![
        env!("CARGO_BIN_EXE_trailship").into(),
        "ingest".into(),
        "--output".into(),
        "/dev/null".into(),
        dir.display().to_string(),
    ]
}

/// Measures one corpus as a user would and prints one line per figure; returns the figures the
/// goals are judged on.
pub fn report(
    name: &str,
    dir: &Path,
    events: u64,
    runs: usize,
    no_detection: &[(String, String)],
    rules: &[(String, String)],
) -> Figures {
    // The same rules with no level grouped: every match of every rule writes an alert document.
    let ungrouped: Vec<(String, String)> =
        rules.iter().cloned().chain([("TRAILSHIP__ALERTS__GROUP_LEVELS".to_owned(), " ".to_owned())]).collect();
    // The rule set on its own: the built-in rules off.
    let alone: Vec<(String, String)> = no_detection.iter().chain(rules).cloned().collect();
    let cfg =
        |label, pinned, argv: Vec<String>, env: &[(String, String)]| Config { label, pinned, argv, env: env.to_vec() };
    let configs = [
        cfg("zcat, one core", true, zcat(dir), &[]),
        cfg("ingest, one core, detection off", true, ingest(dir), no_detection),
        cfg("ingest, one core, built-in rules", true, ingest(dir), &[]),
        cfg("ingest, one core, built-in + SigmaHQ CloudTrail rules", true, ingest(dir), rules),
        cfg("ingest, both cores, detection off", false, ingest(dir), no_detection),
        cfg("ingest, both cores, built-in rules", false, ingest(dir), &[]),
        cfg("ingest, one core, built-in + SigmaHQ, no alert grouped", true, ingest(dir), &ungrouped),
        cfg("ingest, one core, SigmaHQ CloudTrail rules alone", true, ingest(dir), &alone),
    ];
    let t = measure(&configs, runs);
    let zcat = &t[0];
    println!("{name} (wall time, best / median of {runs}): zcat one core {:.3} s / {:.3} s", zcat.best, zcat.median);
    for (c, t) in configs.iter().zip(&t).skip(1) {
        println!(
            "{name}: {}: {:.3} s / {:.3} s = {:.0} / {:.0} events/s, {:.2}x zcat (best), peak RSS {:.0} MB",
            c.label,
            t.best,
            t.median,
            events as f64 / t.best,
            events as f64 / t.median,
            t.best / zcat.best,
            t.rss_mb
        );
    }
    let cost = |with: &Timing, without: &Timing| 100.0 * (paired(with, without) - 1.0);
    let (grouped_alerts, all_alerts) = (alert_documents(dir, rules), alert_documents(dir, &ungrouped));
    // The median over the rounds of the time the extra alert documents took, per document.
    let mut extra: Vec<f64> = t[6].runs.iter().zip(&t[3].runs).map(|(all, grouped)| all - grouped).collect();
    extra.sort_by(f64::total_cmp);
    let per_alert_us = 1e6 * extra[extra.len() / 2] / (all_alerts - grouped_alerts).max(1) as f64;
    println!(
        "{name}: built-in + SigmaHQ write {grouped_alerts} alert documents grouped as by default, {all_alerts} with no level grouped; each extra alert document costs {per_alert_us:.2} us on one core (paired median)"
    );
    let figures = Figures {
        events_per_sec: events as f64 / t[2].median,
        zcat_ratio: paired(&t[2], zcat),
        builtin_cost: cost(&t[2], &t[1]),
        sigmahq_cost: cost(&t[7], &t[1]),
        with_builtin_cost: cost(&t[3], &t[1]),
        both_cores: paired(&t[2], &t[5]),
        rss_both_mb: t[5].rss_mb.max(t[4].rss_mb),
        per_alert_us,
    };
    println!(
        "{name}, paired (median over the {runs} rounds of the ratio within a round): built-in rules, one core: {:.0} events/s (median), {:.2}x zcat; detection costs {:.1}% (built-in rules), {:.1}% (SigmaHQ alone) and {:.1}% (built-in + SigmaHQ); both cores give {:.2}x (detection off) and {:.2}x (built-in rules) the one-core throughput",
        figures.events_per_sec,
        figures.zcat_ratio,
        figures.builtin_cost,
        figures.sigmahq_cost,
        figures.with_builtin_cost,
        paired(&t[1], &t[4]),
        figures.both_cores
    );
    figures
}

/// One corpus's figures the goals are judged on (paired medians).
#[derive(Debug, Clone)]
pub struct Figures {
    /// One core, built-in rules: events per second (median run).
    pub events_per_sec: f64,
    /// One core, built-in rules, against zcat on one core.
    pub zcat_ratio: f64,
    /// What the built-in rules cost over detection off, percent.
    pub builtin_cost: f64,
    /// What SigmaHQ's rules alone (the built-in ones off) cost over detection off, percent.
    pub sigmahq_cost: f64,
    /// What the built-in + SigmaHQ rules cost over detection off, percent.
    pub with_builtin_cost: f64,
    /// Both cores against one, built-in rules.
    pub both_cores: f64,
    /// Peak RSS on both cores, MB.
    pub rss_both_mb: f64,
    /// What one alert document written costs on one core, microseconds.
    pub per_alert_us: f64,
}

/// How many alert documents `ingest` writes for the files of `dir` with `env` (one run, its
/// output counted by the index of each action line).
fn alert_documents(dir: &Path, env: &[(String, String)]) -> u64 {
    let out = std::env::temp_dir().join(format!("trailship-bench-alerts-{}.ndjson", std::process::id()));
    let mut argv = ingest(dir);
    argv[3] = out.display().to_string();
    let status = Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("RUST_LOG", "warn")
        .stderr(Stdio::null())
        .status()
        .expect("run trailship ingest");
    assert!(status.success(), "ingest into {} failed", out.display());
    let text = std::fs::read_to_string(&out).expect("read the ingest output");
    let _ = std::fs::remove_file(&out);
    text.lines().filter(|l| l.starts_with(r#"{"create":{"_index":"trailship-alerts"#)).count() as u64
}

/// The goals, judged over every corpus measured.
#[derive(Debug, Default)]
pub struct Goals(Vec<(String, Figures)>);

impl Goals {
    /// Adds one corpus's figures.
    pub fn add(&mut self, name: &str, figures: &Figures) {
        self.0.push((name.to_owned(), figures.clone()));
    }

    /// Prints each goal with the corpora's figures and whether it holds on every one.
    pub fn print(&self) {
        type Goal = (&'static str, fn(&Figures) -> f64, fn(f64) -> bool, &'static str);
        let goals: [Goal; 7] = [
            (
                "one core, built-in rules, at least 200,000 events/s",
                |f| f.events_per_sec,
                |v| v >= 200_000.0,
                "events/s",
            ),
            ("one core, built-in rules, at most 1.2x zcat", |f| f.zcat_ratio, |v| v <= 1.2, "x"),
            (
                "everything on (the defaults) keeps at least 85% of the throughput of everything off",
                |f| 100.0 / (1.0 + f.builtin_cost / 100.0),
                |v| v >= 85.0,
                "%",
            ),
            ("SigmaHQ's CloudTrail rules cost at most 15% over detection off", |f| f.sigmahq_cost, |v| v <= 15.0, "%"),
            (
                "the built-in rules and SigmaHQ's together cost at most 15% over detection off",
                |f| f.with_builtin_cost,
                |v| v <= 15.0,
                "%",
            ),
            ("both cores at least 1.8x one core", |f| f.both_cores, |v| v >= 1.8, "x"),
            ("peak RSS under 100 MB on both cores", |f| f.rss_both_mb, |v| v < 100.0, "MB"),
        ];
        for (goal, figure, holds, unit) in goals {
            let digits = match unit {
                "x" => 2,
                "%" => 1,
                _ => 0,
            };
            let values: Vec<String> =
                self.0.iter().map(|(n, f)| format!("{n} {:.digits$} {unit}", figure(f))).collect();
            let verdict = if self.0.iter().all(|(_, f)| holds(figure(f))) { "holds" } else { "does not hold" };
            println!("goal: {goal}: {verdict} ({})", values.join(", "));
        }
        let per_alert: Vec<String> = self.0.iter().map(|(n, f)| format!("{n} {:.2} us", f.per_alert_us)).collect();
        println!("figure: one alert document written costs, one core: {}", per_alert.join(", "));
    }
}
