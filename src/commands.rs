//! The commands behind the binary: build the AWS and OpenSearch clients from the validated
//! configuration, run the pipeline, print the summary line (`setup` and the templates every
//! command installs are in [`setup`]).

use crate::config::{Config, ConfigError, LogConfig};
use crate::decode::FrameLimits;
use crate::enrich::Enricher;
use crate::enrich::geo::GeoIp;
use crate::fetch::S3Store;
use crate::index::Indexer;
use crate::index::bulk::BatchLimits;
use crate::index::client::Client;
use crate::pipeline::ingest::{self, IngestLimits, Target};
use crate::pipeline::object::{EventWindow, ObjectDecoder};
use crate::pipeline::replay;
use crate::pipeline::worker::Worker;
use crate::pipeline::{Budget, spawn_indexers, spawn_telemetry};
use crate::queue::sqs::SqsQueue;
use crate::telemetry;
use crate::trends::Spec;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

mod alerts;
mod args;
mod aws;
mod backfill;
mod detect;
mod doctor;
mod setup;
mod trends;
pub(crate) use aws::aws_clients;
pub use backfill::{BackfillArgs, backfill};
pub use detect::{detect, load_rules};
pub use doctor::doctor;
use setup::install_templates;
pub use setup::setup;
pub use trends::{TrendsArgs, trends};

/// How a command failed: bad configuration (exit 2), interrupted (exit 130) or anything else
/// (exit 1).
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Stopped by SIGINT or SIGTERM before the work was done (the work done is saved).
    #[error("interrupted")]
    Interrupted,
    /// A configuration value is missing or wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The command failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(log: &LogConfig) {
    JSON_LOGS.store(log.json, std::sync::atomic::Ordering::Relaxed);
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // `Targets` (`info,trailship=debug`) rather than `EnvFilter`: EnvFilter's regex engine
    // (`matchers`) switches every `regex` in the process to building full DFAs, which made
    // compiling the user-agent parsers about a third slower.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| log_filter(log.level).parse().expect("the log filter parses"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    if log.json { registry.with(layer.json()).init() } else { registry.with(layer).init() }
}

/// Log levels when `RUST_LOG` is unset or does not parse: `log.level` for trailship; the AWS
/// SDK's own lines (its credential chain warns with a debug dump of every provider it tried)
/// only at `error` unless `log.level` is `debug` or `trace`. trailship reports what failed
/// itself, in one line.
fn log_filter(level: tracing::Level) -> String {
    const SDK: [&str; 8] = [
        "aws_config",
        "aws_smithy_runtime",
        "aws_runtime",
        "aws_sdk_s3",
        "aws_sdk_sqs",
        "aws_sdk_sts",
        "aws_sdk_sso",
        "aws_sdk_ssooidc",
    ];
    let level = level.as_str().to_ascii_lowercase();
    if level == "debug" || level == "trace" {
        return level;
    }
    std::iter::once(level).chain(SDK.iter().map(|t| format!("{t}=error"))).collect::<Vec<_>>().join(",")
}

static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints a summary or final error line on stderr whatever `RUST_LOG` says: as it is, or with
/// `log.format = "json"` as a JSON line shaped like the other log lines.
pub fn say(level: tracing::Level, line: &str) {
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let record = serde_json::json!({"timestamp": now, "level": level.as_str(), "fields": {"message": line}, "target": "trailship"});
        eprintln!("{record}");
    } else {
        eprintln!("{line}");
    }
}

/// `trailship run`.
pub async fn run(cfg: &Config, drain: bool) -> Result<(), CommandError> {
    let queue_url = cfg.sqs.require_queue_url()?.to_owned();
    let decoder = Arc::new(object_decoder(cfg)?);
    let (s3, sqs) = aws_clients(&cfg.aws, cfg.sqs.wait_time).await?;
    // The worker holds a batch the cluster refuses for its own reasons (permissions, blocks)
    // until it is fixed, instead of failing the file and spending the message's receives.
    let indexer = indexer(cfg).await?.holding_when_blocked(true);
    install_templates(indexer.client(), cfg).await?;
    let cancel = CancellationToken::new();
    let cluster = indexer.client().clone();
    let notifier = alerts::Notifier::start(cfg)?;
    let (jobs, indexers) = spawn_indexers(indexer, cfg.opensearch.max_concurrent_requests, cancel.clone());
    let jobs = jobs.notifying(notifier.outbox.clone());
    let budget = budget(cfg)?;
    let queue = SqsQueue::new(sqs, queue_url.clone(), cfg.sqs.visibility_timeout, cfg.sqs.wait_time);
    let telemetry_stop = start_telemetry(cfg, cluster.clone(), queue.clone()).await?;
    let trends_stop = CancellationToken::new();
    let trends = cfg.trends.interval.map(|every| {
        crate::pipeline::trends::spawn_trends(cluster.clone(), Spec::all(cfg), every, trends_stop.clone())
    });
    let worker = Arc::new(Worker {
        queue,
        store: S3Store { client: s3, expected_bucket_owner: cfg.sqs.expected_bucket_owner.clone() },
        decoder,
        sink: jobs,
        budget,
        max_in_flight: cfg.sqs.max_messages_in_flight,
        shutdown_grace: cfg.sqs.shutdown_grace,
        max_object_time: cfg.limits.max_object_time,
        cancel,
        receive_delays: (Duration::from_secs(1), Duration::from_secs(30)),
        allowlist: cfg.sqs.allowlist.clone(),
    });
    tracing::info!(queue = %queue_url, opensearch = %cfg.opensearch.url, drain,
        memory_mb = cfg.limits.memory_bytes >> 20, objects_at_once = worker.budget.objects(), "worker started");
    let started = Instant::now();
    let result = worker.clone().run(drain, shutdown_signal()).await;
    drop(worker);
    for h in indexers {
        h.await.map_err(anyhow::Error::from)?;
    }
    notifier.finish(cfg.sqs.shutdown_grace).await;
    telemetry_stop.cancel();
    trends_stop.cancel();
    if let Some(t) = trends {
        t.await.map_err(anyhow::Error::from)?;
    }
    let s = result?;
    if drain && cfg.trends.interval.is_some() {
        // Drained: the trends of what was indexed are current when the command returns.
        trends::after_indexing(&cluster, cfg).await;
    }
    let secs = started.elapsed().as_secs_f64();
    say(
        tracing::Level::INFO,
        &format!(
            "trailship run: {} files, {} events in {:.2} s of processing, {} events/s ({secs:.2} s in all, idle long-polls included; {} indexed, {} already present, {} dead-lettered, {} alerts; {} messages: {} deleted, {} left for redelivery, {} released, {} refused; {} objects skipped){}",
            s.files,
            s.events,
            s.busy.as_secs_f64(),
            rate(s.events, s.busy.as_secs_f64()),
            s.indexed.created,
            s.indexed.duplicates,
            s.indexed.dead_lettered,
            s.indexed.alerts,
            s.messages,
            s.acked,
            s.failed,
            s.released,
            s.refused,
            s.skipped,
            peak_memory()
        ),
    );
    Ok(())
}

/// Starts `/metrics`, `/healthz` and `/readyz` when `metrics.listen` is set; cancelling the
/// token stops them.
async fn start_telemetry(cfg: &Config, cluster: Client, queue: SqsQueue) -> Result<CancellationToken, CommandError> {
    let telemetry_stop = CancellationToken::new();
    if let Some(addr) = cfg.metrics.listen {
        let listener = telemetry::bind(addr).await?;
        let handle = telemetry::install()?;
        let (os, q) = (cluster, queue);
        let checks: Vec<telemetry::Dependency> = vec![
            (
                "opensearch",
                Box::new(move || {
                    let os = os.clone();
                    Box::pin(async move { os.check().await })
                }),
            ),
            (
                "sqs",
                Box::new(move || {
                    let q = q.clone();
                    Box::pin(async move { q.check().await })
                }),
            ),
        ];
        spawn_telemetry(listener, handle, checks, telemetry_stop.clone());
        tracing::info!(%addr, "serving /metrics, /healthz and /readyz");
    }
    Ok(telemetry_stop)
}

/// The memory budget objects reserve from: `limits.memory_mb` less what the process keeps,
/// the GeoIP databases (read into memory) included. It must hold one object at least.
fn budget(cfg: &Config) -> Result<Budget, ConfigError> {
    let geoip: u64 = [&cfg.geoip.city_db, &cfg.geoip.asn_db]
        .into_iter()
        .flatten()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum();
    let kept = Config::BASE_MEMORY_BYTES + geoip as usize;
    let left = cfg.limits.memory_bytes.saturating_sub(kept);
    if left < cfg.object_reserve_bytes() {
        return Err(ConfigError {
            key: "limits.memory_mb".into(),
            message: format!(
                "{} MiB cannot hold the GeoIP databases ({} MiB), the process and one object ({} MiB)",
                cfg.limits.memory_bytes >> 20,
                geoip >> 20,
                (Config::BASE_MEMORY_BYTES + cfg.object_reserve_bytes()) >> 20
            ),
        });
    }
    Ok(Budget::new(left, cfg.object_reserve_bytes()))
}

/// `"; peak memory N MiB"` from the kernel's high-water mark, where the system says it.
fn peak_memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kib.map(|k| format!("; peak memory {} MiB", k.div_ceil(1024))).unwrap_or_default()
}

/// `trailship ingest`.
pub async fn ingest(cfg: &Config, output: Option<PathBuf>, paths: Vec<PathBuf>) -> Result<(), CommandError> {
    let decoder = Arc::new(object_decoder(cfg)?);
    let found = ingest::collect_files(&paths);
    for missing in &found.missing {
        tracing::error!(error = %missing, "cannot read path");
    }
    // Paths are checked before OpenSearch is: none readable fails at once, not after the
    // cluster's start-up retries.
    if found.files.is_empty() && !found.missing.is_empty() {
        return Err(anyhow::anyhow!("nothing to ingest: {}", found.missing.join("; ")).into());
    }
    let mut notifier = None;
    let target = match &output {
        Some(path) => Target::Output(open_output(path)?),
        None => {
            let indexer = indexer(cfg).await?;
            install_templates(indexer.client(), cfg).await?;
            let n = notifier.insert(alerts::Notifier::start(cfg)?);
            Target::Index(Box::new(indexer), cfg.opensearch.max_concurrent_requests, n.outbox.clone())
        }
    };
    let limits = IngestLimits {
        // One file more than cores: while one waits for its last batch to be indexed, the
        // cores still have a file to decode.
        parallel: std::thread::available_parallelism().map_or(2, |n| n.get()) + 1,
        budget: budget(cfg)?,
        max_file_time: cfg.limits.max_object_time,
    };
    let started = Instant::now();
    let s = ingest::ingest(decoder, target, found.files, limits).await?;
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
            "trailship ingest: {} files, {} events in {secs:.2} s, {} events/s ({settled}; {} digest files skipped, {} other \
             files skipped, {} files failed){}",
            s.files,
            s.events,
            rate(s.events, secs),
            found.digests,
            found.others,
            s.failed + found.missing.len(),
            peak_memory()
        ),
    );
    if s.failed + found.missing.len() > 0 {
        return Err(anyhow::anyhow!("{} files failed (see the errors above)", s.failed + found.missing.len()).into());
    }
    Ok(())
}

/// `trailship replay-deadletters`.
pub async fn replay_deadletters(
    cfg: &Config,
    since: Option<String>,
    reason: Option<String>,
) -> Result<(), CommandError> {
    let since = since
        .map(|s| replay::parse_since(&s, chrono::Utc::now()))
        .transpose()
        .map_err(|message| ConfigError { key: "--since".into(), message })?;
    let filter = replay::ReplayFilter { since, reason };
    let decoder = object_decoder(cfg)?;
    let indexer = indexer(cfg).await?;
    install_templates(indexer.client(), cfg).await?;
    let started = Instant::now();
    let client = indexer.client().clone();
    let s = replay::replay(&client, &indexer, &decoder, &cfg.opensearch.deadletter_index, &filter).await?;
    say(
        tracing::Level::INFO,
        &format!(
            "trailship replay-deadletters: {} dead letters in {:.2} s ({} replayed and deleted, {} still failing, {} not replayable: only their start was kept)",
            s.found,
            started.elapsed().as_secs_f64(),
            s.replayed,
            s.still_failing,
            s.not_replayable
        ),
    );
    if s.still_failing > 0 {
        return Err(
            anyhow::anyhow!("{} dead letters still fail (see the dead-letter index for why)", s.still_failing).into()
        );
    }
    Ok(())
}

/// How long the one-shot commands wait for the last notifications at exit: the webhooks'
/// retries take this long at most with the default settings.
const NOTIFY_AT_EXIT: Duration = Duration::from_secs(120);

/// Events per second for the summary line.
fn rate(events: usize, secs: f64) -> String {
    if secs <= 0.0 { "n/a".into() } else { format!("{:.0}", events as f64 / secs) }
}

fn open_output(path: &PathBuf) -> Result<Box<dyn std::io::Write + Send>, CommandError> {
    if path.as_os_str() == "-" {
        return Ok(Box::new(std::io::stdout()));
    }
    let file = std::fs::File::create(path).map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
    Ok(Box::new(file))
}

/// The record and decompressed-size caps of `limits.*`.
fn frame_limits(cfg: &Config) -> FrameLimits {
    FrameLimits { max_record_bytes: cfg.limits.max_record_bytes, max_total_bytes: cfg.limits.max_decompressed_bytes }
}

/// The decoder, with the GeoIP databases opened: a configured database that cannot be read is
/// a configuration error.
fn object_decoder(cfg: &Config) -> Result<ObjectDecoder, ConfigError> {
    let (city, asn) = (cfg.geoip.city_db.as_deref(), cfg.geoip.asn_db.as_deref());
    let geo = GeoIp::open(city, asn).map_err(|e| {
        let key = if Some(e.path()) == city { "geoip.city_db" } else { "geoip.asn_db" };
        ConfigError { key: key.into(), message: e.to_string() }
    })?;
    if let Some(geo) = &geo {
        tracing::info!(databases = ?geo, "geoip enabled");
    }
    Ok(ObjectDecoder {
        enricher: Enricher::with_geoip(geo),
        limits: BatchLimits { max_bytes: cfg.opensearch.bulk_max_bytes, max_actions: cfg.opensearch.bulk_max_actions },
        frame: frame_limits(cfg),
        window: EventWindow {
            oldest: cfg.limits.oldest_event_day,
            days_ahead: cfg.limits.event_days_ahead,
            ..EventWindow::cloudtrail()
        },
        access_window: EventWindow {
            oldest: cfg.s3access.oldest_event_day,
            days_ahead: cfg.limits.event_days_ahead,
            ..EventWindow::s3access()
        },
        index_prefix: cfg.opensearch.index_prefix.clone(),
        index_period: cfg.opensearch.index_period,
        access_index_prefix: cfg.s3access.index_prefix.clone(),
        deadletter_index: cfg.opensearch.deadletter_index.clone(),
        router: cfg.s3access.router.clone(),
        detector: std::sync::Arc::new(load_rules(cfg, &[])?.detector),
        alerts_index_prefix: cfg.alerts.index_prefix.clone(),
    })
}

async fn indexer(cfg: &Config) -> Result<Indexer, CommandError> {
    let client = Client::connect(&cfg.opensearch).await?;
    let indexer = Indexer::new(client, cfg.opensearch.deadletter_index.clone(), cfg.opensearch.max_retries);
    // Created alerts go back to the pipeline only for the webhooks.
    Ok(indexer.handing_back_alerts(!cfg.alerts.webhook_urls.is_empty()))
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "cannot listen for SIGTERM");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("stop signal received");
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn the_sdk_logs_errors_only_unless_the_level_asks_for_debug() {
        let info = log_filter(Level::INFO);
        assert!(info.starts_with("info,aws_config=error,aws_smithy_runtime=error"), "{info}");
        let parsed: tracing_subscriber::filter::Targets = info.parse().unwrap();
        assert!(!parsed.would_enable("aws_config::meta::credentials::chain", &Level::WARN));
        assert!(parsed.would_enable("aws_config::meta::credentials::chain", &Level::ERROR));
        assert!(parsed.would_enable("trailship::pipeline", &Level::INFO));
        let debug: tracing_subscriber::filter::Targets = log_filter(Level::DEBUG).parse().unwrap();
        assert!(debug.would_enable("aws_config::meta::credentials::chain", &Level::WARN));
    }
}
