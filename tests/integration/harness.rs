//! Test harness: starts the real third-party servers (moto for S3 + SQS, osmem for OpenSearch)
//! on free loopback ports, builds clients for them, and runs the `trailship` binary.
//!
//! The servers come from the Python venv that `scripts/test.sh` creates (`.venv`, or the one
//! named by `TRAILSHIP_TEST_VENV`). A missing venv fails the test with a pointer to that script.

use aws_sdk_s3::config::{Credentials, Region};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// How long a server gets to come up, and a trailship run to finish.
const STARTUP: Duration = Duration::from_secs(60);
const RUN_LIMIT: Duration = Duration::from_secs(240);

pub fn venv() -> PathBuf {
    let dir = std::env::var_os("TRAILSHIP_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv"));
    assert!(
        dir.join("bin/moto_server").exists(),
        "no test servers in {}: run scripts/test.sh (it creates the venv with moto[server] and osmem-server)",
        dir.display()
    );
    dir
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A moto server (S3 + SQS + SNS) on loopback; killed on drop.
pub struct Moto {
    /// Its endpoint URL.
    pub url: String,
    _child: Child,
}

impl Moto {
    pub async fn start() -> Moto {
        let venv = venv();
        let mut last_err = String::new();
        for _ in 0..3 {
            let port = free_port();
            let child = Command::new(venv.join("bin/moto_server"))
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("start moto_server");
            let url = format!("http://127.0.0.1:{port}");
            match wait_http(&format!("{url}/moto-api/data.json")).await {
                Ok(()) => return Moto { url, _child: child },
                Err(e) => last_err = e,
            }
        }
        panic!("moto_server did not come up: {last_err}");
    }

    fn sdk_config(&self) -> aws_config::SdkConfig {
        aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(&self.url)
            .credentials_provider(aws_credential_types::provider::SharedCredentialsProvider::new(Credentials::new(
                "test", "test", None, None, "static",
            )))
            .build()
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        let conf = aws_sdk_s3::config::Builder::from(&self.sdk_config()).force_path_style(true).build();
        aws_sdk_s3::Client::from_conf(conf)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        aws_sdk_sqs::Client::new(&self.sdk_config())
    }

    pub fn organizations(&self) -> aws_sdk_organizations::Client {
        aws_sdk_organizations::Client::new(&self.sdk_config())
    }
}

/// Polls `url` until it answers (a readiness condition, not a fixed sleep).
async fn wait_http(url: &str) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + STARTUP;
    let client = reqwest::Client::new();
    loop {
        match client.get(url).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => return Err(format!("{url} answered {}", r.status())),
            Err(e) if tokio::time::Instant::now() > deadline => return Err(e.to_string()),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Starts a server that prints `{"url": …}` on its first stdout line once it listens; returns
/// that URL and the process (killed on drop).
pub async fn start_with_ready_line(mut cmd: Command, what: &str) -> (String, Child) {
    let mut child =
        cmd.stdout(Stdio::piped()).kill_on_drop(true).spawn().unwrap_or_else(|e| panic!("start {what}: {e}"));
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(STARTUP, lines.next_line())
        .await
        .unwrap_or_else(|_| panic!("{what} did not start"))
        .unwrap()
        .unwrap_or_else(|| panic!("{what} exited at start-up"));
    let ready: Value = serde_json::from_str(&first).unwrap_or_else(|e| panic!("{what}'s ready line {first:?}: {e}"));
    (ready["url"].as_str().unwrap().to_owned(), child)
}

/// An osmem (OpenSearch-compatible) server on loopback; killed on drop.
pub struct Osmem {
    /// Its URL.
    pub url: String,
    _child: Child,
}

impl Osmem {
    pub async fn start() -> Osmem {
        let venv = venv();
        let out = std::process::Command::new(venv.join("bin/python"))
            .args(["-c", "import osmem_server;print(osmem_server.resolve_binary())"])
            .output()
            .expect("run the venv's python");
        let binary = String::from_utf8(out.stdout).unwrap().trim().to_owned();
        let mut cmd = Command::new(binary);
        let parent = std::process::id().to_string();
        cmd.args(["--addr", "127.0.0.1:0", "--no-ja", "--no-stdin-watch", "--parent-pid", &parent])
            .stderr(Stdio::null());
        let (url, child) = start_with_ready_line(cmd, "osmem-server").await;
        Osmem { url, _child: child }
    }

    /// GET a path, returning the JSON body and status.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let r = reqwest::get(format!("{}{path}", self.url)).await.unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(Value::Null))
    }

    /// POST a JSON body.
    pub async fn post(&self, path: &str, body: &Value) -> Value {
        let r = reqwest::Client::new().post(format!("{}{path}", self.url)).json(body).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// PUT a JSON body.
    pub async fn put(&self, path: &str, body: &Value) -> Value {
        let r = reqwest::Client::new().put(format!("{}{path}", self.url)).json(body).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// DELETE, e.g. an index.
    pub async fn delete(&self, path: &str) -> Value {
        let r = reqwest::Client::new().delete(format!("{}{path}", self.url)).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// Number of documents matching an index pattern (0 when none exists).
    pub async fn count(&self, index: &str) -> u64 {
        let (status, body) = self.get(&format!("/{index}/_count?ignore_unavailable=true&allow_no_indices=true")).await;
        if status == 404 {
            return 0;
        }
        body["count"].as_u64().unwrap_or_else(|| panic!("count of {index}: {status} {body}"))
    }

    /// Every document of an index pattern (up to 10,000).
    pub async fn all(&self, index: &str) -> Vec<Value> {
        let body = self
            .post(&format!("/{index}/_search"), &serde_json::json!({"size": 10000, "query": {"match_all": {}}}))
            .await;
        body["hits"]["hits"].as_array().cloned().unwrap_or_default()
    }
}

/// What a trailship run printed and how it ended.
pub struct RunOutput {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl RunOutput {
    /// The closing summary line.
    pub fn summary(&self) -> &str {
        self.stderr.lines().rev().find(|l| l.starts_with("trailship ")).unwrap_or("")
    }
}

/// The trailship binary with `args`, only the environment `env` (plus PATH and RUST_LOG), run
/// from a directory holding no `trailship.toml`, its stderr piped.
pub fn command(args: &[&str], env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trailship"));
    cmd.args(args).env_clear().env("PATH", std::env::var_os("PATH").unwrap_or_default()).env("RUST_LOG", "info");
    cmd.current_dir(std::env::temp_dir());
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    cmd.stderr(Stdio::piped()).kill_on_drop(true);
    cmd
}

/// Runs the trailship binary with `args` and environment `env`, killing it after a time limit.
/// Its output must not hold any secret it was given (see [`assert_no_secrets`]).
pub async fn trailship(args: &[&str], env: &[(String, String)]) -> RunOutput {
    let child = command(args, env).stdout(Stdio::piped()).spawn().expect("start trailship");
    let out = tokio::time::timeout(RUN_LIMIT, child.wait_with_output())
        .await
        .expect("trailship did not finish in time")
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_no_secrets(env, &stdout);
    assert_no_secrets(env, &stderr);
    RunOutput { code: out.status.code().unwrap_or(-1), stdout, stderr }
}

/// The secrets in `env`: the values of passwords, secret keys, session tokens, AWS access key
/// ids and webhook URLs; a comma-separated list (several webhooks) is one secret per item.
pub fn secrets(env: &[(String, String)]) -> Vec<&str> {
    let secret =
        |k: &str| ["PASSWORD", "SECRET", "TOKEN", "WEBHOOK_URLS", "AWS_ACCESS_KEY_ID"].iter().any(|s| k.contains(s));
    env.iter()
        .filter(|(k, _)| secret(k))
        .flat_map(|(_, v)| v.split(','))
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .collect()
}

/// Characters of a secret that, found together in an output, count as a leak.
const FRAGMENT: usize = 10;

/// The first piece of a secret in `env` that `output` holds: the whole value, or any
/// [`FRAGMENT`] characters of it in a row. Of a URL, only its path and query count (the host a
/// message may name); its user and password count whole too.
pub fn leaked(env: &[(String, String)], output: &str) -> Option<String> {
    for secret in secrets(env) {
        assert!(secret.len() >= FRAGMENT, "test secret {secret:?} is too short to be searched for");
        let mut private = vec![secret.to_owned()];
        if let Ok(url) = reqwest::Url::parse(secret)
            && url.has_host()
        {
            let start = secret.find(url.path()).unwrap_or(secret.len());
            private = vec![secret[start..].to_owned(), url.username().to_owned()];
            private.extend(url.password().map(str::to_owned));
        }
        for part in private.iter().filter(|p| p.len() >= 8) {
            let bytes = part.as_bytes();
            for at in 0..=bytes.len().saturating_sub(FRAGMENT) {
                let end = (at + FRAGMENT).min(bytes.len());
                let Ok(window) = std::str::from_utf8(&bytes[at..end]) else { continue };
                if output.contains(window) {
                    return Some(window.to_owned());
                }
            }
        }
    }
    None
}

/// Every output of every trailship run in these tests goes through this: no secret the process
/// was given, nor a piece of one, appears in it. Test secrets are long and distinctive, so a hit
/// is a leak.
pub fn assert_no_secrets(env: &[(String, String)], output: &str) {
    if let Some(piece) = leaked(env, output) {
        panic!("a secret given to trailship appears in its output ({piece:?}):\n{output}");
    }
}

#[test]
fn the_secret_scan_finds_pieces_of_every_secret() {
    let env: Vec<(String, String)> = [
        (
            "TRAILSHIP__ALERTS__WEBHOOK_URLS",
            "http://127.0.0.1:9/services/T0/B0/hook-token-4kQz9,https://hooks.example/second-token-Xy7",
        ),
        ("TRAILSHIP__OPENSEARCH__PASSWORD", "os-password-Hk7pQ2zWm4"),
        ("AWS_ACCESS_KEY_ID", "AKIATRAILSHIPTEST"),
        ("AWS_SECRET_ACCESS_KEY", "moto-secret-Jq7rW2xv"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .into();
    for output in [
        "webhook post failed: POST /services/T0/B0/hook-token-4kQz9: 503",
        "posting to …/B0/hook-token-4kQz9",
        "second webhook: /second-token-Xy7 refused",
        "login as admin with Hk7pQ2zWm4 refused",
        "credentials AKIATRAILSHIP… from the environment",
        "secret-Jq7rW2xv",
    ] {
        assert!(leaked(&env, output).is_some(), "not caught: {output}");
    }
    for output in ["alert posted to http://127.0.0.1:9/… (2 tries)", "hooks.example refused the post", "AKIA1"] {
        assert_eq!(leaked(&env, output), None, "{output}");
    }
}

/// Writes the test GeoIP databases (`scripts/make-mmdb.py`, PyPI mmdb-writer from the venv)
/// into `dir`; returns the city and ASN database paths.
pub fn geoip_databases(dir: &Path) -> (PathBuf, PathBuf) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-mmdb.py");
    let status = std::process::Command::new(venv().join("bin/python")).arg(script).arg(dir).status().unwrap();
    assert!(status.success(), "make-mmdb.py failed");
    (dir.join("city.mmdb"), dir.join("asn.mmdb"))
}

/// The environment pointing trailship at these servers.
pub fn env_for(moto: &Moto, osmem: &Osmem, queue_url: &str) -> Vec<(String, String)> {
    [
        ("AWS_ACCESS_KEY_ID", "AKIATRAILSHIPTEST"),
        ("AWS_SECRET_ACCESS_KEY", "moto-secret-Jq7rW2xv"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("TRAILSHIP__AWS__REGION", "us-east-1"),
        ("TRAILSHIP__AWS__ENDPOINT_URL", moto.url.as_str()),
        ("TRAILSHIP__SQS__QUEUE_URL", queue_url),
        ("TRAILSHIP__SQS__WAIT_TIME_SECS", "1"),
        ("TRAILSHIP__OPENSEARCH__URL", osmem.url.as_str()),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// `env` with each of `pairs` set (replacing the value it had).
pub fn with(mut env: Vec<(String, String)>, pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    for (k, v) in pairs {
        env.retain(|(key, _)| key != k);
        env.push((k.to_string(), v.to_string()));
    }
    env
}

/// A trailship process running in the background, its stderr collected.
pub struct Background {
    child: Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStderr>>,
    env: Vec<(String, String)>,
    pub stderr: String,
}

impl Background {
    /// Starts trailship with `args` and `env`.
    pub fn start(args: &[&str], env: &[(String, String)]) -> Background {
        let mut child = command(args, env).stdout(Stdio::null()).spawn().expect("start trailship");
        let lines = BufReader::new(child.stderr.take().unwrap()).lines();
        Background { child, lines, env: env.to_vec(), stderr: String::new() }
    }

    /// Reads stderr until a line contains `needle`.
    pub async fn wait_for(&mut self, needle: &str) {
        let found = tokio::time::timeout(STARTUP, async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                self.stderr.push_str(&line);
                self.stderr.push('\n');
                if line.contains(needle) {
                    return true;
                }
            }
            false
        })
        .await;
        assert!(matches!(found, Ok(true)), "trailship never logged {needle:?}: {}", self.stderr);
    }

    /// Kills the process with SIGKILL (no chance to clean up) and waits for it; what it wrote
    /// until then holds no secret either.
    pub async fn kill(mut self) {
        self.child.kill().await.unwrap();
        while let Ok(Some(line)) = self.lines.next_line().await {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        assert_no_secrets(&self.env, &self.stderr);
    }

    /// Sends SIGTERM and waits (at most `limit`) for the exit code; the rest of stderr is kept.
    pub async fn terminate(mut self, limit: Duration) -> RunOutput {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap();
        assert!(status.success());
        let code = tokio::time::timeout(limit, async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                self.stderr.push_str(&line);
                self.stderr.push('\n');
            }
            self.child.wait().await.unwrap().code().unwrap_or(-1)
        })
        .await
        .expect("trailship did not stop after SIGTERM");
        assert_no_secrets(&self.env, &self.stderr);
        RunOutput { code, stdout: String::new(), stderr: self.stderr }
    }
}

/// A fresh osmem holding every bundled sample event plus `extra`, and the S3 access-log files
/// `access_logs` (file name, text), indexed by `trailship ingest` with the test GeoIP databases
/// (none dead-lettered); returns the server, every CloudTrail event sent, and the directory
/// holding the files (keep it alive while the server is used).
pub async fn osmem_with_samples(
    extra: crate::fixtures::LogFile,
    access_logs: &[(&str, String)],
) -> (Osmem, Vec<Value>, tempfile::TempDir) {
    let osmem = Osmem::start().await;
    let dir = tempfile::tempdir().unwrap();
    let (city, asn) = geoip_databases(&dir.path().join("geoip"));
    let logs = dir.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut events: Vec<Value> = Vec::new();
    for (n, f) in crate::fixtures::sample_files().into_iter().chain([extra]).enumerate() {
        std::fs::write(logs.join(format!("file{n}.json.gz")), f.gzip()).unwrap();
        events.extend(f.events);
    }
    let mut records = events.len();
    for (name, text) in access_logs {
        std::fs::write(logs.join(name), text).unwrap();
        records += text.lines().filter(|l| !l.trim().is_empty()).count();
    }
    let env = vec![
        ("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone()),
        ("TRAILSHIP__GEOIP__CITY_DB".to_owned(), city.display().to_string()),
        ("TRAILSHIP__GEOIP__ASN_DB".to_owned(), asn.display().to_string()),
    ];
    let run = trailship(&["ingest", logs.to_str().unwrap()], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let settled = format!("{records} indexed, 0 already present, 0 dead-lettered");
    assert!(run.summary().contains(&settled), "{}", run.summary());
    (osmem, events, dir)
}
