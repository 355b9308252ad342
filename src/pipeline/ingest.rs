//! `trailship ingest`: local CloudTrail files and directories → OpenSearch, or → the exact
//! `_bulk` NDJSON on a file or stdout (`--output`). A few decoding threads (blocking threads)
//! each take the next file, decode it and settle its batches, until none is left: going from
//! one file to the next wakes no other thread. A file that fails is reported and the others go
//! on.

use super::{Budget, Output, decode_reader, spawn_indexers};
use crate::index::{BatchReport, Indexer};
use crate::pipeline::object::{ObjectDecoder, Watch};
use crate::source::Origin;
use crate::sources::{Routed, Sources};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Where ingested events go.
pub enum Destination {
    /// Bulk-index into OpenSearch with this many concurrent requests, announcing new alerts to
    /// the outbox.
    Index(Box<Indexer>, usize, Option<crate::webhooks::Outbox>),
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
    /// Records a filter rule dropped.
    pub dropped: usize,
    /// How events were settled (zero when writing `--output`).
    pub indexed: BatchReport,
}

/// What [`collect_files`] found.
#[derive(Debug, Default)]
pub struct Collected {
    /// The files to ingest, sorted per path given.
    pub files: Vec<PathBuf>,
    /// Files skipped, by what they are (`digest`, `other`: logs no source reads).
    pub skipped: std::collections::BTreeMap<&'static str, usize>,
    /// Paths that could not be read, with the reason.
    pub missing: Vec<String>,
}

/// Lists the files under `paths` (directories recursively, sorted), routed by `sources` like
/// the worker's keys: digests and other services' logs are skipped and counted. A path that
/// cannot be read is reported and the others still go in.
pub fn collect_files(paths: &[PathBuf], sources: &Sources) -> Collected {
    let mut found = Collected::default();
    for path in paths {
        let mut files = Vec::new();
        match walk(path, &mut files) {
            Ok(()) => found.files.extend(files),
            Err(e) => found.missing.push(e.to_string()),
        }
    }
    found.files.retain(|f| match sources.route_path(f) {
        Routed::Index(..) => true,
        Routed::Skip(what) => {
            *found.skipped.entry(what).or_default() += 1;
            false
        }
    });
    found
}

impl Collected {
    /// `1 digest files skipped, 3 other files skipped`, or `0 files skipped`.
    pub fn skipped_summary(&self) -> String {
        let parts: Vec<String> = self.skipped.iter().map(|(what, n)| format!("{n} {what} files skipped")).collect();
        if parts.is_empty() { "0 files skipped".to_owned() } else { parts.join(", ") }
    }
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
    /// Files decoded at once (decoding threads).
    pub parallel: usize,
    /// The memory budget shared by the files being decoded.
    pub budget: Budget,
    /// The time one file may take to decode.
    pub max_file_time: Duration,
    /// Where the days and hours indexed into are recorded, for the passes at the end.
    pub touched: crate::touched::Touched,
}

/// Ingests `files`.
pub async fn ingest(
    decoder: Arc<ObjectDecoder>,
    destination: Destination,
    files: Vec<PathBuf>,
    limits: IngestLimits,
) -> anyhow::Result<IngestSummary> {
    let parallel = limits.parallel.max(1);
    // Nothing cancels an ingest: an interrupt ends the process, and nothing is acknowledged.
    let cancel = CancellationToken::new();
    let (sink, finish) = match destination {
        Destination::Index(indexer, concurrency, outbox) => {
            let (tx, handles) = spawn_indexers(*indexer, concurrency, cancel.clone());
            (tx.notifying(outbox), Finish::Indexers(handles))
        }
        Destination::Output(out) => {
            let (sink, output) = Output::sink(out);
            (sink, Finish::Output(output))
        }
    };

    let files = Arc::new(largest_first(files, parallel));
    let next = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..parallel.min(files.len()))
        .map(|_| {
            let (files, next, decoder, sink, limits, cancel) =
                (files.clone(), next.clone(), decoder.clone(), sink.clone(), limits.clone(), cancel.clone());
            tokio::task::spawn_blocking(move || {
                let mut summary = IngestSummary::default();
                while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let reserved = limits.budget.reserve_blocking();
                    // The file's time starts once it has room to be decoded.
                    let watch = Watch::new(cancel.clone(), limits.max_file_time);
                    let result = std::fs::File::open(path).map_err(anyhow::Error::from).and_then(|file| {
                        let origin = Arc::new(Origin::File(path.clone()));
                        Ok(decode_reader(file, origin, &decoder, &sink, &watch, reserved)?)
                    });
                    if let Ok(r) = &result {
                        limits.touched.record(r.decoded.oldest_event, r.decoded.newest_event);
                    }
                    tally(path, result, &mut summary);
                }
                summary
            })
        })
        .collect();
    let mut summary = IngestSummary::default();
    for thread in threads {
        summary += thread.await?;
    }
    drop(sink);
    match finish {
        Finish::Indexers(handles) => {
            for h in handles {
                h.await?;
            }
        }
        Finish::Output(output) => match output.finish() {
            // A write error failed a file already, which the summary reports.
            Err(e) if summary.failed == 0 => return Err(e.into()),
            _ => {}
        },
    }
    Ok(summary)
}

/// The order files are taken in: as listed on one thread; the largest first on several, so a
/// big file is not the last one started while the other threads have nothing left (files of a
/// real bucket range from a few KB to several MB). A size that cannot be read counts as zero.
fn largest_first(mut files: Vec<PathBuf>, parallel: usize) -> Vec<PathBuf> {
    if parallel > 1 {
        files.sort_by_cached_key(|f| std::cmp::Reverse(std::fs::metadata(f).map_or(0, |m| m.len())));
    }
    files
}

impl std::ops::AddAssign for IngestSummary {
    fn add_assign(&mut self, other: IngestSummary) {
        self.files += other.files;
        self.skipped += other.skipped;
        self.failed += other.failed;
        self.events += other.events;
        self.invalid += other.invalid;
        self.dropped += other.dropped;
        self.indexed += other.indexed;
    }
}

enum Finish {
    Indexers(Vec<tokio::task::JoinHandle<()>>),
    Output(Arc<Output>),
}

fn tally(path: &Path, result: anyhow::Result<super::ObjectReport>, summary: &mut IngestSummary) {
    match result {
        Ok(r) => {
            summary.files += 1;
            summary.events += r.decoded.events;
            summary.invalid += r.decoded.invalid;
            summary.dropped += r.decoded.dropped;
            summary.indexed += r.indexed;
        }
        Err(e) => {
            summary.failed += 1;
            tracing::error!(path = %path.display(), error = %e, "file failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::largest_first;

    #[test]
    fn several_threads_take_the_largest_files_first_one_takes_them_as_listed() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<_> = [("a", 10), ("b", 3000), ("c", 10), ("d", 200)]
            .iter()
            .map(|(name, size)| {
                let path = dir.path().join(name);
                std::fs::write(&path, vec![b'x'; *size]).unwrap();
                path
            })
            .chain([dir.path().join("missing")])
            .collect();
        let names = |files: Vec<std::path::PathBuf>| -> Vec<String> {
            files.iter().map(|f| f.file_name().unwrap().to_string_lossy().into_owned()).collect()
        };
        assert_eq!(names(largest_first(files.clone(), 2)), ["b", "d", "a", "c", "missing"]);
        assert_eq!(names(largest_first(files, 1)), ["a", "b", "c", "d", "missing"]);
    }
}
