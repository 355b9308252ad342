//! In-memory twins of the pipeline's I/O, for unit tests: a queue ([`MemoryQueue`]), an object
//! store ([`MemoryStore`]) and OpenSearch's `_bulk` endpoint ([`BulkTwin`]); and the decoder
//! the tests share. Each records what
//! it was asked, so tests can check the delivery guarantee without SQS, S3 or a cluster.

use crate::decode::FrameLimits;
use crate::fetch::{Body, FetchError, ObjectStore};
use crate::index::bulk::BatchLimits;
use crate::index::client::{BulkClient, ClientError};
use crate::pipeline::object::{Decoding, ObjectDecoder};
use crate::queue::{Message, Queue, QueueError};
use crate::source::ObjectRef;
use crate::sources::Sources;
use crate::sources::cloudtrail::CloudTrail;
use crate::sources::s3access::S3Access;
use bytes::Bytes;
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet, VecDeque};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::sync::Notify;

/// A decoder into `cloudtrail-*`, `s3access-*` and `trailship-deadletter`, with batches of at
/// most `max_actions` (1 MiB) and records of at most `max_record_bytes`, no rules.
pub fn decoder(max_actions: usize, max_record_bytes: usize) -> ObjectDecoder {
    decoder_with(max_actions, max_record_bytes, CloudTrail::new(Default::default()), S3Access::default())
}

/// [`decoder`] with these sources.
pub fn decoder_with(
    max_actions: usize,
    max_record_bytes: usize,
    cloudtrail: CloudTrail,
    access: S3Access,
) -> ObjectDecoder {
    ObjectDecoder {
        with: Decoding {
            limits: BatchLimits { max_bytes: 1 << 20, max_actions },
            frame: FrameLimits { max_record_bytes, max_total_bytes: 1 << 30 },
            index_period: Default::default(),
            deadletter_index: "trailship-deadletter".into(),
            pool: std::sync::Arc::new(crate::index::buffers::Pool::new(crate::index::buffers::KEPT_BYTES)),
        },
        filter: cloudtrail.filter.clone(),
        geo: None,
        sources: Sources::new(vec![Arc::new(cloudtrail), Arc::new(access)]),
    }
}

/// What happened to the messages of a [`MemoryQueue`].
#[derive(Debug, Default)]
pub struct QueueLog {
    /// Messages waiting to be received.
    pub visible: VecDeque<Message>,
    /// Ids of deleted messages.
    pub acked: Vec<String>,
    /// Ids of released messages.
    pub released: Vec<String>,
    /// Visibility extensions asked for.
    pub extended: usize,
    /// Receive calls.
    pub receives: usize,
}

/// A queue in memory. `receive` returns what is visible or, when nothing is, waits a little
/// (a long-poll); a released message becomes visible again.
#[derive(Clone, Default)]
pub struct MemoryQueue {
    /// Its state.
    pub log: Arc<Mutex<QueueLog>>,
    /// Woken on every call.
    pub changed: Arc<Notify>,
    /// Visibility timeout (the heartbeat runs every third of it).
    pub visibility: Duration,
    /// `extend` fails.
    pub fail_extend: bool,
    /// Receives after the first ones fail (`Some(n)`: from the n-th call on).
    pub fail_receive_from: Option<usize>,
    /// Answers this many more messages than asked for.
    pub extra: usize,
    /// The first this many deletes fail.
    pub fail_acks: Arc<std::sync::atomic::AtomicUsize>,
    /// Every received message, by receipt.
    received: Arc<Mutex<HashMap<String, Message>>>,
}

impl MemoryQueue {
    /// A queue holding messages with these bodies (ids `m0`, `m1`, …).
    pub fn with_bodies(bodies: &[String]) -> MemoryQueue {
        let q = MemoryQueue { visibility: Duration::from_secs(300), ..MemoryQueue::default() };
        let mut log = q.log.lock().unwrap();
        for (i, body) in bodies.iter().enumerate() {
            log.visible.push_back(Message {
                id: format!("m{i}"),
                receipt: String::new(),
                body: body.clone(),
                receive_count: 0,
            });
        }
        drop(log);
        q
    }

    fn id_of(&self, receipt: &str) -> String {
        self.received.lock().unwrap().get(receipt).map(|m| m.id.clone()).unwrap_or_default()
    }

    fn note(&self, f: impl FnOnce(&mut QueueLog)) {
        f(&mut self.log.lock().unwrap());
        self.changed.notify_waiters();
    }

    /// Waits until `cond` holds for the log.
    pub async fn wait_until(&self, cond: impl Fn(&QueueLog) -> bool) {
        loop {
            let notified = self.changed.notified();
            if cond(&self.log.lock().unwrap()) {
                return;
            }
            notified.await;
        }
    }
}

impl Queue for MemoryQueue {
    async fn receive(&self, max: usize) -> Result<Vec<Message>, QueueError> {
        let n = {
            let mut log = self.log.lock().unwrap();
            log.receives += 1;
            log.receives
        };
        self.changed.notify_waiters();
        if self.fail_receive_from.is_some_and(|from| n >= from) {
            return Err(QueueError { operation: "receive", message: "twin told to fail".into() });
        }
        let mut out = Vec::new();
        {
            let mut log = self.log.lock().unwrap();
            while out.len() < max + self.extra {
                let Some(mut m) = log.visible.pop_front() else { break };
                m.receive_count += 1;
                m.receipt = format!("{}-r{}", m.id, m.receive_count);
                self.received.lock().unwrap().insert(m.receipt.clone(), m.clone());
                out.push(m);
            }
        }
        if out.is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(out)
    }

    async fn ack(&self, receipt: &str) -> Result<(), QueueError> {
        let failing = self.fail_acks.fetch_update(
            std::sync::atomic::Ordering::SeqCst,
            std::sync::atomic::Ordering::SeqCst,
            |n| n.checked_sub(1),
        );
        if failing.is_ok() {
            return Err(QueueError { operation: "delete", message: "twin told to fail".into() });
        }
        let id = self.id_of(receipt);
        self.note(|l| l.acked.push(id));
        Ok(())
    }

    async fn extend(&self, _receipt: &str) -> Result<(), QueueError> {
        self.note(|l| l.extended += 1);
        if self.fail_extend {
            return Err(QueueError { operation: "change visibility", message: "receipt handle expired".into() });
        }
        Ok(())
    }

    async fn release(&self, receipt: &str) -> Result<(), QueueError> {
        let message = self.received.lock().unwrap().get(receipt).cloned();
        self.note(|l| {
            if let Some(m) = message {
                l.released.push(m.id.clone());
                l.visible.push_back(m);
            }
        });
        Ok(())
    }

    fn visibility_timeout(&self) -> Duration {
        self.visibility
    }
}

/// Objects in memory; a key in `stalled` answers a body that never yields a byte.
#[derive(Clone, Default)]
pub struct MemoryStore {
    /// Bodies by (bucket, key).
    pub objects: HashMap<(String, String), Vec<u8>>,
    /// Keys whose body stalls.
    pub stalled: HashSet<String>,
}

impl MemoryStore {
    /// Adds an object.
    pub fn put(&mut self, bucket: &str, key: &str, body: Vec<u8>) {
        self.objects.insert((bucket.to_owned(), key.to_owned()), body);
    }
}

struct Stalled;

impl tokio::io::AsyncRead for Stalled {
    fn poll_read(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        _: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Poll::Pending
    }
}

impl ObjectStore for MemoryStore {
    async fn open(&self, obj: &ObjectRef) -> Result<Body, FetchError> {
        if self.stalled.contains(&obj.key) {
            return Ok(Box::new(Stalled));
        }
        match self.objects.get(&(obj.bucket.clone(), obj.key.clone())) {
            Some(body) => Ok(Box::new(std::io::Cursor::new(body.clone()))),
            None => Err(FetchError::new(obj, "NoSuchKey")),
        }
    }
}

/// One action of a request the [`BulkTwin`] received.
#[derive(Debug, Clone)]
pub struct Action {
    /// `_id`.
    pub id: String,
    /// `_index`.
    pub index: String,
    /// The document.
    pub doc: Value,
}

type Script = dyn Fn(usize, &[Action]) -> Result<Value, ClientError> + Send + Sync;

/// OpenSearch's `_bulk` endpoint in memory: answers each call with what `script` says for that
/// call number, and records every request. A closed `gate` holds every call until opened.
#[derive(Clone)]
pub struct BulkTwin {
    script: Arc<Script>,
    calls: Arc<Mutex<Vec<Vec<Action>>>>,
    /// Woken on every call.
    pub called: Arc<Notify>,
    /// While set, calls wait for [`BulkTwin::open_gate`].
    gate: Arc<tokio::sync::watch::Sender<bool>>,
}

impl BulkTwin {
    /// A twin answering with `script(call number, actions)`.
    pub fn new(script: impl Fn(usize, &[Action]) -> Result<Value, ClientError> + Send + Sync + 'static) -> BulkTwin {
        BulkTwin {
            script: Arc::new(script),
            calls: Arc::default(),
            called: Arc::default(),
            gate: Arc::new(tokio::sync::watch::channel(true).0),
        }
    }

    /// A twin that creates every document.
    pub fn accepting() -> BulkTwin {
        BulkTwin::new(|_, actions| answer(actions.iter().map(created).collect()))
    }

    /// Holds every call until [`BulkTwin::open_gate`].
    pub fn close_gate(&self) {
        self.gate.send_replace(false);
    }

    /// Lets held calls go on.
    pub fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    /// Every request so far.
    pub fn calls(&self) -> Vec<Vec<Action>> {
        self.calls.lock().unwrap().clone()
    }

    /// Waits until at least `n` calls were made.
    pub async fn wait_for_calls(&self, n: usize) {
        loop {
            let notified = self.called.notified();
            if self.calls.lock().unwrap().len() >= n {
                return;
            }
            notified.await;
        }
    }
}

impl BulkClient for BulkTwin {
    async fn bulk(&self, body: Bytes) -> Result<Bytes, ClientError> {
        let lines: Vec<Value> =
            body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).map(|l| serde_json::from_slice(l).unwrap()).collect();
        let actions: Vec<Action> = lines
            .chunks(2)
            .map(|p| Action {
                id: p[0]["create"]["_id"].as_str().unwrap().to_owned(),
                index: p[0]["create"]["_index"].as_str().unwrap().to_owned(),
                doc: p[1].clone(),
            })
            .collect();
        let n = {
            let mut calls = self.calls.lock().unwrap();
            calls.push(actions.clone());
            calls.len() - 1
        };
        self.called.notify_waiters();
        let mut gate = self.gate.subscribe();
        let _ = gate.wait_for(|open| *open).await;
        let answer = (self.script)(n, &actions)?;
        Ok(Bytes::from(serde_json::to_vec(&answer).unwrap()))
    }
}

/// The item of a created document.
pub fn created(a: &Action) -> Value {
    json!({"create": {"_index": a.index, "_id": a.id, "status": 201, "result": "created"}})
}

/// The item of a refused document.
pub fn failed(a: &Action, status: u16, error_type: &str) -> Value {
    json!({"create": {"_index": a.index, "_id": a.id, "status": status, "error": {"type": error_type, "reason": "r"}}})
}

/// A bulk response with these items.
pub fn answer(items: Vec<Value>) -> Result<Value, ClientError> {
    Ok(json!({"took": 1, "errors": true, "items": items}))
}

/// A whole-request error status.
pub fn status(code: u16) -> ClientError {
    ClientError::Status { path: "/_bulk".into(), status: code, body: String::new() }
}

/// A bucket's keys for the backfill's listing ([`crate::listing::Lister`]), answering like
/// `ListObjectsV2` with pages of `page_size`; records every `(prefix, delimiter)` it was asked.
#[derive(Default)]
pub struct MemoryBucket {
    /// Keys and sizes, sorted.
    pub keys: std::collections::BTreeMap<String, u64>,
    /// Keys (or common prefixes) per page.
    pub page_size: usize,
    /// Every listing asked: prefix, and whether with the `/` delimiter.
    pub listings: Mutex<Vec<(String, bool)>>,
}

impl MemoryBucket {
    /// A bucket holding `keys` (size 100 each), with pages of `page_size`.
    pub fn new<'a>(keys: impl IntoIterator<Item = &'a str>, page_size: usize) -> Self {
        MemoryBucket {
            keys: keys.into_iter().map(|k| (k.to_owned(), 100)).collect(),
            page_size,
            listings: Mutex::new(Vec::new()),
        }
    }
}

impl crate::listing::Lister for MemoryBucket {
    fn list<'a>(&'a self, prefix: &'a str, delimiter: bool, token: Option<String>) -> crate::listing::PageFuture<'a> {
        Box::pin(std::future::ready(Ok(self.page(prefix, delimiter, token))))
    }
}

impl MemoryBucket {
    fn page(&self, prefix: &str, delimiter: bool, token: Option<String>) -> crate::listing::ListPage {
        self.listings.lock().unwrap().push((prefix.to_owned(), delimiter));
        // Entries in key order: objects, or (with the delimiter) common prefixes once each.
        let mut entries: Vec<(String, Option<u64>)> = Vec::new();
        for (key, size) in self.keys.range(prefix.to_owned()..).take_while(|(k, _)| k.starts_with(prefix)) {
            let rest = &key[prefix.len()..];
            match rest.find('/').filter(|_| delimiter) {
                Some(i) => {
                    let common = format!("{prefix}{}", &rest[..=i]);
                    if entries.last().map(|(e, _)| e) != Some(&common) {
                        entries.push((common, None));
                    }
                }
                None => entries.push((key.clone(), Some(*size))),
            }
        }
        let start: usize = token.map_or(0, |t| t.parse().unwrap());
        let end = (start + self.page_size).min(entries.len());
        let mut page = crate::listing::ListPage::default();
        for (name, size) in &entries[start..end] {
            match size {
                Some(size) => page.objects.push(crate::listing::Listed { key: name.clone(), size: *size }),
                None => page.prefixes.push(name.clone()),
            }
        }
        page.next = (end < entries.len()).then(|| end.to_string());
        page
    }
}

/// Every record of the bundled samples (`tests/fixtures/samples/`), for tests that check a
/// rule against all of them.
#[cfg(test)]
pub(crate) fn sample_records() -> Vec<serde_json::Value> {
    let mut records = Vec::new();
    let mut stack =
        vec![std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples")).to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let mut file: serde_json::Value =
                    serde_json::from_reader(flate2::read::GzDecoder::new(std::fs::File::open(&path).unwrap())).unwrap();
                records.append(file["Records"].as_array_mut().unwrap());
            }
        }
    }
    records
}
