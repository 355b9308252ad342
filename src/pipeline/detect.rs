//! `trailship detect`: the Sigma rules over local CloudTrail files, with no OpenSearch — for
//! trying new rules against history. One line per match (time, level, rule, eventName, user,
//! source IP, eventID) as the records are read, then one line per rule with its count. The
//! files are read in order on one blocking thread (the output order is the files' order).

use crate::decode::{FrameLimits, RawEvent, maybe_gunzip};
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
}

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

/// Evaluates `detector` over every record of `files`, writing match lines to `out`.
pub async fn detect_files(
    files: Vec<PathBuf>,
    detector: Arc<Detector>,
    frame: FrameLimits,
    mut out: Box<dyn Write + Send>,
) -> DetectSummary {
    tokio::task::spawn_blocking(move || {
        let mut s = DetectSummary::default();
        for path in files {
            match detect_file(&path, &detector, frame, &mut *out, &mut s) {
                Ok(()) => s.files += 1,
                Err(e) => {
                    s.failed += 1;
                    tracing::error!(path = %path.display(), error = %e, "cannot read file");
                }
            }
        }
        let mut ranked: Vec<_> = s.per_rule.iter().collect();
        ranked.sort_by(|a, b| b.1.cmp(a.1).then_with(|| b.0.0.cmp(&a.0.0)).then_with(|| a.0.1.cmp(&b.0.1)));
        let _ = writeln!(out);
        for ((level, title, id), n) in ranked {
            let _ = writeln!(out, "{n:>7}  {:<13} {title}  ({id})", level.as_str());
        }
        let _ = out.flush();
        s
    })
    .await
    .expect("the detect thread does not panic")
}

fn detect_file(
    path: &std::path::Path,
    detector: &Detector,
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
        for m in detector.matches(&ev) {
            s.matches += 1;
            *s.per_rule.entry((m.level, m.title.to_string(), m.id.to_string())).or_default() += 1;
            writeln!(out, "{}", line(&ev, m.level, &m.title))?;
        }
    }
    Ok(())
}
