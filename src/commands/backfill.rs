//! `trailship backfill`: parses and checks its arguments, builds the S3 lister and the chosen
//! mode (index, `--enqueue`, `--dry-run`), runs [`crate::pipeline::backfill`] and prints the
//! summary line.

use super::args::{date, usage};
use super::aws::aws_clients;
use super::common::{CommandError, budget, decoder_and_findings, indexer, peak_memory};
use super::logging::say;
use super::setup::install_templates;
use crate::config::Config;
use crate::fetch::S3Store;
use crate::listing::Scope;
use crate::listing::s3::S3Lister;
use crate::listing::state::State;
use crate::pipeline::backfill::{self, BackfillSummary, Mode, Progress, Settings};
use crate::pipeline::spawn_indexers;
use crate::queue::sqs::SqsQueue;
use crate::sources::LogSource;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// The command line of `trailship backfill` (the doc comments are its `--help`).
#[derive(Debug, Clone, Default, clap::Args)]
pub struct BackfillArgs {
    /// The trail's bucket.
    #[arg(long, value_name = "BUCKET")]
    pub bucket: String,
    /// The trail's key prefix (before AWSLogs/); for access logs, the logging target prefix.
    #[arg(long, value_name = "PREFIX")]
    pub prefix: Option<String>,
    /// First day (UTC), inclusive.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub from: Option<String>,
    /// Last day (UTC), inclusive.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub to: Option<String>,
    /// Only this account (repeatable); default: every account found.
    #[arg(long = "account", value_name = "ID")]
    pub accounts: Vec<String>,
    /// Only this region (repeatable); default: every region found.
    #[arg(long = "region", value_name = "REGION")]
    pub regions: Vec<String>,
    /// Objects in flight at once (default: 4 per core).
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// Record finished work in FILE and skip what it records.
    #[arg(long, value_name = "FILE")]
    pub state: Option<PathBuf>,
    /// Send one S3 notification per object to sqs.queue_url instead of indexing.
    #[arg(long, conflicts_with = "dry_run")]
    pub enqueue: bool,
    /// Only list: objects, bytes, days, accounts, regions.
    #[arg(long)]
    pub dry_run: bool,
    /// The log source whose history is listed: cloudtrail (default) or s3access.
    #[arg(long, value_name = "NAME", conflicts_with = "s3access")]
    pub source: Option<String>,
    /// Same as --source s3access: S3 server access logs under --prefix (the logging target
    /// prefix, as written), simple or date-partitioned, instead of a trail.
    #[arg(long)]
    pub s3access: bool,
}

impl BackfillArgs {
    /// The name of the source to list.
    fn source_name(&self) -> &str {
        match (&self.source, self.s3access) {
            (Some(name), _) => name,
            (None, true) => "s3access",
            (None, false) => "cloudtrail",
        }
    }
}

/// The default `--concurrency`: four objects per core (most of an object's time is waiting for
/// S3 and OpenSearch), at least 4.
pub fn default_concurrency() -> usize {
    std::thread::available_parallelism().map_or(4, |n| n.get() * 4).max(4)
}

fn scope(args: &BackfillArgs, source: &dyn LogSource) -> Result<Scope, CommandError> {
    let (from, to) = (date("--from", &args.from)?, date("--to", &args.to)?);
    if let (Some(f), Some(t)) = (from, to) {
        if f > t {
            return Err(usage("--from", format!("{f} is after --to {t}")));
        }
    }
    if let Some(a) = args.accounts.iter().find(|a| a.len() != 12 || !a.bytes().all(|b| b.is_ascii_digit())) {
        return Err(usage("--account", format!("{a:?} is not a 12-digit account id")));
    }
    let prefix = source.listing_prefix(args.prefix.as_deref());
    Ok(Scope { prefix, from, to, accounts: args.accounts.clone(), regions: args.regions.clone() })
}

/// `trailship backfill`.
pub async fn backfill(cfg: &Config, args: BackfillArgs) -> Result<(), CommandError> {
    let sources = super::common::sources(cfg);
    let name = args.source_name();
    let source = sources.get(name).cloned().ok_or_else(|| {
        usage("--source", format!("{name:?} is not a log source (one of: {})", sources.names().join(", ")))
    })?;
    let scope = scope(&args, source.as_ref())?;
    if args.bucket.is_empty() {
        return Err(usage("--bucket", "is required"));
    }
    let root = source.listing_root(&scope.prefix);
    let allow = &cfg.sqs.allowlist;
    if !allow.allows(&args.bucket, &root) && !allow.prefixes.iter().any(|p| p.starts_with(&root)) {
        return Err(usage(
            "--bucket",
            format!(
                "s3://{}/{root} is outside sqs.allowed_buckets/allowed_prefixes (the workers would refuse it)",
                args.bucket
            ),
        ));
    }
    let concurrency = args.concurrency.unwrap_or_else(default_concurrency);
    if concurrency == 0 {
        return Err(usage("--concurrency", "must be at least 1"));
    }
    let mut state = State::load(args.state.as_deref(), &args.bucket).map_err(anyhow::Error::from)?;
    let (days_done, objects_done) = state.counts();
    if days_done + objects_done > 0 {
        tracing::info!(
            days = days_done,
            objects = objects_done,
            "resuming: finished work recorded in the state file is skipped"
        );
    }
    let (s3, sqs) = aws_clients(&cfg.aws, cfg.sqs.wait_time).await?;
    let lister = S3Lister {
        client: s3.clone(),
        bucket: args.bucket.clone(),
        expected_bucket_owner: cfg.sqs.expected_bucket_owner.clone(),
    };
    let cancel = CancellationToken::new();
    let touched = crate::touched::Touched::default();
    let settings = Settings {
        bucket: args.bucket.clone(),
        source,
        scope,
        concurrency,
        grace: cfg.sqs.shutdown_grace,
        cancel: cancel.clone(),
        allowlist: cfg.sqs.allowlist.clone(),
        touched: touched.clone(),
    };
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr()) && !cfg.log.json;
    let progress = Progress::new(terminal && !args.dry_run);
    let started = Instant::now();
    let mut indexers = Vec::new();
    let mut notifier = None;
    let mut cluster = None;
    let mut findings = None;
    let mut filter = None;
    let mut names = crate::accounts::Accounts::default();
    let mode: Mode<S3Store> = if args.dry_run {
        Mode::DryRun
    } else if args.enqueue {
        let url =
            cfg.sqs.queue_url.clone().ok_or_else(|| usage("sqs.queue_url", "is required by backfill --enqueue"))?;
        let queue = SqsQueue::new(sqs, url, cfg.sqs.visibility_timeout, cfg.sqs.wait_time);
        Mode::Enqueue { queue, region: cfg.aws.region.clone().unwrap_or_else(|| "us-east-1".into()) }
    } else {
        names = super::names::accounts(cfg).await.0;
        let (decoder, settings) = decoder_and_findings(cfg, &names)?;
        let decoder = Arc::new(decoder);
        filter = Some(decoder.filter.clone());
        findings = Some(settings);
        let indexer = indexer(cfg).await?;
        install_templates(indexer.client(), cfg).await?;
        cluster = Some(indexer.client().clone());
        let n = notifier.insert(super::alerts::Notifier::start(cfg)?);
        let (sink, handles) = spawn_indexers(indexer, cfg.opensearch.max_concurrent_requests, cancel.clone());
        let sink = sink.notifying(n.outbox.clone());
        indexers = handles;
        let store = S3Store { client: s3, expected_bucket_owner: cfg.sqs.expected_bucket_owner.clone() };
        Mode::Index { store, decoder, sink, budget: budget(cfg)?, max_object_time: cfg.limits.max_object_time }
    };
    let (dry_run, enqueue) = (matches!(mode, Mode::DryRun), matches!(mode, Mode::Enqueue { .. }));
    let summary =
        backfill::backfill(lister, mode, settings, &mut state, &progress, super::common::shutdown_signal()).await;
    for h in indexers {
        h.await.map_err(anyhow::Error::from)?;
    }
    let mut found = String::new();
    if let (Some(client), Some(settings), Some(n), false) = (&cluster, &findings, &notifier, summary.interrupted) {
        // The findings of the hours indexed into, announced before the notifier stops.
        let report = super::anomalies::after_indexing(client, settings, &touched, n.outbox.clone(), cfg).await;
        found = format!("; findings: {report}");
    }
    if let Some(n) = notifier {
        // Interrupted: stop as soon as a worker stopping would.
        n.finish(if summary.interrupted { cfg.sqs.shutdown_grace } else { super::common::NOTIFY_AT_EXIT }).await;
    }
    if let (Some(client), false) = (&cluster, summary.interrupted) {
        // Trends of the days indexed into, even when some objects failed (their rerun
        // recomputes them again).
        super::trends::after_indexing(client, cfg, &touched, &names).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let dropped = filter.map(|f| f.summary()).unwrap_or_default();
    say(tracing::Level::INFO, &format!("{}{found}", summary_line(&summary, secs, (dry_run, enqueue), &dropped)));
    if summary.interrupted {
        return Err(CommandError::Interrupted);
    }
    if let Some(e) = summary.list_error {
        return Err(anyhow::anyhow!("{e} (the objects listed before were processed)").into());
    }
    if summary.failed > 0 {
        return Err(
            anyhow::anyhow!("{} objects failed (see the errors above); rerun to retry them", summary.failed).into()
        );
    }
    Ok(())
}

fn list(set: &std::collections::BTreeSet<String>) -> String {
    set.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// The summary line; `dropped` says what the filters dropped (see `Filter::summary`).
fn summary_line(s: &BackfillSummary, secs: f64, (dry_run, enqueue): (bool, bool), dropped: &str) -> String {
    let refused =
        if s.refused > 0 { format!(", {} outside sqs.allowed_prefixes skipped", s.refused) } else { String::new() };
    let scope = format!(
        "{} days, {} accounts ({}), {} regions ({}){refused}",
        s.days.len(),
        s.accounts.len(),
        list(&s.accounts),
        s.regions.len(),
        list(&s.regions)
    );
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    if dry_run {
        return format!("trailship backfill --dry-run: {} objects, {:.1} MiB, {scope}", s.listed, mib(s.listed_bytes));
    }
    let per_sec = |n: usize| n as f64 / secs.max(1e-3);
    if enqueue {
        return format!(
            "trailship backfill --enqueue: {} of {} objects sent as notifications ({:.1} MiB) in {secs:.2} s, \
             {:.0} objects/s; {} failed; {scope}",
            s.done,
            s.listed,
            mib(s.done_bytes),
            per_sec(s.done),
            s.failed
        );
    }
    format!(
        "trailship backfill: {} of {} objects, {} events in {secs:.2} s, {:.0} events/s, {:.1} objects/s ({} indexed, \
         {} already present, {} dead-lettered, {} alerts{dropped}; {} objects failed; {:.1} MiB read); {scope}{}",
        s.done,
        s.listed,
        s.events,
        per_sec(s.events),
        per_sec(s.done),
        s.indexed.created,
        s.indexed.duplicates,
        s.indexed.dead_lettered,
        s.indexed.alerts,
        s.failed,
        mib(s.done_bytes),
        peak_memory()
    )
}
