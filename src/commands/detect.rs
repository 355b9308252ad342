//! `trailship detect`: loads the rules (`detect.builtin`, `detect.rules`, `--rules`) and, with
//! `--filters`, the filter rules (`filter.drop` and those), runs [`crate::pipeline::detect`]
//! over local files and prints the summary line. A rule file that is not valid Sigma is a
//! configuration error (exit 2) naming the file and the reason.

use super::common::{CommandError, load_filter, load_rules, rate};
use super::logging::say;
use crate::config::Config;
use crate::pipeline::{detect, ingest};
use crate::sources::Routed;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// `trailship detect`.
pub async fn detect(
    cfg: &Config,
    extra_rules: Vec<PathBuf>,
    filters: Vec<PathBuf>,
    paths: Vec<PathBuf>,
) -> Result<(), CommandError> {
    let loaded = load_rules(cfg, &extra_rules)?;
    let filtering = if filters.is_empty() {
        None
    } else {
        let mut with = cfg.clone();
        with.filter.drop.extend(filters);
        Some((Arc::new(load_filter(&with)?), cfg.alerts.group_levels.clone()))
    };
    let sources = super::common::sources(cfg);
    let mut found = ingest::collect_files(&paths, &sources);
    for missing in &found.missing {
        tracing::error!(error = %missing, "cannot read path");
    }
    // The rules are written for CloudTrail: files of sources without detection are skipped.
    let before = found.files.len();
    found.files.retain(|f| matches!(sources.route_path(f), Routed::Index(source, _) if source.detects()));
    let undetected = before - found.files.len();
    let frame = super::common::frame_limits(cfg);
    let started = Instant::now();
    let detector = Arc::new(loaded.detector);
    let s = detect::detect_files(found.files, detector, filtering, frame, Box::new(std::io::stdout())).await;
    let secs = started.elapsed().as_secs_f64();
    let filtered = match &s.filtered {
        None => String::new(),
        Some(f) => format!(
            "; filters would drop {} of {} events ({:.1}%), keep {} that grouped or correlation rules count, and \
             still make {} alerts from the dropped ones",
            f.dropped,
            s.events,
            if s.events == 0 { 0.0 } else { 100.0 * f.dropped as f64 / s.events as f64 },
            f.kept,
            f.alerts
        ),
    };
    say(
        tracing::Level::INFO,
        &format!(
            "trailship detect: {} files, {} events in {secs:.2} s, {} events/s; {} matches of {} rules ({} rules loaded, \
             {} built in; {} skipped for other log sources); {} invalid records, {} files of other log sources skipped, {} files \
             failed{filtered}",
            s.files,
            s.events,
            rate(s.events, secs),
            s.matches,
            s.per_rule.len(),
            loaded.rules,
            loaded.builtin,
            loaded.skipped,
            s.invalid,
            undetected,
            s.failed + found.missing.len()
        ),
    );
    if s.failed + found.missing.len() > 0 {
        return Err(anyhow::anyhow!("{} files failed (see the errors above)", s.failed + found.missing.len()).into());
    }
    Ok(())
}
