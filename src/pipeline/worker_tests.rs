//! The worker's delivery guarantee against in-memory twins of SQS, S3 and `_bulk`: a message is
//! deleted only once every event it names is settled, released when the shutdown grace runs out,
//! kept visible by the heartbeat while it is worked on, and never lost to a failing heartbeat,
//! a surplus of messages, or `--drain` giving up.

use super::*;
use crate::index::Indexer;
use crate::pipeline::spawn_indexers;
use crate::testing::{BulkTwin, MemoryQueue, MemoryStore, answer, created, failed, status};
use serde_json::json;

const BUCKET: &str = "trail";

fn key(n: usize) -> String {
    format!("AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/f{n}.json.gz")
}

/// A log file of `events` records with ids `{prefix}-{i}`.
fn log_file(prefix: &str, events: usize) -> Vec<u8> {
    let records: Vec<_> = (0..events)
        .map(|i| json!({"eventID": format!("{prefix}-{i}"), "eventTime": "2024-08-01T10:00:00Z", "eventName": "GetObject"}))
        .collect();
    serde_json::to_vec(&json!({"Records": records})).unwrap()
}

/// A CloudTrail "log delivered" notice naming these objects.
fn notice(keys: &[String]) -> String {
    json!({"s3Bucket": BUCKET, "s3ObjectKey": keys}).to_string()
}

struct Setup {
    queue: MemoryQueue,
    store: MemoryStore,
    twin: BulkTwin,
    grace: Duration,
    max_retries: usize,
    allowlist: crate::route::Allowlist,
}

impl Setup {
    fn new(bodies: &[String], twin: BulkTwin) -> Setup {
        // The worker's logs, shown when a test fails.
        let _ = tracing_subscriber::fmt().with_test_writer().with_max_level(tracing::Level::DEBUG).try_init();
        Setup {
            queue: MemoryQueue::with_bodies(bodies),
            store: MemoryStore::default(),
            twin,
            grace: Duration::from_secs(5),
            max_retries: 3,
            allowlist: crate::route::Allowlist::default(),
        }
    }

    fn worker(&self) -> (Arc<Worker<MemoryQueue, MemoryStore>>, Vec<tokio::task::JoinHandle<()>>) {
        let cancel = CancellationToken::new();
        let indexer = Indexer::new(self.twin.clone(), "trailship-deadletter".into(), self.max_retries)
            .with_delays(Duration::from_millis(1), Duration::from_millis(10))
            .holding_when_blocked(true);
        let (sink, handles) = spawn_indexers(indexer, 2, cancel.clone());
        let decoder = crate::testing::decoder(50, 4 << 20);
        let worker = Worker {
            queue: self.queue.clone(),
            store: self.store.clone(),
            decoder: Arc::new(decoder),
            sink,
            budget: Budget::new(256 << 20, 8 << 20),
            max_in_flight: 4,
            shutdown_grace: self.grace,
            max_object_time: Duration::from_secs(60),
            cancel,
            receive_delays: (Duration::from_millis(1), Duration::from_millis(5)),
            allowlist: self.allowlist.clone(),
            touched: Default::default(),
        };
        (Arc::new(worker), handles)
    }

    /// `run --drain` to the end.
    async fn drain(&self) -> anyhow::Result<RunSummary> {
        let (worker, handles) = self.worker();
        let result = worker.run(true, std::future::pending()).await;
        for h in handles {
            h.abort();
        }
        result
    }
}

fn log(q: &MemoryQueue) -> std::sync::MutexGuard<'_, crate::testing::QueueLog> {
    q.log.lock().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_acked_only_when_every_event_of_every_object_is_settled() {
    // m0 names two files; the second one's batch fails for good (a 400 on the whole request).
    // m1 names one file with a refused event: dead-lettered, so settled.
    let twin = BulkTwin::new(|_, actions| {
        if actions.iter().any(|a| a.id.starts_with("bad")) {
            return Err(status(400));
        }
        answer(
            actions
                .iter()
                .map(|a| {
                    if a.id == "c-1" && a.index.starts_with("cloudtrail") {
                        failed(a, 400, "mapper_parsing_exception")
                    } else {
                        created(a)
                    }
                })
                .collect(),
        )
    });
    let mut s = Setup::new(&[notice(&[key(0), key(1)]), notice(&[key(2)])], twin);
    s.store.put(BUCKET, &key(0), log_file("a", 120));
    s.store.put(BUCKET, &key(1), log_file("bad", 3));
    s.store.put(BUCKET, &key(2), log_file("c", 3));
    let summary = s.drain().await.unwrap();
    assert_eq!(log(&s.queue).acked, ["m1"]);
    assert_eq!((summary.acked, summary.failed, summary.released), (1, 1, 0));
    assert_eq!(summary.indexed.dead_lettered, 1);
    // Every event of the good file was sent in batches of at most 50, one batch out at a time.
    let sizes: Vec<usize> = s.twin.calls().iter().filter(|c| c[0].id.starts_with("a-")).map(Vec::len).collect();
    assert_eq!(sizes, [50, 50, 20]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_during_an_outage_releases_the_message_within_the_grace() {
    // The cluster answers 503 forever: the batch keeps retrying until the grace is over.
    let twin = BulkTwin::new(|_, _| Err(status(503)));
    let mut s = Setup::new(&[notice(&[key(0)])], twin);
    s.store.put(BUCKET, &key(0), log_file("a", 3));
    s.grace = Duration::from_millis(300);
    s.max_retries = 100_000;
    let (worker, handles) = s.worker();
    let twin = s.twin.clone();
    let started = tokio::time::Instant::now();
    let summary = worker.run(false, async move { twin.wait_for_calls(1).await }).await.unwrap();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert_eq!(log(&s.queue).released, ["m0"]);
    assert!(log(&s.queue).acked.is_empty());
    assert_eq!((summary.released, summary.acked, summary.failed), (1, 0, 0));
    for h in handles {
        tokio::time::timeout(Duration::from_secs(2), h).await.expect("indexer tasks stop once cancelled").unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_that_finishes_within_the_grace_is_acked_not_released() {
    let twin = BulkTwin::accepting();
    twin.close_gate();
    let mut s = Setup::new(&[notice(&[key(0)])], twin);
    s.store.put(BUCKET, &key(0), log_file("a", 3));
    let (worker, _handles) = s.worker();
    let twin = s.twin.clone();
    // The stop signal comes while the batch is held; the batch then answers within the grace.
    let summary = worker
        .run(false, async move {
            twin.wait_for_calls(1).await;
            twin.open_gate();
        })
        .await
        .unwrap();
    assert_eq!(log(&s.queue).acked, ["m0"]);
    assert!(log(&s.queue).released.is_empty());
    assert_eq!(summary.indexed.created, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_heartbeat_keeps_a_slow_message_invisible_and_its_failure_loses_nothing() {
    for fail_extend in [false, true] {
        let twin = BulkTwin::accepting();
        twin.close_gate();
        let mut s = Setup::new(&[notice(&[key(0)])], twin);
        s.store.put(BUCKET, &key(0), log_file("a", 3));
        s.queue.visibility = Duration::from_secs(3);
        s.queue.fail_extend = fail_extend;
        let (worker, _handles) = s.worker();
        let (queue, twin) = (s.queue.clone(), s.twin.clone());
        // Hold the bulk request until the heartbeat has run twice (every second here).
        tokio::spawn(async move {
            queue.wait_until(|l| l.extended >= 2).await;
            twin.open_gate();
        });
        let summary = worker.run(true, std::future::pending()).await.unwrap();
        assert!(log(&s.queue).extended >= 2);
        assert_eq!(log(&s.queue).acked, ["m0"], "fail_extend = {fail_extend}");
        assert_eq!(summary.indexed.created, 3);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delete_that_fails_is_tried_again_before_the_message_is_left_for_redelivery() {
    for (failures, acked, failed) in [(2, 1, 0), (10, 0, 1)] {
        let mut s = Setup::new(&[notice(&[key(0)])], BulkTwin::accepting());
        s.store.put(BUCKET, &key(0), log_file("a", 2));
        s.queue.fail_acks.store(failures, std::sync::atomic::Ordering::SeqCst);
        let summary = s.drain().await.unwrap();
        assert_eq!((summary.acked, summary.failed), (acked, failed), "{failures} failing deletes: {summary:?}");
        assert_eq!(log(&s.queue).acked.len(), acked);
    }
}

// One runtime thread: no message task can finish (and free its permit) while the worker hands
// out the first receive's messages, so exactly two are over the room it asked for.
#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn more_messages_than_asked_for_are_released_not_a_panic() {
    let bodies: Vec<String> = (0..6).map(|i| notice(&[key(i)])).collect();
    let mut s = Setup::new(&bodies, BulkTwin::accepting());
    for i in 0..6 {
        s.store.put(BUCKET, &key(i), log_file(&format!("f{i}"), 2));
    }
    s.queue.extra = 3;
    let summary = s.drain().await.unwrap();
    let mut acked = log(&s.queue).acked.clone();
    acked.sort();
    assert_eq!(acked, ["m0", "m1", "m2", "m3", "m4", "m5"]);
    // The first receive asks for 4 and gets all 6: two go back, and come again later.
    assert!(summary.released >= 2, "{summary:?}");
    assert_eq!(summary.messages, 6 + summary.released, "{summary:?}");
    assert_eq!(summary.indexed.created, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_giving_up_on_the_queue_still_releases_what_is_in_flight() {
    // The first receive hands out m0, then every receive fails; m0's batch is held meanwhile.
    let twin = BulkTwin::accepting();
    twin.close_gate();
    let mut s = Setup::new(&[notice(&[key(0)])], twin);
    s.store.put(BUCKET, &key(0), log_file("a", 3));
    s.queue.fail_receive_from = Some(2);
    s.grace = Duration::from_millis(200);
    let err = s.drain().await.unwrap_err();
    assert!(err.to_string().contains("5 attempts"), "{err}");
    assert_eq!(log(&s.queue).released, ["m0"]);
    assert!(log(&s.queue).acked.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_object_body_fails_at_its_deadline() {
    let mut s = Setup::new(&[notice(&[key(0)])], BulkTwin::accepting());
    s.store.stalled.insert(key(0));
    let (worker, _handles) = s.worker();
    let worker = Arc::new(Worker { max_object_time: Duration::from_millis(200), ..Arc::into_inner(worker).unwrap() });
    let summary = worker.run(true, std::future::pending()).await.unwrap();
    assert_eq!((summary.failed, summary.acked), (1, 0));
    assert!(log(&s.queue).acked.is_empty());
}

#[test]
fn busy_time_counts_only_while_some_message_is_in_flight() {
    let mut busy = Busy::default();
    busy.ended(0);
    assert_eq!(busy.total, Duration::ZERO, "nothing started, nothing counted");
    busy.starting(0);
    let first = busy.since.expect("the first message starts the clock");
    busy.starting(1);
    assert_eq!(busy.since, Some(first), "a second message does not restart it");
    busy.ended(1);
    assert!(busy.since.is_some(), "one still in flight");
    std::thread::sleep(Duration::from_millis(5));
    busy.ended(0);
    assert!(busy.since.is_none() && busy.total >= Duration::from_millis(5));
}
