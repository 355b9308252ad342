//! `trailship setup` and the Dashboards saved-objects import: the request it sends (checked on
//! a loopback listener answering as the import API documents), how it reports each object, and
//! how it fails; and a URL without the API.

use crate::harness::{Osmem, trailship};
use serde_json::{Value, json};
use trailship::dashboards::SAVED_OBJECTS;

#[tokio::test(flavor = "multi_thread")]
async fn setup_warns_when_the_url_has_no_dashboards_api() {
    let osmem = Osmem::start().await;
    let env = vec![("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone())];
    let run = trailship(&["setup", "--dashboards-url", &osmem.url], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("dashboards: skipped (no saved-objects API at {})", osmem.url)),
        "{}",
        run.stdout
    );
    assert!(run.stderr.contains("no saved-objects api at this url"), "{}", run.stderr);

    let run = trailship(&["setup", "--dashboards-url", "localhost:5601"], &env).await;
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("--dashboards-url"), "{}", run.stderr);
}

/// One HTTP request as a loopback listener received it.
struct Received {
    head: String,
    body: String,
}

/// Accepts one connection on `listener`, reads one request, answers `status` with `answer`.
async fn answer_once(listener: tokio::net::TcpListener, status: &str, answer: Value) -> Received {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut socket, _) = listener.accept().await.unwrap();
    let mut data = Vec::new();
    let mut chunk = [0u8; 65536];
    let head_end = loop {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the request head ended");
        data.extend_from_slice(&chunk[..n]);
        if let Some(i) = data.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&data[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap()))
        .expect("a content-length");
    while data.len() < head_end + length {
        let n = socket.read(&mut chunk).await.unwrap();
        assert!(n > 0, "connection closed before the body ended");
        data.extend_from_slice(&chunk[..n]);
    }
    let body = answer.to_string();
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    socket.write_all(response.as_bytes()).await.unwrap();
    Received { head, body: String::from_utf8_lossy(&data[head_end..]).into_owned() }
}

/// The request `setup` sends, checked on a loopback listener that records it and answers the
/// way the saved-objects import documents (OpenSearch-Dashboards
/// src/core/server/saved_objects/import/types.ts). Not a Dashboards: what Dashboards does with
/// the objects is covered by the static checks in src/dashboards_tests.rs, not here.
#[tokio::test(flavor = "multi_thread")]
async fn setup_sends_the_import_dashboards_expects_and_reports_each_object() {
    let osmem = Osmem::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let objects: Vec<Value> = SAVED_OBJECTS.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let results: Vec<Value> = objects
        .iter()
        .enumerate()
        .map(|(n, o)| json!({"type": o["type"], "id": o["id"], "meta": {"title": o["attributes"]["title"]}, "overwrite": n > 0}))
        .collect();
    let answer = json!({"success": true, "successCount": results.len(), "successResults": results});
    let server = tokio::spawn(answer_once(listener, "200 OK", answer));
    let env = vec![
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
        ("TRAILSHIP__OPENSEARCH__INDEX_PREFIX".to_owned(), "trail-prod".to_owned()),
        ("TRAILSHIP__DASHBOARDS__URL".to_owned(), url.clone()),
        ("TRAILSHIP__DASHBOARDS__USERNAME".to_owned(), "analyst".to_owned()),
        ("TRAILSHIP__DASHBOARDS__PASSWORD".to_owned(), "s3cret-Dq8vPw2Lx".to_owned()),
    ];
    let run = trailship(&["setup"], &env).await;
    let got = server.await.unwrap();
    assert_eq!(run.code, 0, "{}", run.stderr);

    let head = got.head.to_ascii_lowercase();
    assert!(head.starts_with("post /api/saved_objects/_import?overwrite=true http/1.1\r\n"), "{}", got.head);
    assert!(head.contains("\r\nosd-xsrf: true\r\n"), "{}", got.head);
    assert!(
        head.contains("\r\nauthorization: basic yw5hbhlzddpzm2nyzxqtrhe4dlb3mkx4\r\n"),
        "analyst:s3cret-Dq8vPw2Lx, {}",
        got.head
    );
    assert!(head.contains("content-type: multipart/form-data; boundary="), "{}", got.head);
    assert!(
        got.body.contains("Content-Disposition: form-data; name=\"file\"; filename=\"trailship.ndjson\""),
        "{}",
        &got.body[..300]
    );
    let sent: Vec<Value> =
        got.body.lines().filter(|l| l.starts_with('{')).map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(sent.len(), objects.len());
    let titles: Vec<&str> = sent[..6].iter().map(|o| o["attributes"]["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        [
            "trail-prod-*",
            "s3access-*",
            "trail-prod-*,s3access-*",
            "trailship-alerts-*",
            "trailship-trends-trail-prod-*",
            "trailship-trends-s3access-*"
        ],
        "index patterns rendered for the prefixes"
    );
    assert!(sent[6..] == objects[6..], "the other objects are sent as shipped");

    let reported: Vec<&str> = run.stdout.lines().filter(|l| l.starts_with("dashboards ")).collect();
    assert_eq!(reported.len(), objects.len(), "{}", run.stdout);
    assert_eq!(reported[0], r#"dashboards index-pattern trailship-events "cloudtrail-*": imported"#);
    assert!(reported.contains(&r#"dashboards dashboard trailship-security "CloudTrail security": updated"#));
}

#[tokio::test(flavor = "multi_thread")]
async fn setup_fails_when_dashboards_refuses_objects_or_credentials() {
    let osmem = Osmem::start().await;
    let env_for = |url: &str| {
        vec![
            ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
            ("TRAILSHIP__DASHBOARDS__URL".to_owned(), url.to_owned()),
        ]
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = json!({"success": false, "successCount": 0, "errors": [{"id": "trailship-overview", "type": "dashboard",
        "meta": {"title": "CloudTrail overview"}, "error": {"type": "missing_references",
        "references": [{"type": "visualization", "id": "gone"}]}}]});
    let server = tokio::spawn(answer_once(listener, "200 OK", answer));
    let run = trailship(&["setup"], &env_for(&url)).await;
    server.await.unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stdout.contains(
        r#"dashboards dashboard trailship-overview "CloudTrail overview": failed (missing_references: visualization gone)"#
    ));
    assert!(run.stderr.contains(&format!("1 of 1 saved objects were not imported into {url}")), "{}", run.stderr);

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let answer = json!({"statusCode": 401, "error": "Unauthorized", "message": "Authentication required"});
    let server = tokio::spawn(answer_once(listener, "401 Unauthorized", answer));
    let run = trailship(&["setup"], &env_for(&url)).await;
    server.await.unwrap();
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(run.stderr.contains("refused the import: http 401: Authentication required"), "{}", run.stderr);
}
