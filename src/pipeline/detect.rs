//! `trailship detect`: the Sigma rules over local CloudTrail files, with no OpenSearch — for
//! trying new rules against history. One line per match (time, level, rule, eventName, user,
//! source IP, eventID) as the records are read, then one line per rule with its count. With
//! filter rules (`--filters`), what they would drop instead, as ingest decides it: per filter
//! rule and per eventName, the events a grouped or correlation rule keeps, and the alerts the
//! dropped events still make. The files are read in order on one blocking thread (the output
//! order is the files' order).

use crate::decode::{FrameLimits, RawEvent, maybe_gunzip};
use crate::detect::filter::Filter;
use crate::detect::{Detector, Level};
use crate::sources::cloudtrail::enrich::facts::Identity;
use crate::sources::cloudtrail::framing::{Framed, RecordReader};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

/// Totals over a detect run.
#[derive(Debug, Default, Clone)]
pub struct DetectSummary {
    /// Files read.
    pub files: usize,
    /// Files that could not be read or decoded.
    pub failed: usize,
    /// Records evaluated.
    pub events: usize,
    /// Records that are not JSON objects (or over `limits.max_record_bytes`), not evaluated.
    pub invalid: usize,
    /// Matches, all rules.
    pub matches: usize,
    /// Matches per rule: (level, title, id) → count.
    pub per_rule: BTreeMap<(Level, String, String), usize>,
    /// What the filter rules would drop, when there are some.
    pub filtered: Option<Filtered>,
}

/// What filter rules would do to the records read.
#[derive(Debug, Default, Clone)]
pub struct Filtered {
    /// Records dropped.
    pub dropped: usize,
    /// Dropped per filter rule: (title, id) → count.
    pub per_rule: BTreeMap<(String, String), usize>,
    /// Dropped per `eventName`.
    pub per_name: BTreeMap<String, usize>,
    /// Records a filter matched but a grouped or correlation rule keeps (indexed anyway).
    pub kept: usize,
    /// Alert documents the dropped records still make.
    pub alerts: usize,
}

/// Filter rules, and the alert levels grouped (`alerts.group_levels`).
pub type Filtering = (Arc<Filter>, Vec<Level>);

/// One match as a line: `time  level  title  eventName  user  sourceIP  eventID`.
fn line(ev: &RawEvent<'_>, level: Level, title: &str) -> String {
    let text = |key: &str| ev.get_str(key).map(|s| s.into_owned()).unwrap_or_else(|| "-".into());
    let user = ev
        .get("userIdentity")
        .and_then(|raw| serde_json::from_str::<Identity<'_>>(raw.get()).ok())
        .and_then(|i| i.user_name())
        .unwrap_or_else(|| "-".into());
    format!(
        "{}  {:<13} {}  {}  {}  {}  {}",
        text("eventTime"),
        level.as_str(),
        title,
        text("eventName"),
        user,
        text("sourceIPAddress"),
        text("eventID")
    )
}

/// Evaluates `detector` over every record of `files`, writing match lines to `out`; with
/// `filtering`, what the filters would drop instead of the match lines.
pub async fn detect_files(
    files: Vec<PathBuf>,
    detector: Arc<Detector>,
    filtering: Option<Filtering>,
    frame: FrameLimits,
    mut out: Box<dyn Write + Send>,
) -> DetectSummary {
    tokio::task::spawn_blocking(move || {
        let mut s = DetectSummary { filtered: filtering.as_ref().map(|_| Filtered::default()), ..Default::default() };
        for path in files {
            match detect_file(&path, (&detector, filtering.as_ref()), frame, &mut *out, &mut s) {
                Ok(()) => s.files += 1,
                Err(e) => {
                    s.failed += 1;
                    tracing::error!(path = %path.display(), error = %e, "cannot read file");
                }
            }
        }
        let _ = match &s.filtered {
            Some(f) => write_filtered(&mut *out, f, s.events),
            None => write_per_rule(&mut *out, &s),
        };
        let _ = out.flush();
        s
    })
    .await
    .expect("the detect thread does not panic")
}

/// One line per rule with its count, most matches first.
fn write_per_rule(out: &mut dyn Write, s: &DetectSummary) -> std::io::Result<()> {
    let mut ranked: Vec<_> = s.per_rule.iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| b.0.0.cmp(&a.0.0)).then_with(|| a.0.1.cmp(&b.0.1)));
    writeln!(out)?;
    for ((level, title, id), n) in ranked {
        writeln!(out, "{n:>7}  {:<13} {title}  ({id})", level.as_str())?;
    }
    Ok(())
}

/// What the filters would drop: per rule, then per eventName, most first, with the share of
/// all records read.
fn write_filtered(out: &mut dyn Write, f: &Filtered, events: usize) -> std::io::Result<()> {
    let share = |n: usize| if events == 0 { 0.0 } else { 100.0 * n as f64 / events as f64 };
    let mut rules: Vec<_> = f.per_rule.iter().collect();
    rules.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    writeln!(out, "dropped per filter rule:")?;
    for ((title, id), n) in rules {
        writeln!(out, "{n:>9}  {:>5.1}%  {title}  ({id})", share(*n))?;
    }
    let mut names: Vec<_> = f.per_name.iter().collect();
    names.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    writeln!(out, "dropped per eventName:")?;
    for (name, n) in names {
        writeln!(out, "{n:>9}  {:>5.1}%  {name}", share(*n))?;
    }
    Ok(())
}

/// Counts what the filters would do to `ev`, whose detection matches are `matches`.
fn filter_record(ev: &RawEvent<'_>, matches: &[crate::detect::Match], filtering: &Filtering, f: &mut Filtered) {
    let (filter, group_levels) = filtering;
    let Some(rule) = filter.dropping(ev) else { return };
    if matches.iter().any(|m| m.needs_event(group_levels)) {
        f.kept += 1;
        return;
    }
    f.dropped += 1;
    f.alerts += matches.iter().filter(|m| !m.silent).count();
    let rule = filter.rule(rule);
    *f.per_rule.entry((rule.title.clone(), rule.id.clone())).or_default() += 1;
    let name = ev.get_str("eventName").map(|n| n.into_owned()).unwrap_or_else(|| "-".into());
    *f.per_name.entry(name).or_default() += 1;
}

fn detect_file(
    path: &std::path::Path,
    (detector, filtering): (&Detector, Option<&Filtering>),
    frame: FrameLimits,
    out: &mut dyn Write,
    s: &mut DetectSummary,
) -> Result<(), Box<dyn std::error::Error>> {
    let file = std::fs::File::open(path)?;
    let mut records = RecordReader::with_limits(maybe_gunzip(file)?, frame);
    while let Some(framed) = records.next_record()? {
        let Framed::Record { bytes, .. } = framed else {
            s.invalid += 1;
            continue;
        };
        let Ok(ev) = RawEvent::parse(bytes) else {
            s.invalid += 1;
            continue;
        };
        s.events += 1;
        let matches = detector.matches(&ev);
        for m in &matches {
            s.matches += 1;
            *s.per_rule.entry((m.level, m.title.to_string(), m.id.to_string())).or_default() += 1;
        }
        match (filtering, s.filtered.as_mut()) {
            (Some(filtering), Some(f)) => filter_record(&ev, &matches, filtering, f),
            _ => {
                for m in &matches {
                    writeln!(out, "{}", line(&ev, m.level, &m.title))?;
                }
            }
        }
    }
    Ok(())
}
