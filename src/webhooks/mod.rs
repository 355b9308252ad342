//! Alert notifications: after a file's batches are settled, the alert documents it created
//! (at or above `alerts.min_level`) are POSTed to every `alerts.webhook_urls` entry, one body
//! per file (see [`message`]). Delivery never holds up ingestion: the [`Outbox`] hands bodies to
//! a bounded queue without waiting (a full queue drops and counts them; the alert documents are
//! indexed either way), and [`deliver`] retries failures that may pass with backoff, then logs
//! and counts them. A webhook URL is a credential: it never appears in a log line or an error,
//! webhooks are named by their place in the list.

pub mod message;

use crate::config::Secret;
use crate::detect::Level;
use crate::source::Origin;
use crate::telemetry::ALERT_NOTIFICATIONS;
use bytes::Bytes;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// The most alerts of one object that are notified (in posts of [`message::MAX_PER_POST`]).
pub const MAX_PER_OBJECT: usize = 1000;

/// One POST body, for every webhook.
#[derive(Debug)]
pub struct Notice {
    /// The JSON body.
    pub body: Bytes,
    /// Alerts in it.
    pub alerts: usize,
    /// The file the alerts came from (for logs).
    pub origin: Arc<Origin>,
}

/// Where the pipeline drops the alerts of each settled file; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Notice>,
    min_level: Level,
}

impl Outbox {
    /// An outbox holding up to `capacity` bodies not yet delivered, and their receiver.
    pub fn new(capacity: usize, min_level: Level) -> (Outbox, mpsc::Receiver<Notice>) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Outbox { tx, min_level }, rx)
    }

    /// Adds the alert documents of `created` that are to be notified (at or above the minimum
    /// level) to `kept`, the alerts of one object so far. Past [`MAX_PER_OBJECT`] the rest are
    /// only counted in `over`, so an object matched by every event holds no more than that.
    pub fn keep(&self, kept: &mut Vec<Vec<u8>>, over: &mut usize, created: Vec<(Level, Vec<u8>)>) {
        for (_, doc) in created.into_iter().filter(|(level, _)| *level >= self.min_level) {
            if kept.len() < MAX_PER_OBJECT {
                kept.push(doc);
            } else {
                *over += 1;
            }
        }
    }

    /// Queues the notifications for the alert documents `docs` (document lines) that `origin`
    /// created, `over` more having been left out (see [`Outbox::keep`]). Never waits: when the
    /// queue is full the notification is dropped, logged and counted (its alerts are in the
    /// alert index all the same).
    pub fn file_indexed(&self, origin: &Arc<Origin>, docs: &[Vec<u8>], over: usize) {
        if over > 0 {
            tracing::warn!(bucket = origin.bucket(), key = %origin.key(), notified = docs.len(), left_out = over,
                "more alerts in one file than are notified: the rest are only in the alert index");
            metrics::counter!(ALERT_NOTIFICATIONS, "outcome" => "dropped").increment(over as u64);
        }
        for (body, alerts) in message::bodies(docs, self.min_level) {
            let notice = Notice { body: Bytes::from(body), alerts, origin: origin.clone() };
            if let Err(e) = self.tx.try_send(notice) {
                let (closed, notice) = match e {
                    mpsc::error::TrySendError::Full(n) => (false, n),
                    mpsc::error::TrySendError::Closed(n) => (true, n),
                };
                tracing::warn!(bucket = origin.bucket(), key = %origin.key(), alerts = notice.alerts, closed,
                    "alert notifications not queued (the webhooks are too slow or stopped): they are only in the alert index");
                metrics::counter!(ALERT_NOTIFICATIONS, "outcome" => "dropped").increment(notice.alerts as u64);
            }
        }
    }
}

/// Why a POST failed; never holds the URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{reason}")]
pub struct PostError {
    /// Whether trying again may succeed (5xx, 429, 408, timeout, no answer).
    pub transient: bool,
    /// What happened, without the URL.
    pub reason: String,
}

/// Sends one body to one webhook.
pub trait Webhook: Send + Sync + 'static {
    /// POSTs `body` (JSON) to `url`; `Ok` on a 2xx answer.
    fn post(&self, url: &Secret, body: Bytes) -> impl Future<Output = Result<(), PostError>> + Send;
}

/// Webhooks over HTTP(S).
#[derive(Debug, Clone)]
pub struct HttpWebhook {
    client: reqwest::Client,
}

impl HttpWebhook {
    /// A client whose every POST ends within `timeout`.
    pub fn new(timeout: Duration) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("trailship/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(HttpWebhook { client })
    }
}

impl Webhook for HttpWebhook {
    async fn post(&self, url: &Secret, body: Bytes) -> Result<(), PostError> {
        let sent = self.client.post(url.expose()).header("content-type", "application/json").body(body).send().await;
        let response = sent.map_err(|e| {
            let transient = e.is_timeout() || e.is_connect() || e.is_request() || e.is_body();
            PostError { transient, reason: e.without_url().to_string() }
        })?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let transient = status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 408;
        Err(PostError { transient, reason: format!("answered {status}") })
    }
}

/// How [`deliver`] retries.
#[derive(Debug, Clone, Copy)]
pub struct Retries {
    /// Retries after the first attempt.
    pub times: usize,
    /// The first delay.
    pub min_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
}

/// What [`deliver`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Alerts delivered, summed over webhooks.
    pub delivered: usize,
    /// Alerts not delivered after the retries (or at shutdown), summed over webhooks.
    pub failed: usize,
}

/// Sends every notice from `rx` to every webhook in `urls` until `rx` closes (every
/// [`Outbox`] dropped) or `cancel` fires (then what is left counts as failed).
pub async fn deliver<W: Webhook>(
    mut rx: mpsc::Receiver<Notice>,
    webhook: W,
    urls: Vec<Secret>,
    retries: Retries,
    cancel: CancellationToken,
) -> Delivered {
    let mut done = Delivered::default();
    loop {
        let notice = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            n = rx.recv() => n,
        };
        let Some(notice) = notice else { break };
        for (i, url) in urls.iter().enumerate() {
            let ok = post_with_retries(&webhook, i, url, &notice, retries, &cancel).await;
            let outcome = if ok { "delivered" } else { "failed" };
            metrics::counter!(ALERT_NOTIFICATIONS, "outcome" => outcome).increment(notice.alerts as u64);
            if ok { done.delivered += notice.alerts } else { done.failed += notice.alerts }
        }
    }
    // Whatever is still queued at shutdown was not delivered.
    rx.close();
    while let Ok(notice) = rx.try_recv() {
        let missed = notice.alerts * urls.len();
        metrics::counter!(ALERT_NOTIFICATIONS, "outcome" => "failed").increment(missed as u64);
        done.failed += missed;
    }
    done
}

/// One body to one webhook, retried while the failure may pass; `true` once delivered.
async fn post_with_retries<W: Webhook>(
    webhook: &W,
    index: usize,
    url: &Secret,
    notice: &Notice,
    retries: Retries,
    cancel: &CancellationToken,
) -> bool {
    use backon::BackoffBuilder;
    let origin = &notice.origin;
    let mut delays = crate::retry::backoff(retries.min_delay, retries.max_delay, Some(retries.times)).build();
    loop {
        let sent = tokio::select! {
            r = webhook.post(url, notice.body.clone()) => r,
            _ = cancel.cancelled() => Err(PostError { transient: false, reason: "stopped at shutdown".into() }),
        };
        let error = match sent {
            Ok(()) => {
                tracing::debug!(webhook = index, alerts = notice.alerts, bucket = origin.bucket(), key = %origin.key(), "alerts notified");
                return true;
            }
            Err(e) => e,
        };
        let delay = if error.transient { delays.next() } else { None };
        let Some(delay) = delay else {
            tracing::error!(webhook = index, alerts = notice.alerts, bucket = origin.bucket(), key = %origin.key(),
                error = %error, "alert notification failed: the alerts are only in the alert index");
            return false;
        };
        tracing::warn!(webhook = index, error = %error, ?delay, "alert notification failed, retrying");
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = cancel.cancelled() => {}
        }
    }
}

#[cfg(test)]
mod tests;
