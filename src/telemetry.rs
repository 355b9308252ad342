//! What an operator watches: the metric names in one place, the Prometheus recorder, and the
//! `/metrics` `/healthz` `/readyz` listener (`metrics.listen`). `/readyz` answers 200 while the
//! latest check of every dependency (OpenSearch, and SQS for `run`) succeeded, else 503 naming
//! what is down. Without a listener no recorder is installed and every metric call is a no-op.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Messages by `outcome`: `deleted`, `failed`, `released`, `refused`.
pub const MESSAGES: &str = "trailship_messages_total";
/// Objects by `outcome`: `indexed`, `skipped`, `failed`, `kms_denied` (failed: the object's KMS
/// key refused the worker).
pub const OBJECTS: &str = "trailship_objects_total";
/// Events by `outcome`: `indexed`, `duplicate`, `dead_lettered`, `dropped` (by a filter rule).
pub const EVENTS: &str = "trailship_events_total";
/// Events dropped by filter rules (`filter.drop`), by `rule` (its id) and `name` (its title),
/// counted as each object's decoding ends.
pub const DROPPED: &str = "trailship_events_dropped_total";
/// Compressed bytes read from S3.
pub const S3_BYTES: &str = "trailship_s3_bytes_total";
/// Duration of each `_bulk` request (histogram).
pub const BULK_DURATION: &str = "trailship_bulk_duration_seconds";
/// Bulk retries by `reason`: `throttled`, `blocked`, `unavailable`, `too_large`.
pub const BULK_RETRIES: &str = "trailship_bulk_retries_total";
/// Messages being processed now.
pub const IN_FLIGHT: &str = "trailship_messages_in_flight";
/// The newest `eventTime` indexed, as Unix seconds: `time() - it` is the ingest lag.
pub const NEWEST_EVENT: &str = "trailship_newest_event_timestamp_seconds";

/// Alert documents indexed (a detection rule matched an event), by `level`.
pub const ALERTS: &str = "trailship_alerts_total";
/// Alerts sent to webhooks, by `outcome`: `delivered`, `failed` (after the retries), `dropped`
/// (the notification queue was full).
pub const ALERT_NOTIFICATIONS: &str = "trailship_alert_notifications_total";
/// Findings written by the findings pass, by `outcome`: `created` (new, announced), `updated`
/// (a larger count), `current` (another pass was first).
pub const FINDINGS: &str = "trailship_findings_total";
/// Findings-pass ranges, by `outcome`: `done`, `failed` (kept for the next pass), `truncated`
/// (a correlation read its cap of events and was evaluated on those).
pub const FINDINGS_RANGES: &str = "trailship_findings_ranges_total";

/// Every label value of the counters, so each series exists (at 0) from the start.
const SERIES: &[(&str, &str, &[&str])] = &[
    (MESSAGES, "outcome", &["deleted", "failed", "released", "refused"]),
    (OBJECTS, "outcome", &["indexed", "skipped", "failed", "kms_denied"]),
    (EVENTS, "outcome", &["indexed", "duplicate", "dead_lettered", "dropped"]),
    (BULK_RETRIES, "reason", &["throttled", "blocked", "unavailable", "too_large"]),
    (ALERTS, "level", &["informational", "low", "medium", "high", "critical"]),
    (ALERT_NOTIFICATIONS, "outcome", &["delivered", "failed", "dropped"]),
    (FINDINGS, "outcome", &["created", "updated", "current"]),
    (FINDINGS_RANGES, "outcome", &["done", "failed", "truncated"]),
];

/// Installs the Prometheus recorder and describes every metric.
pub fn install() -> anyhow::Result<PrometheusHandle> {
    let buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(metrics_exporter_prometheus::Matcher::Full(BULK_DURATION.into()), &buckets)?
        .install_recorder()?;
    metrics::describe_counter!(MESSAGES, "SQS messages by outcome");
    metrics::describe_counter!(OBJECTS, "objects named by notifications, by outcome");
    metrics::describe_counter!(EVENTS, "events by how they were settled");
    metrics::describe_counter!(DROPPED, "events not indexed because a filter rule matched them, by rule");
    metrics::describe_counter!(S3_BYTES, metrics::Unit::Bytes, "compressed bytes read from S3");
    metrics::describe_histogram!(BULK_DURATION, metrics::Unit::Seconds, "duration of each _bulk request");
    metrics::describe_counter!(BULK_RETRIES, "bulk requests or items sent again, by reason");
    metrics::describe_gauge!(IN_FLIGHT, "messages being processed");
    metrics::describe_counter!(ALERTS, "alert documents indexed, by rule level");
    metrics::describe_counter!(ALERT_NOTIFICATIONS, "alerts sent to webhooks, by outcome");
    metrics::describe_counter!(FINDINGS, "findings written by the findings pass, by outcome");
    metrics::describe_counter!(FINDINGS_RANGES, "findings-pass ranges, by outcome");
    metrics::describe_gauge!(NEWEST_EVENT, metrics::Unit::Seconds, "newest eventTime indexed (unix time)");
    for (name, label, values) in SERIES {
        for value in *values {
            metrics::counter!(*name, *label => *value).increment(0);
        }
    }
    metrics::counter!(S3_BYTES).increment(0);
    metrics::gauge!(IN_FLIGHT).set(0.0);
    Ok(handle)
}

/// Raises the newest-event gauge to `secs` if it is newer.
pub fn newest_event(secs: i64) {
    static NEWEST: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(i64::MIN);
    let before = NEWEST.fetch_max(secs, std::sync::atomic::Ordering::Relaxed);
    if secs > before {
        metrics::gauge!(NEWEST_EVENT).set(secs as f64);
    }
}

/// A dependency check: `Ok` or why not.
pub type Check = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// A named dependency and how to check it afresh.
pub type Dependency = (&'static str, Box<dyn Fn() -> Check + Send + Sync>);

/// The latest result of each dependency check.
#[derive(Clone, Default)]
pub struct Readiness {
    latest: Arc<Mutex<BTreeMap<&'static str, Result<(), String>>>>,
}

impl Readiness {
    /// 200 and `ready`, or 503 and what is down.
    fn answer(&self) -> (StatusCode, String) {
        let latest = self.latest.lock().expect("readiness lock");
        let down: Vec<String> =
            latest.iter().filter_map(|(name, r)| r.as_ref().err().map(|e| format!("{name}: {e}"))).collect();
        if latest.is_empty() {
            return (StatusCode::SERVICE_UNAVAILABLE, "not checked yet\n".into());
        }
        if down.is_empty() {
            (StatusCode::OK, "ready\n".into())
        } else {
            (StatusCode::SERVICE_UNAVAILABLE, down.join("\n") + "\n")
        }
    }
}

/// How often the dependencies are checked, and how long one check may take.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// Checks every dependency now and then every [`CHECK_EVERY`] until `stop`; each `checks`
/// entry makes a fresh check.
pub async fn check_dependencies(
    readiness: Readiness,
    checks: Vec<Dependency>,
    handle: PrometheusHandle,
    stop: CancellationToken,
) {
    loop {
        for (name, check) in &checks {
            let result = match tokio::time::timeout(CHECK_EVERY, check()).await {
                Ok(r) => r,
                Err(_) => Err(format!("no answer in {} s", CHECK_EVERY.as_secs())),
            };
            if let Err(e) = &result {
                tracing::warn!(dependency = name, error = %e, "dependency check failed: not ready");
            }
            readiness.latest.lock().expect("readiness lock").insert(name, result);
        }
        handle.run_upkeep();
        tokio::select! {
            _ = tokio::time::sleep(CHECK_EVERY) => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until `stop`, one connection at a
/// time (scrapes are rare and small), each bounded by a timeout.
pub async fn serve(
    listener: tokio::net::TcpListener,
    handle: PrometheusHandle,
    readiness: Readiness,
    stop: CancellationToken,
) {
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics listener accept failed");
                    continue;
                }
            },
            _ = stop.cancelled() => return,
        };
        let (handle, readiness) = (handle.clone(), readiness.clone());
        let service = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
            let (status, content_type, body) = match req.uri().path() {
                "/metrics" => {
                    handle.run_upkeep();
                    (StatusCode::OK, "text/plain; version=0.0.4", handle.render())
                }
                "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
                "/readyz" => {
                    let (status, body) = readiness.answer();
                    (status, "text/plain", body)
                }
                _ => (StatusCode::NOT_FOUND, "text/plain", "not found\n".to_owned()),
            };
            let response = Response::builder()
                .status(status)
                .header("content-type", content_type)
                .body(Full::new(Bytes::from(body)))
                .expect("a valid response");
            async move { Ok::<_, std::convert::Infallible>(response) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(false)
            .serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        match tokio::time::timeout(Duration::from_secs(10), conn).await {
            Ok(Err(e)) => tracing::debug!(error = %e, "metrics connection failed"),
            Err(_) => tracing::debug!("metrics connection timed out"),
            Ok(Ok(())) => {}
        }
    }
}

/// Binds `addr` (an error names it).
pub async fn bind(addr: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("metrics.listen {addr}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_what_is_down() {
        let r = Readiness::default();
        assert_eq!(r.answer().0, StatusCode::SERVICE_UNAVAILABLE);
        r.latest.lock().unwrap().insert("opensearch", Ok(()));
        r.latest.lock().unwrap().insert("sqs", Ok(()));
        assert_eq!(r.answer(), (StatusCode::OK, "ready\n".into()));
        r.latest.lock().unwrap().insert("opensearch", Err("connection refused".into()));
        let (status, body) = r.answer();
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body, "opensearch: connection refused\n");
    }
}
