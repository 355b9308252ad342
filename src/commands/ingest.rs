//! `trailship ingest`: local files into OpenSearch, or as `_bulk` NDJSON into a file.

use super::alerts;
use super::common::{CommandError, NOTIFY_AT_EXIT, budget, decoder_and_findings, indexer, peak_memory, rate};
use super::logging::say;
use super::setup::install_templates;
use crate::config::Config;
use crate::pipeline::ingest::{self, Destination, IngestLimits};
use crate::touched::Touched;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The largest batch `ingest --output` writes at once.
const OUTPUT_BATCH_BYTES: usize = 256 << 10;

/// `trailship ingest`.
pub async fn ingest(cfg: &Config, output: Option<PathBuf>, paths: Vec<PathBuf>) -> Result<(), CommandError> {
    let (accounts, _) = super::names::accounts(cfg).await;
    let (mut decoder, findings) = decoder_and_findings(cfg, &accounts)?;
    if output.is_some() {
        // The output is the batches one after the other, whatever their size: small ones stay
        // in the cache between being written by the decoder and by the output (5 MB batches
        // made two cores 1.4x one on files of several MB; 256 KiB ones 1.6x).
        let limits = &mut decoder.with.limits;
        limits.max_bytes = limits.max_bytes.min(OUTPUT_BATCH_BYTES);
    }
    let decoder = Arc::new(decoder);
    let filter = decoder.filter.clone();
    let mut found = ingest::collect_files(&paths, &decoder.sources);
    for missing in &found.missing {
        tracing::error!(error = %missing, "cannot read path");
    }
    // Paths are checked before OpenSearch is: none readable fails at once, not after the
    // cluster's start-up retries.
    if found.files.is_empty() && !found.missing.is_empty() {
        return Err(anyhow::anyhow!("nothing to ingest: {}", found.missing.join("; ")).into());
    }
    let mut notifier = None;
    let mut cluster = None;
    let destination = match &output {
        Some(path) => Destination::Output(open_output(path)?),
        None => {
            let indexer = indexer(cfg).await?;
            install_templates(indexer.client(), cfg).await?;
            cluster = Some(indexer.client().clone());
            let n = notifier.insert(alerts::Notifier::start(cfg)?);
            Destination::Index(Box::new(indexer), cfg.opensearch.max_concurrent_requests, n.outbox.clone())
        }
    };
    let limits = IngestLimits {
        // One file more than cores: while one waits for its last batch to be indexed, the
        // cores still have a file to decode.
        parallel: std::thread::available_parallelism().map_or(2, |n| n.get()) + 1,
        budget: budget(cfg)?,
        max_file_time: cfg.limits.max_object_time,
        touched: Touched::default(),
    };
    let touched = limits.touched.clone();
    let started = Instant::now();
    let s = ingest::ingest(decoder, destination, std::mem::take(&mut found.files), limits).await?;
    let mut found_line = String::new();
    if let (Some(client), Some(n)) = (&cluster, &notifier) {
        // The findings of the hours indexed into, announced before the notifier stops.
        let report = super::anomalies::after_indexing(client, &findings, &touched, n.outbox.clone(), cfg).await;
        found_line = format!("; findings: {report}");
    }
    if let Some(n) = notifier {
        n.finish(NOTIFY_AT_EXIT).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let settled = if output.is_some() {
        format!("{} invalid records written as dead letters", s.invalid)
    } else {
        format!(
            "{} indexed, {} already present, {} dead-lettered, {} alerts",
            s.indexed.created, s.indexed.duplicates, s.indexed.dead_lettered, s.indexed.alerts
        )
    };
    say(
        tracing::Level::INFO,
        &format!(
            "trailship ingest: {} files, {} events in {secs:.2} s, {} events/s ({settled}{}; {}, {} files failed{found_line}){}",
            s.files,
            s.events,
            rate(s.events, secs),
            filter.summary(),
            found.skipped_summary(),
            s.failed + found.missing.len(),
            peak_memory()
        ),
    );
    if s.failed + found.missing.len() > 0 {
        return Err(anyhow::anyhow!("{} files failed (see the errors above)", s.failed + found.missing.len()).into());
    }
    Ok(())
}

fn open_output(path: &PathBuf) -> Result<Box<dyn std::io::Write + Send>, CommandError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdout()));
    }
    let file = std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    Ok(Box::new(file))
}
