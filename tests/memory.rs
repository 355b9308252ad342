//! The findings pass's memory with a million identities: every one of them calls a write API in
//! one hour, one in ten for the first time, and the pass's peak heap stays that of a few pages,
//! the same as with a hundred thousand. The cluster's answers are generated page by page from
//! the queries the pass sends (no cluster holds a million identities' history on this
//! machine); the counting allocator is this binary's only test's own, so nothing else runs
//! beside it.

use bytes::Bytes;
use serde_json::{Value, json};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use trailship::config::{Config, IndexPeriod};
use trailship::findings::Settings;
use trailship::findings::pass::recompute;
use trailship::index::client::{BulkClient, ClientError, SearchClient};

struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// The allocator only counts and hands every call to the system's.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let live = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
        PEAK.fetch_max(live, Ordering::Relaxed);
        // SAFETY: the caller's layout goes to the system allocator unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static COUNTING: Counting = Counting;

/// The hour every identity acts in.
const HOUR: i64 = 1_733_479_200;

/// Answers the pass's queries as a cluster holding `identities` principals would: each has a
/// long history and called `s3:PutBucketPolicy` in the hour, one in ten for the first time;
/// nothing else is a candidate. `_bulk` creates every finding.
#[derive(Clone)]
struct Identities {
    identities: usize,
    written: std::sync::Arc<AtomicUsize>,
}

fn principal(i: usize) -> String {
    format!("arn:aws:iam::111122223333:user/u{i:08}")
}

impl SearchClient for Identities {
    async fn search(&self, _index: &str, body: &Value) -> Result<Value, ClientError> {
        let composite = &body["aggs"]["c"]["composite"];
        let bucket = |owner: &str| {
            let ms = HOUR * 1000 + 60_000;
            json!({"key": {"owner": owner, "t0": "s3.amazonaws.com", "t1": "PutBucketPolicy"},
                "doc_count": 1, "first": {"value": ms}, "last": {"value": ms}})
        };
        if let Some(one_of) = body["query"]["bool"]["filter"][1]["bool"]["should"].as_array() {
            // The first events of the page's findings.
            let buckets: Vec<Value> = one_of
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    let owner = c["bool"]["filter"][0]["term"]["user.principal"].as_str().expect("an owner");
                    let mut b = bucket(owner);
                    b["sample"] = json!({"hits": {"hits": [{"_index": "cloudtrail-2024.12.06", "_source": {
                        "eventID": format!("e{i}"), "eventName": "PutBucketPolicy", "user": {"principal": owner}}}]}});
                    b
                })
                .collect();
            return Ok(json!({"aggregations": {"c": {"buckets": buckets}}}));
        }
        if composite["sources"][0]["owner"]["terms"]["field"] == "user.principal"
            && composite["sources"][1]["t0"]["terms"]["field"] == "eventSource"
        {
            let size = composite["size"].as_u64().expect("a page size") as usize;
            let from = match composite["after"]["owner"].as_str() {
                Some(last) => last.rsplit('u').next().and_then(|n| n.parse::<usize>().ok()).expect("an owner") + 1,
                None => 0,
            };
            let to = (from + size).min(self.identities);
            let buckets: Vec<Value> = (from..to).map(|i| bucket(&principal(i))).collect();
            let after = buckets.last().map(|b| b["key"].clone()).unwrap_or(Value::Null);
            return Ok(json!({"aggregations": {"c": {"buckets": buckets, "after_key": after}}}));
        }
        if let Some(owners) = body["query"]["bool"]["filter"][1]["terms"]["user.principal"].as_array() {
            let first = (HOUR - 60 * 86_400) as f64 * 1000.0;
            let known = json!({"buckets": [{"key": "s3.amazonaws.com",
                "n": {"buckets": [{"key": "PutBucketPolicy", "doc_count": 3}]}}]});
            let buckets: Vec<Value> = owners
                .iter()
                .map(|o| {
                    // One identity in ten never called the API before.
                    let new = o.as_str().is_some_and(|o| o.ends_with('0'));
                    let known = if new { json!({"buckets": []}) } else { known.clone() };
                    json!({"key": o, "doc_count": 500, "first": {"value": first}, "known": {"n": known}})
                })
                .collect();
            return Ok(json!({"aggregations": {"owners": {"buckets": buckets}}}));
        }
        Ok(json!({"aggregations": {"c": {"buckets": []}, "n": {"buckets": []}}}))
    }
}

impl BulkClient for Identities {
    async fn bulk(&self, body: Bytes) -> Result<Bytes, ClientError> {
        let items = body.iter().filter(|&&b| b == b'\n').count() / 2;
        self.written.fetch_add(items, Ordering::Relaxed);
        let answer = json!({"errors": false, "items": vec![json!({"index": {"status": 201}}); items]});
        Ok(Bytes::from(answer.to_string()))
    }
}

/// The pass over the hour with `identities` principals: findings written and the peak heap
/// above what was live before it.
fn pass(identities: usize) -> (usize, usize, usize) {
    let config = Config::load_from(None, &[]).expect("the defaults load");
    let settings = Settings {
        events: "cloudtrail-*".into(),
        alerts_prefix: "trailship-alerts".into(),
        period: IndexPeriod::Day,
        group_window: Duration::from_secs(3600),
        grouped: Vec::new(),
        correlations: Vec::new(),
        behaviour: Some(config.anomalies),
    };
    let client = Identities { identities, written: Default::default() };
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("a runtime");
    let before = LIVE.load(Ordering::Relaxed);
    PEAK.store(before, Ordering::Relaxed);
    let report = runtime.block_on(recompute(&client, &settings, &[(HOUR, HOUR + 3600)], None));
    let peak = PEAK.load(Ordering::Relaxed) - before;
    assert!(report.failed.is_empty(), "{report}");
    (client.written.load(Ordering::Relaxed), report.created, peak)
}

#[test]
fn a_million_identities_keep_the_pass_memory_flat() {
    let (written_small, _, peak_small) = pass(100_000);
    let (written, created, peak) = pass(1_000_000);
    assert_eq!(written_small, 10_000);
    assert_eq!((written, created), (100_000, 100_000), "the finding of every identity new to the API");
    println!("peak heap of the pass: {peak_small} bytes for 100,000 identities, {peak} bytes for 1,000,000");
    assert!(peak < 16 << 20, "{peak} bytes at the peak for a million identities");
    assert!(peak < peak_small + peak_small / 2, "{peak} bytes for 1,000,000 identities, {peak_small} for 100,000");
}
