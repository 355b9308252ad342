//! `trailship backfill`: a bucket's history through the worker's own path. One task walks the
//! listing (the log source's [`crate::sources::LogSource::walk`]) into a bounded channel; each object it sends is indexed
//! exactly as `run` indexes a notified object ([`super::process_object`]: same documents, same
//! `_id`s, same dead letters), with at most `concurrency` objects in flight, or is sent to the
//! queue as an S3 notification (`--enqueue`), or only counted (`--dry-run`). Finished work goes
//! into the [`State`] (saved every second and at the end); an interrupt stops the listing, lets
//! the objects in flight finish for the grace period, cancels the rest and saves.

use super::{Budget, ObjectReport, Sink, process_object};
use crate::fetch::ObjectStore;
use crate::index::BatchReport;
use crate::listing::state::State;
use crate::listing::{Listed, Lister, Scope, Step, enqueue};
use crate::pipeline::object::ObjectDecoder;
use crate::queue::sqs::SqsQueue;
use crate::source::ObjectRef;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeSet;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// What happens to each listed object.
pub enum Mode<S> {
    /// Only counted.
    DryRun,
    /// Indexed like a notified object.
    Index {
        /// Where it is read from.
        store: S,
        /// The decoder `run` uses.
        decoder: Arc<ObjectDecoder>,
        /// The indexer tasks.
        sink: Sink,
        /// The memory budget.
        budget: Budget,
        /// `limits.max_object_seconds`.
        max_object_time: Duration,
    },
    /// Sent to the queue as an S3 notification, ten to a `SendMessageBatch`.
    Enqueue {
        /// The queue.
        queue: SqsQueue,
        /// `awsRegion` of the notifications.
        region: String,
    },
}

/// How the backfill runs.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The bucket.
    pub bucket: String,
    /// The log source whose history is listed.
    pub source: Arc<dyn crate::sources::LogSource>,
    /// What to list.
    pub scope: Scope,
    /// Objects in flight at once.
    pub concurrency: usize,
    /// How long objects in flight may finish after an interrupt.
    pub grace: Duration,
    /// Cancelled when the grace is over (shared with the indexer tasks).
    pub cancel: CancellationToken,
    /// `sqs.allowed_buckets`/`allowed_prefixes`: objects outside are skipped (the workers would
    /// refuse them too).
    pub allowlist: crate::route::Allowlist,
    /// The days indexed into, for the trend pass at the end.
    pub touched: crate::touched::Touched,
}

/// Totals over a backfill.
#[derive(Debug, Default, Clone)]
pub struct BackfillSummary {
    /// Objects listed (not finished before).
    pub listed: usize,
    /// Bytes of the objects listed.
    pub listed_bytes: u64,
    /// Objects done (indexed, or enqueued).
    pub done: usize,
    /// Bytes of the objects done.
    pub done_bytes: u64,
    /// Objects that failed.
    pub failed: usize,
    /// Events of the objects indexed.
    pub events: usize,
    /// How those events settled.
    pub indexed: BatchReport,
    /// Calendar days listed (in any account and region).
    pub days: BTreeSet<String>,
    /// Accounts and regions seen.
    pub accounts: BTreeSet<String>,
    /// Regions seen.
    pub regions: BTreeSet<String>,
    /// Objects skipped because they are outside the allowlist.
    pub refused: usize,
    /// Stopped by an interrupt.
    pub interrupted: bool,
    /// The listing failed (the objects listed before still went in).
    pub list_error: Option<String>,
}

type Outcome = (String, Listed, Result<ObjectReport, String>, bool);

/// Runs the backfill; `interrupt` completing stops it cleanly.
pub async fn backfill<L: Lister, S: ObjectStore + Clone>(
    lister: L,
    mode: Mode<S>,
    settings: Settings,
    state: &mut State,
    progress: &Progress,
    interrupt: impl Future<Output = ()>,
) -> BackfillSummary {
    let (tx, mut rx) = mpsc::channel::<Step>(1024);
    let finished = state.finished().clone();
    let (scope, source) = (settings.scope.clone(), settings.source.clone());
    let walker = tokio::spawn(async move { source.walk(&lister, &scope, &finished, &tx).await });
    let cancel = settings.cancel.clone();
    let slots = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let mut tasks: JoinSet<Outcome> = JoinSet::new();
    let mut pending: Vec<(String, Listed)> = Vec::new();
    let mut summary = BackfillSummary::default();
    let mut last_save = Instant::now();
    tokio::pin!(interrupt);
    loop {
        let item = tokio::select! {
            _ = &mut interrupt => { summary.interrupted = true; break; }
            Some(done) = tasks.join_next(), if !tasks.is_empty() => {
                tally(done.expect("backfill tasks do not panic"), &settings, state, &mut summary, progress);
                None
            }
            item = rx.recv() => match item { Some(item) => Some(item), None => break },
        };
        match item {
            Some(Step::Object { object, .. }) if !settings.allowlist.allows(&settings.bucket, &object.key) => {
                summary.refused += 1;
            }
            Some(Step::Object { day, object }) => {
                summary.count_listed(settings.source.account_and_region(&settings.scope, &day), &object);
                match &mode {
                    Mode::DryRun => {}
                    Mode::Index { store, decoder, sink, budget, max_object_time } => {
                        let permit = tokio::select! {
                            p = slots.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                            _ = &mut interrupt => { summary.interrupted = true; break; }
                        };
                        let obj = ObjectRef {
                            bucket: settings.bucket.clone(),
                            key: object.key.clone(),
                            size: Some(object.size),
                        };
                        let (store, decoder, sink, budget, cancel) =
                            (store.clone(), decoder.clone(), sink.clone(), budget.clone(), cancel.clone());
                        let max = *max_object_time;
                        tasks.spawn(async move {
                            let _permit = permit;
                            let r = process_object(&store, &obj, decoder, sink, &budget, &cancel, max).await;
                            let cancelled = r.as_ref().is_err_and(|e| e.is_cancelled());
                            (day, object, r.map_err(|e| e.to_string()), cancelled)
                        });
                    }
                    Mode::Enqueue { queue, region } => {
                        pending.push((day, object));
                        if pending.len() == 10 {
                            send(queue, region, &settings.bucket, &mut pending, state, &mut summary, progress).await;
                        }
                    }
                }
            }
            Some(Step::DayListed { day, objects }) => {
                summary.count_day(&day);
                if let Mode::Enqueue { queue, region } = &mode {
                    send(queue, region, &settings.bucket, &mut pending, state, &mut summary, progress).await;
                }
                state.day_listed(&day, objects);
            }
            None => {}
        }
        if last_save.elapsed() >= Duration::from_secs(1) {
            save(state, progress);
            last_save = Instant::now();
        }
        progress.update(&summary);
    }
    drop(rx);
    if let Mode::Enqueue { queue, region } = &mode {
        send(queue, region, &settings.bucket, &mut pending, state, &mut summary, progress).await;
    }
    finish_in_flight(tasks, &settings, state, &mut summary, progress).await;
    if summary.interrupted {
        walker.abort();
    } else {
        summary.list_error = match walker.await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.to_string()),
            Err(e) => Some(format!("listing task failed: {e}")),
        };
    }
    if !matches!(mode, Mode::DryRun) {
        save(state, progress);
    }
    progress.finish();
    summary
}

/// Lets the objects in flight finish: after an interrupt they get the grace period, then are
/// cancelled (and left unrecorded).
async fn finish_in_flight(
    mut tasks: JoinSet<Outcome>,
    settings: &Settings,
    state: &mut State,
    summary: &mut BackfillSummary,
    progress: &Progress,
) {
    let grace = tokio::time::sleep(if summary.interrupted { settings.grace } else { Duration::MAX / 4 });
    tokio::pin!(grace);
    while !tasks.is_empty() {
        tokio::select! {
            Some(done) = tasks.join_next() => tally(done.expect("backfill tasks do not panic"), settings, state, summary, progress),
            _ = &mut grace, if !settings.cancel.is_cancelled() => settings.cancel.cancel(),
        }
        progress.update(summary);
    }
}

impl BackfillSummary {
    /// Counts a listed object, its account and region.
    fn count_listed(&mut self, (account, region): (&str, &str), object: &Listed) {
        self.listed += 1;
        self.listed_bytes += object.size;
        if !account.is_empty() && !self.accounts.contains(account) {
            self.accounts.insert(account.to_owned());
        }
        if !region.is_empty() && !self.regions.contains(region) {
            self.regions.insert(region.to_owned());
        }
    }

    /// Counts a day listed completely (`…/YYYY/MM/DD/` as `YYYY-MM-DD`).
    fn count_day(&mut self, day: &str) {
        let date = day.trim_end_matches('/').rsplitn(4, '/').take(3).collect::<Vec<_>>();
        self.days.insert(date.iter().rev().copied().collect::<Vec<_>>().join("-"));
    }
}

fn save(state: &mut State, progress: &Progress) {
    if let Err(e) = state.save() {
        progress.suspend(|| tracing::error!(error = %e, "could not save the backfill state"));
    }
}

fn tally(
    (day, object, result, cancelled): Outcome,
    settings: &Settings,
    state: &mut State,
    summary: &mut BackfillSummary,
    progress: &Progress,
) {
    let bucket = settings.bucket.as_str();
    match result {
        Ok(r) => {
            tracing::debug!(bucket, key = %object.key, events = r.decoded.events, "file indexed");
            super::object_indexed(&r, &settings.touched);
            state.object_finished(&day, &object.key);
            summary.done += 1;
            summary.done_bytes += object.size;
            summary.events += r.decoded.events;
            summary.indexed += r.indexed;
        }
        Err(_) if cancelled => state.object_failed(&day),
        Err(e) => {
            metrics::counter!(crate::telemetry::OBJECTS, "outcome" => "failed").increment(1);
            progress.suspend(|| tracing::error!(bucket, key = %object.key, error = %e, "file failed"));
            state.object_failed(&day);
            summary.failed += 1;
        }
    }
}

/// Sends `pending` as notifications (ten at most), sending again what SQS did not accept.
async fn send(
    queue: &SqsQueue,
    region: &str,
    bucket: &str,
    pending: &mut Vec<(String, Listed)>,
    state: &mut State,
    summary: &mut BackfillSummary,
    progress: &Progress,
) {
    if pending.is_empty() {
        return;
    }
    let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let mut entries: Vec<(String, String)> = pending
        .iter()
        .enumerate()
        .map(|(i, (_, o))| (i.to_string(), enqueue::notification(bucket, &o.key, o.size, region, &now)))
        .collect();
    let mut delays = backon::BackoffBuilder::build(crate::retry::backoff(
        Duration::from_millis(200),
        Duration::from_secs(10),
        Some(5),
    ));
    loop {
        let failed = match queue.send_batch(&entries).await {
            Ok(failed) => failed,
            Err(e) => {
                progress.suspend(|| tracing::warn!(error = %e, "sending notifications failed, retrying"));
                entries.iter().map(|(id, _)| id.clone()).collect()
            }
        };
        for (id, _) in entries.iter().filter(|(id, _)| !failed.contains(id)) {
            let (day, object) = &pending[id.parse::<usize>().expect("ids are indices")];
            state.object_finished(day, &object.key);
            summary.done += 1;
            summary.done_bytes += object.size;
        }
        entries.retain(|(id, _)| failed.contains(id));
        if entries.is_empty() {
            break;
        }
        match delays.next() {
            Some(delay) => tokio::time::sleep(delay).await,
            None => {
                for (id, _) in &entries {
                    let (day, object) = &pending[id.parse::<usize>().expect("ids are indices")];
                    progress.suspend(|| tracing::error!(bucket, key = %object.key, "notification not accepted by sqs"));
                    state.object_failed(day);
                    summary.failed += 1;
                }
                break;
            }
        }
    }
    pending.clear();
}

/// Progress: a bar on a terminal, else a log line every 10 s.
pub struct Progress {
    bar: Option<ProgressBar>,
    started: Instant,
    last_line: std::sync::Mutex<Instant>,
}

impl Progress {
    /// A bar when `terminal`.
    pub fn new(terminal: bool) -> Progress {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template(
                    "{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} objects, {msg} (eta {eta})",
                )
                .expect("the template is valid"),
            );
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Progress { bar, started: Instant::now(), last_line: std::sync::Mutex::new(Instant::now()) }
    }

    fn rates(&self, s: &BackfillSummary) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        format!(
            "{} events, {:.1} MiB, {:.0} events/s, {:.1} objects/s",
            s.events,
            s.done_bytes as f64 / (1 << 20) as f64,
            s.events as f64 / secs,
            s.done as f64 / secs
        )
    }

    fn update(&self, s: &BackfillSummary) {
        match &self.bar {
            Some(bar) => {
                bar.set_length(s.listed as u64);
                bar.set_position((s.done + s.failed) as u64);
                bar.set_message(self.rates(s));
            }
            None => {
                let mut last = self.last_line.lock().expect("not poisoned");
                if last.elapsed() >= Duration::from_secs(10) {
                    *last = Instant::now();
                    tracing::info!(
                        "backfill: {}/{} objects listed so far, {} failed, {}",
                        s.done,
                        s.listed,
                        s.failed,
                        self.rates(s)
                    );
                }
            }
        }
    }

    fn suspend(&self, f: impl FnOnce()) {
        match &self.bar {
            Some(bar) => bar.suspend(f),
            None => f(),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
