//! `trailship run`: the worker, its telemetry listener and the stop signal.

use super::aws::aws_clients;
use super::common::{CommandError, budget, decoder_and_findings, indexer, peak_memory, rate, shutdown_signal};
use super::logging::say;
use super::setup::install_templates;
use super::{alerts, anomalies, trends};
use crate::config::Config;
use crate::fetch::S3Store;
use crate::index::client::Client;
use crate::pipeline::findings::{Notify, spawn_findings};
use crate::pipeline::worker::Worker;
use crate::pipeline::{spawn_indexers, spawn_telemetry};
use crate::queue::sqs::SqsQueue;
use crate::telemetry;
use crate::touched::Touched;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

/// `trailship run`.
pub async fn run(cfg: &Config, drain: bool) -> Result<(), CommandError> {
    let queue_url = cfg.sqs.require_queue_url()?.to_owned();
    let (accounts, lister) = super::names::accounts(cfg).await;
    let (decoder, findings) = decoder_and_findings(cfg, &accounts)?;
    let decoder = Arc::new(decoder);
    let filter = decoder.filter.clone();
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
    let touched = Touched::default();
    let trends = cfg.trends.interval.map(|every| {
        crate::pipeline::trends::spawn_trends(
            cluster.clone(),
            decoder.sources.trend_specs(cfg.opensearch.index_period, &accounts),
            touched.clone(),
            every,
            trends_stop.clone(),
        )
    });
    let names_stop = CancellationToken::new();
    let names = lister.map(|lister| {
        crate::pipeline::accounts::spawn_account_refresh(
            lister,
            accounts.clone(),
            cfg.accounts.refresh,
            names_stop.clone(),
        )
    });
    let geoip_stop = CancellationToken::new();
    let geoip = decoder
        .geo
        .clone()
        .map(|geo| crate::pipeline::geoip::spawn_geoip_reload(geo, cfg.geoip.reload, geoip_stop.clone()));
    let notify = Notify { outbox: notifier.outbox.clone(), max_age: cfg.alerts.max_notify_age };
    let findings_stop = CancellationToken::new();
    let findings_pass = (!findings.is_empty()).then(|| {
        let every = (cfg.alerts.pass_interval, notify.clone());
        spawn_findings(cluster.clone(), findings.clone(), touched.clone(), every, findings_stop.clone())
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
        touched: touched.clone(),
    });
    tracing::info!(queue = %queue_url, opensearch = %cfg.opensearch.url, drain,
        memory_mb = cfg.limits.memory_bytes >> 20, objects_at_once = worker.budget.objects(), "worker started");
    let started = Instant::now();
    let result = worker.clone().run(drain, shutdown_signal()).await;
    drop(worker);
    for h in indexers {
        h.await.map_err(anyhow::Error::from)?;
    }
    findings_stop.cancel();
    if let Some(p) = findings_pass {
        p.await.map_err(anyhow::Error::from)?;
    }
    let mut found = String::new();
    if drain && result.is_ok() {
        // Drained: the findings of what was indexed are written (and announced) on return.
        let report = anomalies::after_indexing(&cluster, &findings, &touched, notify.outbox.clone(), cfg).await;
        found = format!("; findings: {report}");
    }
    // The notifier finishes once every outbox is gone.
    drop(notify);
    notifier.finish(cfg.sqs.shutdown_grace).await;
    telemetry_stop.cancel();
    trends_stop.cancel();
    names_stop.cancel();
    geoip_stop.cancel();
    if let Some(n) = names {
        n.await.map_err(anyhow::Error::from)?;
    }
    if let Some(g) = geoip {
        g.await.map_err(anyhow::Error::from)?;
    }
    if let Some(t) = trends {
        t.await.map_err(anyhow::Error::from)?;
    }
    let s = result?;
    if drain && cfg.trends.interval.is_some() {
        // Drained: the trends of what was indexed are current when the command returns.
        trends::after_indexing(&cluster, cfg, &touched, &accounts).await;
    }
    let secs = started.elapsed().as_secs_f64();
    say(
        tracing::Level::INFO,
        &format!(
            "trailship run: {} files, {} events in {:.2} s of processing, {} events/s ({secs:.2} s in all, idle long-polls included; {} indexed, {} already present, {} dead-lettered, {} alerts{}; {} messages: {} deleted, {} left for redelivery, {} released, {} refused; {} objects skipped{found}){}",
            s.files,
            s.events,
            s.busy.as_secs_f64(),
            rate(s.events, s.busy.as_secs_f64()),
            s.indexed.created,
            s.indexed.duplicates,
            s.indexed.dead_lettered,
            s.indexed.alerts,
            filter.summary(),
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
