//! SigV4 golden vectors: with a pinned clock and fixed credentials, the headers the client sends
//! for OpenSearch Service (`es`) and Serverless (`aoss`) are exactly the ones botocore's
//! `SigV4Auth` computes for the same request (the values below were computed with botocore
//! 1.x, `tests/servers/sigv4proxy.py --golden`). The request goes through a loopback proxy that
//! records it, so the signed host is the cluster's, not the proxy's. And how a 401 is read.

use super::*;
use crate::config::Config;
use aws_smithy_async::time::{SharedTimeSource, StaticTimeSource};
use std::io::Write;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// 2023-11-14T22:13:20Z.
const PINNED: u64 = 1_700_000_000;

fn config(service: &str) -> OpenSearchConfig {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    write!(
        f,
        "[opensearch]\nurl = \"http://search-trailship.us-east-1.es.amazonaws.com\"\nauth = \"sigv4\"\n\
         aws_service = \"{service}\"\naws_region = \"us-east-1\"\n"
    )
    .unwrap();
    Config::load_from(Some(f.path()), &[]).unwrap().opensearch
}

/// A client for `service` whose requests go to a proxy that answers `{}` and hands back the
/// request's head (lowercased header names) and body.
async fn signed_request(service: &str, send: impl AsyncFnOnce(Client)) -> (String, Vec<(String, String)>, Vec<u8>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let proxy = Url::parse(&format!("http://{}", listener.local_addr().unwrap())).unwrap();
    let capture = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut data = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            let n = socket.read(&mut chunk).await.unwrap();
            assert!(n > 0, "connection closed before the request ended");
            data.extend_from_slice(&chunk[..n]);
            if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
        };
        let head = String::from_utf8(data[..head_end].to_vec()).unwrap();
        let mut lines = head.split("\r\n");
        let request_line = lines.next().unwrap().to_owned();
        let headers: Vec<(String, String)> = lines
            .map(|l| l.split_once(':').unwrap())
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        let length: usize = headers.iter().find(|(k, _)| k == "content-length").map_or(0, |(_, v)| v.parse().unwrap());
        let mut body = data[head_end + 4..].to_vec();
        while body.len() < length {
            let n = socket.read(&mut chunk).await.unwrap();
            body.extend_from_slice(&chunk[..n]);
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}")
            .await
            .unwrap();
        (request_line, headers, body)
    });
    let credentials = aws_credential_types::Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some("session-token-example".into()),
        None,
        "golden",
    );
    let cfg = config(service);
    let builder = Client::builder(
        &cfg,
        Some((SharedCredentialsProvider::new(credentials), aws_config::Region::new("us-east-1"))),
    )
    .unwrap()
    .sigv4_time_source(SharedTimeSource::new(StaticTimeSource::from_secs(PINNED)))
    .proxy(proxy, None, None);
    send(Client::from_builder(&cfg, builder).unwrap()).await;
    capture.await.unwrap()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> &'a str {
    headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or_else(|| panic!("no {name} header"))
}

const BULK: &[u8] =
    b"{\"create\":{\"_index\":\"cloudtrail-2023.11.14\",\"_id\":\"abc\"}}\n{\"eventName\":\"DeleteTrail\"}\n";
const BULK_SHA256: &str = "c7dca642fe05d2c4a901c62fd82bc1059050352e026078698633c5291c39cd15";
const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const SIGNED: &str = "SignedHeaders=accept;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-security-token";

/// Checks what every signed request carries, and its Authorization against botocore's.
fn assert_signed(headers: &[(String, String)], service: &str, sha256: &str, signature: &str) {
    assert_eq!(header(headers, "host"), "search-trailship.us-east-1.es.amazonaws.com");
    assert_eq!(header(headers, "x-amz-date"), "20231114T221320Z");
    assert_eq!(header(headers, "x-amz-security-token"), "session-token-example");
    assert_eq!(header(headers, "x-amz-content-sha256"), sha256, "serverless requires the payload hash");
    let expected = format!(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/{service}/aws4_request, {SIGNED}, \
         Signature={signature}"
    );
    assert_eq!(header(headers, "authorization"), expected);
    let everything = format!("{headers:?}");
    assert!(!everything.contains("wJalrXUtnFEMI"), "the secret key is never sent");
}

#[tokio::test]
async fn bulk_requests_are_signed_as_botocore_signs_them() {
    for (service, signature) in [
        ("es", "e4639eb87514b911bf9c543513b7266e855eacec779c20ba133f383786ae649e"),
        ("aoss", "694035f4bfd3c981a5985089c05fcdd78b82e8ba0d45428761188a449a4d6e6e"),
    ] {
        let (line, headers, body) = signed_request(service, async |c| {
            c.bulk(Bytes::from_static(BULK)).await.unwrap();
        })
        .await;
        assert_eq!(line, "POST http://search-trailship.us-east-1.es.amazonaws.com/_bulk HTTP/1.1");
        assert_eq!(header(&headers, "content-type"), "application/x-ndjson");
        assert_eq!(body, BULK);
        assert_signed(&headers, service, BULK_SHA256, signature);
    }
}

#[tokio::test]
async fn requests_without_a_body_and_with_a_query_are_signed_as_botocore_signs_them() {
    let (_, headers, _) = signed_request("es", async |c| {
        c.request(Method::Get, "/_index_template/cloudtrail", HeaderMap::new(), None).await.unwrap();
    })
    .await;
    assert_signed(&headers, "es", EMPTY_SHA256, "4d6d6f3a1db074ec1ed765d10ce70975e87f7a82a793ac205a17d3c51c10299c");
    let (line, headers, _) = signed_request("aoss", async |c| {
        c.request(Method::Get, "/cloudtrail-*/_search?size=0", HeaderMap::new(), None).await.unwrap();
    })
    .await;
    assert!(line.contains("/cloudtrail-*/_search?size=0 "), "{line}");
    assert_signed(&headers, "aoss", EMPTY_SHA256, "d440d1a4b71ef9074c9bb5c8c6adf79e358d11d58b1b2794002e719bc27f94e7");
}

#[test]
fn a_refusal_is_read_for_its_reason_in_one_line() {
    let security = br#"{"error":{"root_cause":[{"type":"security_exception","reason":"Unauthorized"}],"type":"security_exception","reason":"Unauthorized"},"status":401}"#;
    assert_eq!(answer_reason(security), "Unauthorized");
    assert_eq!(
        answer_reason(br#"{"message":"The security token included in the request is invalid."}"#),
        "The security token included in the request is invalid."
    );
    assert_eq!(answer_reason(b"Unauthorized\n  try again\n"), "Unauthorized try again");
    let basic = OpenSearchAuth::Basic { username: "u".into(), password: crate::config::Secret::new("p".into()) };
    assert!(credentials_fix(&basic).contains("opensearch.password"));
    assert!(credentials_fix(&OpenSearchAuth::None).contains("set opensearch.username"));
}
