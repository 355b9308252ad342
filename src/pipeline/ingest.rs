//! `trailship ingest`: local CloudTrail files and directories → OpenSearch, or → the exact
//! `_bulk` NDJSON on a file or stdout (`--output`). Files are decoded in parallel on blocking
//! threads; a file that fails is reported and the others go on.

use super::{Sink, process_reader, spawn_indexers};
use crate::index::{BatchReport, Indexer, bulk::Batch};
use crate::pipeline::object::ObjectDecoder;
use crate::route::{self, LogKind};
use crate::source::Origin;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;

/// Where ingested events go.
pub enum Target {
    /// Bulk-index into OpenSearch with this many concurrent requests.
    Index(Box<Indexer>, usize),
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

/// Lists the files under `paths` (directories recursively, sorted), skipping digest files.
pub fn collect_files(paths: &[PathBuf]) -> std::io::Result<(Vec<PathBuf>, usize)> {
    let mut files = Vec::new();
    let mut skipped = 0;
    for path in paths {
        walk(path, &mut files)?;
    }
    files.retain(|f| {
        let keep = route::classify_local_path(f) != LogKind::Digest;
        skipped += usize::from(!keep);
        keep
    });
    Ok((files, skipped))
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

/// Ingests `files` with up to `parallel` files decoded at once.
pub async fn ingest(
    decoder: Arc<ObjectDecoder>,
    target: Target,
    files: Vec<PathBuf>,
    parallel: usize,
) -> anyhow::Result<IngestSummary> {
    let (sink, finish): (Sink, Finish) = match target {
        Target::Index(indexer, concurrency) => {
            let (tx, handles) = spawn_indexers(*indexer, concurrency);
            (Sink::Index(tx), Finish::Indexers(handles))
        }
        Target::Output(out) => {
            let (tx, rx) = mpsc::channel::<Batch>(parallel * 2);
            (Sink::Write(tx), Finish::Writer(tokio::task::spawn_blocking(move || write_all(rx, out))))
        }
    };

    let mut summary = IngestSummary::default();
    let slots = Arc::new(Semaphore::new(parallel.max(1)));
    let mut tasks = JoinSet::new();
    for path in files {
        let permit = slots.clone().acquire_owned().await.expect("the semaphore is never closed");
        let (decoder, sink) = (decoder.clone(), sink.clone());
        tasks.spawn(async move {
            let _permit = permit;
            let result = match std::fs::File::open(&path) {
                Ok(file) => process_reader(file, Arc::new(Origin::File(path.clone())), decoder, sink)
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

fn write_all(mut rx: mpsc::Receiver<Batch>, out: Box<dyn Write + Send>) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
    while let Some(batch) = rx.blocking_recv() {
        out.write_all(&batch.body)?;
    }
    out.flush()
}
