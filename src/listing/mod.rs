//! Backfill listing: what a log source's walk of a bucket is made of, behind the small
//! [`Lister`] trait (S3 in [`s3`], an in-memory twin in the unit tests). Each source lays out its
//! own walk (`sources::*::listing`) from these steps: delimiter listings one level at a time
//! ([`children`]), day prefixes discovered or, when both `--from` and `--to` are given, listed
//! directly ([`days`]), and one unit of work listed and its objects sent ([`send_unit`]). Only
//! a unit is ever listed without a delimiter: never the whole bucket, never a region's whole
//! history. Objects stream out one unit at a time through a bounded channel, so memory does not
//! grow with the size of the history.

pub mod enqueue;
pub mod s3;
pub mod state;

use chrono::{Datelike, NaiveDate};
use std::future::Future;
use std::pin::Pin;
use tokio::sync::mpsc;

/// One page of a listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ListPage {
    /// Common prefixes (delimiter listings), in full.
    pub prefixes: Vec<String>,
    /// Objects.
    pub objects: Vec<Listed>,
    /// Continuation token of the next page.
    pub next: Option<String>,
}

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// Key.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
}

/// A listing failed.
#[derive(Debug, thiserror::Error)]
#[error("list s3://{bucket}/{prefix} failed: {message}")]
pub struct ListError {
    /// Bucket.
    pub bucket: String,
    /// The prefix listed.
    pub prefix: String,
    /// The cause, in one line.
    pub message: String,
}

/// One page of a listing, to come.
pub type PageFuture<'a> = Pin<Box<dyn Future<Output = Result<ListPage, ListError>> + Send + 'a>>;

/// What the backfill needs from an object store's listing.
pub trait Lister: Send + Sync + 'static {
    /// One page of the keys under `prefix`, grouped at the next `/` when `delimiter`.
    fn list<'a>(&'a self, prefix: &'a str, delimiter: bool, token: Option<String>) -> PageFuture<'a>;
}

/// What to backfill.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    /// The key prefix the source's logs are under (as the source reads `--prefix`).
    pub prefix: String,
    /// First day (UTC), inclusive.
    pub from: Option<NaiveDate>,
    /// Last day (UTC), inclusive.
    pub to: Option<NaiveDate>,
    /// Only these accounts (all when empty).
    pub accounts: Vec<String>,
    /// Only these regions (all when empty).
    pub regions: Vec<String>,
}

/// What the walk sends, in order: a day's objects, then that the day is completely listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// A log file of `day`.
    Object {
        /// The day prefix it was listed under.
        day: String,
        /// The object.
        object: Listed,
    },
    /// Every object of `day` has been sent (`objects` of them, finished ones excluded).
    DayListed {
        /// The day prefix.
        day: String,
        /// Objects sent for it.
        objects: usize,
    },
}

/// Whether work is already done: a finished day (not listed again), or a finished object of an
/// unfinished day (not sent again).
pub trait Done: Send + Sync {
    /// `day` is finished.
    fn day(&self, day: &str) -> bool;
    /// `key` is finished.
    fn object(&self, key: &str) -> bool;
}

/// Nothing is done yet.
pub struct NothingDone;

impl Done for NothingDone {
    fn day(&self, _: &str) -> bool {
        false
    }
    fn object(&self, _: &str) -> bool {
        false
    }
}

/// Every page under `prefix`, grouped by the delimiter: the common prefixes.
pub async fn children(lister: &dyn Lister, prefix: &str) -> Result<Vec<String>, ListError> {
    let mut out = Vec::new();
    let mut token = None;
    loop {
        let page = lister.list(prefix, true, token).await?;
        out.extend(page.prefixes);
        token = page.next;
        if token.is_none() {
            return Ok(out);
        }
    }
}

/// The last segment of a prefix ending with `/`.
pub fn leaf(prefix: &str) -> &str {
    prefix.trim_end_matches('/').rsplit('/').next().unwrap_or_default()
}

/// Whether a directory name is an account id (12 digits).
pub fn is_account(name: &str) -> bool {
    name.len() == 12 && name.bytes().all(|b| b.is_ascii_digit())
}

/// Whether a number segment (`2024`, `03`) of `width` digits lies in `low..=high`.
pub fn numeric_in(name: &str, width: usize, low: u32, high: u32) -> Option<u32> {
    let n: u32 = name.parse().ok().filter(|_| name.len() == width)?;
    (low..=high).contains(&n).then_some(n)
}

/// The day prefixes of a region in scope, oldest first.
pub async fn days(lister: &dyn Lister, region: &str, scope: &Scope) -> Result<Vec<String>, ListError> {
    if let (Some(from), Some(to)) = (scope.from, scope.to) {
        return Ok(from.iter_days().take_while(|d| *d <= to).map(|d| day_prefix(region, d)).collect());
    }
    let (from, to) = (scope.from.unwrap_or(NaiveDate::MIN), scope.to.unwrap_or(NaiveDate::MAX));
    let mut out = Vec::new();
    for year in children(lister, region).await? {
        let Some(y) = numeric_in(leaf(&year), 4, from.year().max(0) as u32, to.year().max(0) as u32) else { continue };
        for month in children(lister, &year).await? {
            let Some(m) = numeric_in(leaf(&month), 2, 1, 12) else { continue };
            for day in children(lister, &month).await? {
                let Some(d) = numeric_in(leaf(&day), 2, 1, 31) else { continue };
                let date = NaiveDate::from_ymd_opt(y as i32, m, d);
                if date.is_some_and(|date| date >= from && date <= to) {
                    out.push(day);
                }
            }
        }
    }
    out.sort();
    Ok(out)
}

/// The prefix of day `d` under a `…/YYYY/MM/DD/` layout rooted at `region`.
pub fn day_prefix(region: &str, d: NaiveDate) -> String {
    format!("{region}{:04}/{:02}/{:02}/", d.year(), d.month(), d.day())
}

/// Lists one day prefix and sends the objects `keep` accepts that are not already `done`, then
/// `DayListed`. `false` when the receiver is gone.
pub async fn send_day(
    lister: &dyn Lister,
    day: &str,
    keep: &(dyn Fn(&str) -> bool + Sync),
    done: &dyn Done,
    tx: &mpsc::Sender<Step>,
) -> Result<bool, ListError> {
    Ok(send_unit(lister, day, false, keep, done, tx).await?.is_some())
}

/// Lists one unit of work (a prefix, grouped at `/` when `delimiter`) and sends the objects
/// `keep` accepts that are not already `done`, then `DayListed`. Returns the common prefixes
/// seen (delimiter listings), or `None` when the receiver is gone.
pub async fn send_unit(
    lister: &dyn Lister,
    unit: &str,
    delimiter: bool,
    keep: &(dyn Fn(&str) -> bool + Sync),
    done: &dyn Done,
    tx: &mpsc::Sender<Step>,
) -> Result<Option<Vec<String>>, ListError> {
    let (mut sent, mut prefixes) = (0, Vec::new());
    let mut token = None;
    loop {
        let page = lister.list(unit, delimiter, token).await?;
        prefixes.extend(page.prefixes);
        for object in page.objects {
            if !keep(&object.key) || done.object(&object.key) {
                continue;
            }
            sent += 1;
            if tx.send(Step::Object { day: unit.to_owned(), object }).await.is_err() {
                return Ok(None);
            }
        }
        token = page.next;
        if token.is_none() {
            break;
        }
    }
    let listed = tx.send(Step::DayListed { day: unit.to_owned(), objects: sent }).await.is_ok();
    Ok(listed.then_some(prefixes))
}
