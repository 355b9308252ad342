//! `backfill --state FILE`: the finished work of a backfill, so that a rerun skips it. Finished
//! days are kept as day prefixes (a rerun does not even list them); the finished objects of
//! days not yet finished are kept by key. The file is JSON, rewritten whole to `FILE.tmp`,
//! synced and renamed over `FILE`: a crash at any moment leaves the previous or the next
//! version, never a torn one. Work finished after the last save is simply done again (same
//! `_id`s: nothing is duplicated).

use super::Done;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// A state file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("--state {path}: {message}")]
pub struct StateError {
    /// The file.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

const VERSION: u32 = 1;

/// What is on disk.
#[derive(Debug, Default, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Finished {
    version: u32,
    bucket: String,
    /// Day prefixes all of whose objects are finished.
    days: BTreeSet<String>,
    /// Finished objects of days not finished yet, by day prefix.
    objects: BTreeMap<String, BTreeSet<String>>,
}

impl Done for Finished {
    fn day(&self, day: &str) -> bool {
        self.days.contains(day)
    }
    fn object(&self, key: &str) -> bool {
        // Keys start with their day prefix, which is at most the key up to its last `/`.
        let day = &key[..key.rfind('/').map_or(0, |i| i + 1)];
        self.objects.get(day).is_some_and(|keys| keys.contains(key))
    }
}

/// How far a day of this run has come.
#[derive(Debug, Default)]
struct Open {
    /// Objects the listing sent for it, once it is completely listed.
    listed: Option<usize>,
    finished: usize,
    failed: bool,
}

/// The state of a running backfill: what was finished before and what finishes now.
#[derive(Debug)]
pub struct State {
    path: Option<PathBuf>,
    finished: Finished,
    open: HashMap<String, Open>,
    dirty: bool,
}

impl State {
    /// Loads `path` (an absent file is a fresh start) for `bucket`; without a path nothing is
    /// kept.
    pub fn load(path: Option<&Path>, bucket: &str) -> Result<State, StateError> {
        let fresh = Finished { version: VERSION, bucket: bucket.to_owned(), ..Default::default() };
        let Some(path) = path else {
            return Ok(State { path: None, finished: fresh, open: HashMap::new(), dirty: false });
        };
        let err = |message: String| StateError { path: path.display().to_string(), message };
        let finished = match std::fs::read(path) {
            Ok(bytes) => {
                let f: Finished =
                    serde_json::from_slice(&bytes).map_err(|e| err(format!("not a trailship backfill state: {e}")))?;
                if f.version != VERSION {
                    return Err(err(format!("state version {} is not {VERSION}", f.version)));
                }
                if f.bucket != bucket {
                    return Err(err(format!("records a backfill of bucket {:?}, not {bucket:?}", f.bucket)));
                }
                f
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => fresh,
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(State { path: Some(path.to_owned()), finished, open: HashMap::new(), dirty: false })
    }

    /// What was finished when the backfill started (for the listing to skip).
    pub fn finished(&self) -> &Finished {
        &self.finished
    }

    /// Finished days and objects of unfinished days.
    pub fn counts(&self) -> (usize, usize) {
        (self.finished.days.len(), self.finished.objects.values().map(BTreeSet::len).sum())
    }

    /// `key` of `day` is finished (indexed, or enqueued).
    pub fn object_finished(&mut self, day: &str, key: &str) {
        self.finished.objects.entry(day.to_owned()).or_default().insert(key.to_owned());
        self.open.entry(day.to_owned()).or_default().finished += 1;
        self.dirty = true;
        self.close_if_done(day);
    }

    /// An object of `day` failed: the day stays unfinished.
    pub fn object_failed(&mut self, day: &str) {
        self.open.entry(day.to_owned()).or_default().failed = true;
    }

    /// The listing sent all `objects` of `day`.
    pub fn day_listed(&mut self, day: &str, objects: usize) {
        self.open.entry(day.to_owned()).or_default().listed = Some(objects);
        self.close_if_done(day);
    }

    fn close_if_done(&mut self, day: &str) {
        let Some(open) = self.open.get(day) else { return };
        if open.listed == Some(open.finished) && !open.failed {
            self.open.remove(day);
            self.finished.objects.remove(day);
            self.finished.days.insert(day.to_owned());
            self.dirty = true;
        }
    }

    /// Writes the file if anything changed since the last save (atomically: temporary file,
    /// sync, rename).
    pub fn save(&mut self) -> Result<(), StateError> {
        let Some(path) = &self.path else { return Ok(()) };
        if !self.dirty {
            return Ok(());
        }
        let err = |e: std::io::Error| StateError { path: path.display().to_string(), message: e.to_string() };
        let tmp = PathBuf::from(format!("{}.tmp", path.display()));
        let mut file = std::fs::File::create(&tmp).map_err(err)?;
        file.write_all(&serde_json::to_vec(&self.finished).expect("the state serializes")).map_err(err)?;
        file.sync_all().map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)?;
        self.dirty = false;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: &str = "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/";

    fn key(n: u32) -> String {
        format!("{DAY}111122223333_CloudTrail_us-east-1_20240801T00{n:02}Z_x.json.gz")
    }

    #[test]
    fn a_day_is_finished_once_listed_and_all_its_objects_are_finished() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut s = State::load(Some(&path), "trail").unwrap();
        s.object_finished(DAY, &key(1));
        s.object_finished(DAY, &key(2));
        assert!(!s.finished().day(DAY), "not listed completely yet");
        s.save().unwrap();
        let reloaded = State::load(Some(&path), "trail").unwrap();
        assert!(reloaded.finished().object(&key(1)) && !reloaded.finished().object(&key(3)));
        s.day_listed(DAY, 3);
        s.object_finished(DAY, &key(3));
        assert!(s.finished().day(DAY));
        assert_eq!(s.counts(), (1, 0), "a finished day keeps no keys");
        s.save().unwrap();
        let reloaded = State::load(Some(&path), "trail").unwrap();
        assert!(reloaded.finished().day(DAY));
        assert!(!path.with_extension("json.tmp").exists(), "the temporary file is renamed away");
    }

    #[test]
    fn a_failed_object_keeps_its_day_open_and_a_rerun_finishes_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut s = State::load(Some(&path), "trail").unwrap();
        s.object_finished(DAY, &key(1));
        s.object_failed(DAY);
        s.day_listed(DAY, 2);
        s.save().unwrap();
        let mut rerun = State::load(Some(&path), "trail").unwrap();
        assert!(!rerun.finished().day(DAY) && rerun.finished().object(&key(1)));
        // The rerun's listing skips the finished object and sends the other one.
        rerun.day_listed(DAY, 1);
        rerun.object_finished(DAY, &key(2));
        assert!(rerun.finished().day(DAY));
    }

    #[test]
    fn a_state_of_another_bucket_or_not_a_state_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        let mut s = State::load(Some(&path), "trail").unwrap();
        s.day_listed(DAY, 0);
        s.save().unwrap();
        let e = State::load(Some(&path), "other").unwrap_err();
        assert!(e.to_string().contains("not \"other\""), "{e}");
        std::fs::write(&path, b"{\"half\": ").unwrap();
        assert!(State::load(Some(&path), "trail").unwrap_err().to_string().contains("not a trailship backfill state"));
        assert!(!State::load(Some(&dir.path().join("new.json")), "trail").unwrap().finished().day(DAY));
    }
}
