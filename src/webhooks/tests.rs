//! The delivery loop against an in-memory webhook that fails as told.

use super::*;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Answers each POST with the next scripted result (then `Ok`), recording what was sent where.
#[derive(Default, Clone)]
struct Twin {
    script: Arc<Mutex<VecDeque<Result<(), PostError>>>>,
    posts: Arc<Mutex<Vec<(String, Bytes)>>>,
}

impl Twin {
    fn failing(results: Vec<Result<(), PostError>>) -> Twin {
        Twin { script: Arc::new(Mutex::new(results.into())), ..Twin::default() }
    }

    fn posts(&self) -> Vec<(String, Bytes)> {
        self.posts.lock().unwrap().clone()
    }
}

impl Webhook for Twin {
    async fn post(&self, url: &Secret, body: Bytes) -> Result<(), PostError> {
        self.posts.lock().unwrap().push((url.expose().to_owned(), body));
        self.script.lock().unwrap().pop_front().unwrap_or(Ok(()))
    }
}

fn busy() -> Result<(), PostError> {
    Err(PostError { transient: true, reason: "answered 503 Service Unavailable".into() })
}

fn refused() -> Result<(), PostError> {
    Err(PostError { transient: false, reason: "answered 404 Not Found".into() })
}

fn retries(times: usize) -> Retries {
    Retries { times, min_delay: Duration::from_millis(1), max_delay: Duration::from_millis(4) }
}

fn alert_doc(level: &str, id: &str) -> Vec<u8> {
    format!(
        r#"{{"@timestamp":"2024-07-31T12:46:41Z","rule":{{"id":"r","name":"R","level":"{level}","tags":[]}},"eventID":"{id}"}}"#
    )
    .into_bytes()
}

fn urls(list: &[&str]) -> Vec<Secret> {
    list.iter().map(|u| Secret::new((*u).to_owned())).collect()
}

fn origin() -> Arc<Origin> {
    Arc::new(Origin::S3 { bucket: "trail".into(), key: "AWSLogs/1/f.json.gz".into() })
}

#[tokio::test]
async fn failures_that_may_pass_are_retried_until_delivered() {
    let twin = Twin::failing(vec![busy(), busy()]);
    let (outbox, rx) = Outbox::new(8, Level::High);
    outbox.file_indexed(&origin(), &[alert_doc("high", "e-1"), alert_doc("low", "e-2")], 0);
    drop(outbox);
    let done = deliver(rx, twin.clone(), urls(&["https://hook/a"]), retries(5), CancellationToken::new()).await;
    assert_eq!(done, Delivered { delivered: 1, failed: 0 });
    let posts = twin.posts();
    assert_eq!(posts.len(), 3, "two failures, then the same body again");
    assert!(posts.iter().all(|(u, b)| u == "https://hook/a" && b == &posts[0].1));
    let body: serde_json::Value = serde_json::from_slice(&posts[0].1).unwrap();
    assert_eq!(body["alerts"].as_array().unwrap().len(), 1, "the low alert is below alerts.min_level");
}

#[tokio::test]
async fn a_webhook_that_keeps_failing_is_given_up_and_the_next_still_served() {
    let twin = Twin::failing(vec![busy(), busy(), busy(), refused()]);
    let (outbox, rx) = Outbox::new(8, Level::High);
    outbox.file_indexed(&origin(), &[alert_doc("high", "e-1")], 0);
    outbox.file_indexed(&origin(), &[alert_doc("critical", "e-2"), alert_doc("critical", "e-3")], 0);
    drop(outbox);
    let done =
        deliver(rx, twin.clone(), urls(&["https://hook/a", "https://hook/b"]), retries(2), CancellationToken::new())
            .await;
    // File 1: hook a fails 3 times (first try + 2 retries), hook b refuses (no retry for a 404).
    // File 2: both deliver at once.
    assert_eq!(done, Delivered { delivered: 4, failed: 2 });
    let posts = twin.posts();
    let to: Vec<&str> = posts.iter().map(|(u, _)| u.rsplit('/').next().unwrap()).collect();
    assert_eq!(to, ["a", "a", "a", "b", "a", "b"]);
}

#[tokio::test]
async fn a_full_queue_drops_instead_of_waiting_and_shutdown_counts_what_is_left() {
    let (outbox, rx) = Outbox::new(1, Level::Informational);
    outbox.file_indexed(&origin(), &[alert_doc("low", "e-1")], 0);
    // The queue holds one body: this one is dropped at once, nothing waits.
    outbox.file_indexed(&origin(), &[alert_doc("low", "e-2")], 0);
    let cancel = CancellationToken::new();
    cancel.cancel();
    let done = deliver(rx, Twin::default(), urls(&["https://hook/a"]), retries(1), cancel).await;
    assert_eq!(done, Delivered { delivered: 0, failed: 1 }, "cancelled before the first was sent");
    drop(outbox);
}

#[test]
fn http_errors_never_show_the_url() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let webhook = HttpWebhook::new(Duration::from_secs(2)).unwrap();
    // Nothing listens on port 9 of loopback: the connection is refused.
    let url = Secret::new("http://127.0.0.1:9/services/s3cr3t-token".into());
    let err = rt.block_on(webhook.post(&url, Bytes::from_static(b"{}"))).unwrap_err();
    assert!(err.transient, "{err}");
    assert!(!err.reason.contains("s3cr3t-token") && !err.reason.contains("127.0.0.1"), "{err}");
}

#[test]
fn an_object_keeps_only_what_is_notified_and_at_most_its_share() {
    let (outbox, _rx) = Outbox::new(8, Level::High);
    let (mut kept, mut over) = (Vec::new(), 0);
    outbox.keep(
        &mut kept,
        &mut over,
        vec![(Level::Low, alert_doc("low", "e-1")), (Level::High, alert_doc("high", "e-2"))],
    );
    assert_eq!((kept.len(), over), (1, 0), "below the level: not kept");
    let many: Vec<(Level, Vec<u8>)> =
        (0..MAX_PER_OBJECT + 4).map(|i| (Level::Critical, alert_doc("critical", &format!("x-{i}")))).collect();
    outbox.keep(&mut kept, &mut over, many);
    assert_eq!((kept.len(), over), (MAX_PER_OBJECT, 5));
}
