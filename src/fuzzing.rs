//! What the fuzz targets (`fuzz/fuzz_targets/`) run, and the regression tests that replay the
//! inputs they found (`fuzz/regressions/<target>/`): each entry takes any bytes from outside
//! and checks what must hold for every input; a violation panics, which the fuzzer reports.
//!
//! - [`notification`]: an SQS message body → the objects it names, or a one-line error.
//! - [`cloudtrail`]: one CloudTrail object's bytes (plain or gzip) → framed, decoded, checked
//!   against the built-in rules and written; every line of every batch is one JSON value.
//! - [`access_log`]: one S3 server access log object → the same.
//! - [`sigma`]: a YAML document → a loaded rule or a one-line error.
//! - [`config`]: a TOML file → a validated configuration or a one-line error naming a key.

use crate::decode::FrameLimits;
use crate::index::bulk::{Batch, BatchLimits};
use crate::pipeline::object::{Decoding, ObjectDecoder};
use crate::source::Origin;
use crate::sources::Sources;
use crate::sources::cloudtrail::CloudTrail;
use crate::sources::s3access::S3Access;
use crate::watch::Watch;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// The decoder every object target shares: built-in rules, small batches, 1 MiB records.
fn decoder() -> &'static ObjectDecoder {
    static DECODER: OnceLock<ObjectDecoder> = OnceLock::new();
    DECODER.get_or_init(|| {
        let loaded = crate::detect::rules::load(true, &[]).expect("the built-in rules load");
        let cloudtrail = CloudTrail::new(Arc::new(loaded.detector));
        ObjectDecoder {
            with: Decoding {
                limits: BatchLimits { max_bytes: 256 << 10, max_actions: 50 },
                frame: FrameLimits { max_record_bytes: 1 << 20, max_total_bytes: 16 << 20 },
                index_period: Default::default(),
                deadletter_index: "trailship-deadletter".into(),
                pool: Arc::new(crate::index::buffers::Pool::new(1 << 20)),
            },
            filter: cloudtrail.filter.clone(),
            geo: None,
            sources: Sources::new(vec![Arc::new(cloudtrail), Arc::new(S3Access::default())]),
        }
    })
}

/// Builds what the targets share (the decoder, the built-in rules) before the first input, so
/// that no input is charged with it.
pub fn init() {
    decoder();
}

fn one_line(what: &str, error: &str) {
    assert!(!error.contains('\n') && !error.is_empty(), "{what}: an error must be one line: {error:?}");
}

/// An SQS body: parsed into object references or refused in one line.
pub fn notification(data: &[u8]) {
    let Ok(body) = std::str::from_utf8(data) else { return };
    if let Err(e) = crate::notification::parse(body) {
        one_line("notification", &e.to_string());
    }
}

/// Decodes `data` as the object `key` of a bucket; every line of every batch must be JSON,
/// action and document lines alternating.
fn object(key: &str, data: &[u8]) {
    let origin = Arc::new(Origin::S3 { bucket: "fuzz-bucket".into(), key: key.into() });
    let watch = Watch::new(tokio_util::sync::CancellationToken::new(), Duration::from_secs(60));
    let mut check = |batch: Batch| {
        assert!(batch.body.is_empty() || batch.body.ends_with(b"\n"), "a batch ends its last line");
        let lines: Vec<&[u8]> = batch.body.split(|&b| b == b'\n').filter(|l| !l.is_empty()).collect();
        assert_eq!(lines.len(), batch.items.len() * 2, "an action and a document per item");
        for line in lines {
            if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(line) {
                panic!("{key}: a written line is not json ({e}): {}", String::from_utf8_lossy(line));
            }
        }
        Ok(())
    };
    if let Err(e) = decoder().decode(data, origin, &watch, &mut check) {
        one_line(key, &e.to_string());
    }
}

/// One CloudTrail object's bytes.
pub fn cloudtrail(data: &[u8]) {
    object(
        "AWSLogs/111122223333/CloudTrail/us-east-1/2024/08/01/111122223333_CloudTrail_us-east-1_20240801T1000Z_fuzz.json.gz",
        data,
    );
}

/// One S3 server access log object's bytes.
pub fn access_log(data: &[u8]) {
    object("s3logs/2024-08-01-10-20-00-1B2C3D4E5F6A7B8C", data);
}

/// A Sigma rule file.
pub fn sigma(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Err(e) = crate::detect::rules::load_sources(vec![("fuzz.yml".into(), text.into(), false)]) {
        one_line("sigma", &e.to_string());
    }
}

/// A configuration file.
pub fn config(data: &[u8]) {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("trailship-fuzz-{}-{n}.toml", std::process::id()));
    if std::fs::write(&path, data).is_err() {
        return;
    }
    let loaded = crate::config::Config::load_from(Some(&path), &[]);
    let _ = std::fs::remove_file(&path);
    if let Err(e) = loaded {
        one_line("config", &e.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// Runs `target` over every file under `fuzz/<dir>/<name>/` (the seed corpus or the
    /// regressions); returns how many.
    fn replay(dir: &str, name: &str, target: fn(&[u8])) -> usize {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join(dir).join(name);
        let mut n = 0;
        for entry in std::fs::read_dir(&root).into_iter().flatten().flatten() {
            target(&std::fs::read(entry.path()).unwrap());
            n += 1;
        }
        n
    }

    #[test]
    fn every_seed_and_every_input_the_fuzzers_found_passes() {
        type Target = fn(&[u8]);
        let targets: [(&str, Target); 5] = [
            ("notification", notification),
            ("cloudtrail", cloudtrail),
            ("access_log", access_log),
            ("sigma", sigma),
            ("config", config),
        ];
        for (name, target) in targets {
            assert!(replay("corpus", name, target) > 0, "no seeds for {name}");
            replay("regressions", name, target);
        }
    }

    #[test]
    fn a_broken_line_would_be_caught() {
        let caught = std::panic::catch_unwind(|| one_line("x", "two\nlines"));
        assert!(caught.is_err());
    }
}
