//! The alert notifier of `run`, `ingest` and `backfill`: started when `alerts.webhook_urls` is
//! set, finished (queue delivered, within a time limit) before the summary line.

use super::common::CommandError;
use crate::config::Config;
use crate::pipeline::spawn_notifier;
use crate::webhooks::{Delivered, HttpWebhook, Outbox, Retries};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Notification bodies queued at most; past it they are dropped and counted.
const QUEUE: usize = 1024;

/// The running notifier, if any.
pub struct Notifier {
    /// Where the pipeline announces alerts (`None`: no webhooks configured).
    pub outbox: Option<Outbox>,
    task: Option<(JoinHandle<Delivered>, CancellationToken)>,
}

impl Notifier {
    /// Starts delivering to the configured webhooks; nothing when there are none.
    pub fn start(cfg: &Config) -> Result<Notifier, CommandError> {
        let a = &cfg.alerts;
        if a.webhook_urls.is_empty() {
            return Ok(Notifier { outbox: None, task: None });
        }
        let webhook = HttpWebhook::new(a.webhook_timeout)
            .map_err(|e| anyhow::anyhow!("cannot build the http client for the webhooks: {e}"))?;
        let retries = Retries {
            times: a.webhook_retries,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
        };
        let cancel = CancellationToken::new();
        let (outbox, handle) =
            spawn_notifier(webhook, a.webhook_urls.clone(), retries, a.min_level, QUEUE, cancel.clone());
        tracing::info!(webhooks = a.webhook_urls.len(), min_level = a.min_level.as_str(), "alert notifications on");
        Ok(Notifier { outbox: Some(outbox), task: Some((handle, cancel)) })
    }

    /// Waits up to `limit` for the queued notifications to be delivered (every other clone of
    /// the outbox must be gone), then gives up on the rest.
    pub async fn finish(mut self, limit: Duration) -> Delivered {
        self.outbox = None;
        let Some((mut handle, cancel)) = self.task.take() else { return Delivered::default() };
        let done = match tokio::time::timeout(limit, &mut handle).await {
            Ok(done) => done,
            Err(_) => {
                tracing::warn!(?limit, "alert notifications still being delivered at exit: giving up on the rest");
                cancel.cancel();
                handle.await
            }
        };
        let done = done.unwrap_or_default();
        if done.failed > 0 {
            tracing::warn!(
                delivered = done.delivered,
                failed = done.failed,
                "some alert notifications were not delivered"
            );
        }
        done
    }
}
