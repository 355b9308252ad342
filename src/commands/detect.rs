//! `trailship detect`: loads the rules (`detect.builtin`, `detect.rules`, `--rules`), runs
//! [`crate::pipeline::detect`] over local files and prints the summary line. A rule file that
//! is not valid Sigma is a configuration error (exit 2) naming the file and the reason.

use super::{CommandError, rate, say};
use crate::config::{Config, ConfigError};
use crate::detect::rules;
use crate::pipeline::{detect, ingest};
use crate::route::{LogKind, classify_local_path};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Loads the configured rules plus `extra`; logs how many and how many were skipped.
pub fn load_rules(cfg: &Config, extra: &[PathBuf]) -> Result<rules::Loaded, ConfigError> {
    let paths: Vec<PathBuf> = cfg.detect.rules.iter().chain(extra).cloned().collect();
    let loaded = rules::load(cfg.detect.builtin, &paths)
        .map_err(|e| ConfigError { key: "detect.rules".into(), message: e.to_string() })?;
    tracing::info!(
        rules = loaded.rules,
        builtin = loaded.builtin,
        skipped = loaded.skipped,
        "sigma rules loaded ({} skipped: other log sources or correlations)",
        loaded.skipped
    );
    Ok(loaded)
}

/// `trailship detect`.
pub async fn detect(cfg: &Config, extra_rules: Vec<PathBuf>, paths: Vec<PathBuf>) -> Result<(), CommandError> {
    let loaded = load_rules(cfg, &extra_rules)?;
    let mut found = ingest::collect_files(&paths);
    for missing in &found.missing {
        tracing::error!(error = %missing, "cannot read path");
    }
    // Access logs are not CloudTrail records: the rules are written for CloudTrail.
    let before = found.files.len();
    found.files.retain(|f| classify_local_path(f) != LogKind::S3Access);
    let access_logs = before - found.files.len();
    let frame = super::frame_limits(cfg);
    let started = Instant::now();
    let detector = Arc::new(loaded.detector);
    let s = detect::detect_files(found.files, detector, frame, Box::new(std::io::stdout())).await;
    let secs = started.elapsed().as_secs_f64();
    say(
        tracing::Level::INFO,
        &format!(
            "trailship detect: {} files, {} events in {secs:.2} s, {} events/s; {} matches of {} rules ({} rules loaded, \
             {} built in; {} skipped for other log sources); {} invalid records, {} access-log files skipped, {} files \
             failed",
            s.files,
            s.events,
            rate(s.events, secs),
            s.matches,
            s.per_rule.len(),
            loaded.rules,
            loaded.builtin,
            loaded.skipped,
            s.invalid,
            access_logs,
            s.failed + found.missing.len()
        ),
    );
    if s.failed + found.missing.len() > 0 {
        return Err(anyhow::anyhow!("{} files failed (see the errors above)", s.failed + found.missing.len()).into());
    }
    Ok(())
}
