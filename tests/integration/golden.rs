//! Byte-for-byte output: `ingest --output` of the bundled samples against a recorded NDJSON body
//! (`tests/fixtures/golden/samples.ndjson.gz`), so a hot-path change that alters any document
//! fails here. Files are decoded concurrently, so pairs (action + document) are compared sorted.
//! After an intended change of the documents, rewrite the record with `TRAILSHIP_BLESS=1`.

use crate::harness::trailship;
use std::io::{Read, Write};
use std::path::Path;

const GOLDEN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden/samples.ndjson.gz");

/// The body's (action, document) line pairs, sorted.
fn sorted_pairs(body: &str) -> Vec<(&str, &str)> {
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(lines.len() % 2, 0, "a bulk body of action + document pairs");
    let mut pairs: Vec<(&str, &str)> = lines.chunks(2).map(|p| (p[0], p[1])).collect();
    pairs.sort_unstable();
    pairs
}

#[tokio::test(flavor = "multi_thread")]
async fn sample_documents_are_byte_identical_to_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bulk.ndjson");
    let samples = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples");
    let run = trailship(&["ingest", "--output", out.to_str().unwrap(), samples], &[]).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let got = std::fs::read_to_string(&out).unwrap();
    let got: String = sorted_pairs(&got).into_iter().flat_map(|(a, d)| [a, "\n", d, "\n"]).collect();

    if std::env::var_os("TRAILSHIP_BLESS").is_some() {
        std::fs::create_dir_all(Path::new(GOLDEN).parent().unwrap()).unwrap();
        let mut gz = flate2::write::GzEncoder::new(std::fs::File::create(GOLDEN).unwrap(), flate2::Compression::best());
        gz.write_all(got.as_bytes()).unwrap();
        gz.finish().unwrap();
    }
    let mut want = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(GOLDEN).expect("the recorded body"))
        .read_to_string(&mut want)
        .unwrap();
    assert_eq!(got.lines().count(), 2 * (413 + 13), "413 events and 13 alerts (the 52 low matches are grouped)");
    for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {} of the sorted body differs from the record", n + 1);
    }
    assert_eq!(got.len(), want.len(), "the body's length");
}
