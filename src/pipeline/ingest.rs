//! `trailship ingest`: local CloudTrail files and directories → OpenSearch, or → the exact
//! `_bulk` NDJSON on a file or stdout (`--output`). Files are decoded in parallel on blocking
//! threads; a file that fails is reported and the others go on.

use super::{Budget, process_reader, spawn_indexers, spawn_writer};
use crate::index::{BatchReport, Indexer};
use crate::pipeline::object::{ObjectDecoder, Watch};
use crate::route::{self, LogKind};
use crate::source::Origin;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Where ingested events go.
pub enum Target {
    /// Bulk-index into OpenSearch with this many concurrent requests, announcing new alerts to
    /// the outbox.
    Index(Box<Indexer>, usize, Option<crate::notify::Outbox>),
    /// Write the `_bulk` NDJSON to this writer.
    Output(Box<dyn Write + Send>),
}

/// Totals over an ingest.
#[derive(Debug, Default, Clone, Copy)]
pub struct IngestSummary {
    /// Files read.
    pub files: usize,
    /// Files skipped (digest files).
    pub skipped: usize,
    /// Files that failed.
    pub failed: usize,
    /// Events read.
    pub events: usize,
    /// Records that could not become documents.
    pub invalid: usize,
    /// How events were settled (zero when writing `--output`).
    pub indexed: BatchReport,
}

/// What [`collect_files`] found.
#[derive(Debug, Default)]
pub struct Collected {
    /// The files to ingest, sorted per path given.
    pub files: Vec<PathBuf>,
    /// Digest files skipped.
    pub digests: usize,
    /// Other files skipped (non-CloudTrail logs of a synced bucket).
    pub others: usize,
    /// Paths that could not be read, with the reason.
    pub missing: Vec<String>,
}

/// Lists the files under `paths` (directories recursively, sorted), routed like the worker's
/// keys: digests and other services' logs are skipped and counted. A path that cannot be read
/// is reported and the others still go in.
pub fn collect_files(paths: &[PathBuf]) -> Collected {
    let mut found = Collected::default();
    for path in paths {
        let mut files = Vec::new();
        match walk(path, &mut files) {
            Ok(()) => found.files.extend(files),
            Err(e) => found.missing.push(e.to_string()),
        }
    }
    found.files.retain(|f| match route::classify_local_path(f) {
        LogKind::Digest => {
            found.digests += 1;
            false
        }
        LogKind::Other => {
            found.others += 1;
            false
        }
        LogKind::CloudTrail | LogKind::Insight | LogKind::S3Access => true,
    });
    found
}

fn walk(path: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let meta =
        std::fs::metadata(path).map_err(|e| std::io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
    if meta.is_file() {
        out.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue;
        }
        walk(&entry, out)?;
    }
    Ok(())
}

/// How ingest runs: files decoded at once, the memory budget, and the time one file may take.
#[derive(Debug, Clone)]
pub struct IngestLimits {
    /// Files decoded at once.
    pub parallel: usize,
    /// The memory budget shared by the files being decoded.
    pub budget: Budget,
    /// The time one file may take to decode.
    pub max_file_time: Duration,
}

/// Ingests `files`.
pub async fn ingest(
    decoder: Arc<ObjectDecoder>,
    target: Target,
    files: Vec<PathBuf>,
    limits: IngestLimits,
) -> anyhow::Result<IngestSummary> {
    let parallel = limits.parallel.max(1);
    // Nothing cancels an ingest: an interrupt ends the process, and nothing is acknowledged.
    let cancel = CancellationToken::new();
    let (sink, finish) = match target {
        Target::Index(indexer, concurrency, outbox) => {
            let (tx, handles) = spawn_indexers(*indexer, concurrency, cancel.clone());
            (tx.notifying(outbox), Finish::Indexers(handles))
        }
        Target::Output(out) => {
            let (tx, handle) = spawn_writer(out, parallel * 2);
            (tx, Finish::Writer(handle))
        }
    };

    let mut summary = IngestSummary::default();
    let slots = Arc::new(Semaphore::new(parallel));
    let mut tasks = JoinSet::new();
    for path in files {
        let permit = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        let (decoder, sink, budget) = (decoder.clone(), sink.clone(), limits.budget.clone());
        let watch = Arc::new(Watch::new(cancel.clone(), limits.max_file_time));
        tasks.spawn(async move {
            let _permit = permit;
            let result = match std::fs::File::open(&path) {
                Ok(file) => process_reader(file, Arc::new(Origin::File(path.clone())), decoder, sink, watch, &budget)
                    .await
                    .map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            };
            (path, result)
        });
        while let Some(done) = tasks.try_join_next() {
            tally(done?, &mut summary);
        }
    }
    while let Some(done) = tasks.join_next().await {
        tally(done?, &mut summary);
    }
    drop(sink);
    match finish {
        Finish::Indexers(handles) => {
            for h in handles {
                h.await?;
            }
        }
        Finish::Writer(h) => h.await??,
    }
    Ok(summary)
}

enum Finish {
    Indexers(Vec<tokio::task::JoinHandle<()>>),
    Writer(tokio::task::JoinHandle<std::io::Result<()>>),
}

fn tally((path, result): (PathBuf, anyhow::Result<super::ObjectReport>), summary: &mut IngestSummary) {
    match result {
        Ok(r) => {
            summary.files += 1;
            summary.events += r.decoded.events;
            summary.invalid += r.decoded.invalid;
            summary.indexed += r.indexed;
        }
        Err(e) => {
            summary.failed += 1;
            tracing::error!(path = %path.display(), error = %e, "file failed");
        }
    }
}
