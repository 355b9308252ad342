//! The project's own test servers, put in front of osmem for what it cannot show: faults
//! (`tests/servers/faultproxy.py`), SigV4 verification as Amazon OpenSearch Service and
//! Serverless do it (`tests/servers/sigv4proxy.py`, botocore's signer), basic authentication as
//! the security plugin does it (`tests/servers/authproxy.py`), and TLS with a private CA.

use crate::harness::{start_with_ready_line, venv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::process::{Child, Command};

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/servers").join(name)
}

/// The fault-injecting proxy (`tests/servers/faultproxy.py`) in front of `upstream`; killed on
/// drop. It forwards everything until told otherwise with [`FaultProxy::set`].
pub struct FaultProxy {
    /// Its URL: point trailship here instead of at the upstream.
    pub url: String,
    _child: Child,
}

impl FaultProxy {
    pub async fn start(upstream: &str) -> FaultProxy {
        Self::start_with(upstream, &[]).await
    }

    /// [`FaultProxy::start`] serving HTTPS with this certificate and key.
    pub async fn start_tls(upstream: &str, cert: &Path, key: &Path) -> FaultProxy {
        Self::start_with(upstream, &["--tls".as_ref(), cert.as_os_str(), key.as_os_str()]).await
    }

    async fn start_with(upstream: &str, args: &[&std::ffi::OsStr]) -> FaultProxy {
        let mut cmd = Command::new(venv().join("bin/python"));
        cmd.arg(script("faultproxy.py")).arg(upstream).args(args).stderr(Stdio::inherit());
        let (url, child) = start_with_ready_line(cmd, "the fault proxy").await;
        FaultProxy { url, _child: child }
    }

    /// Replaces the fault rules (see the script's doc); `json!([])` clears them.
    pub async fn set(&self, rules: Value) -> Value {
        let r = reqwest::Client::new().post(format!("{}/_fault", self.url)).json(&serde_json::json!({"rules": rules}));
        r.send().await.unwrap().json().await.unwrap()
    }

    /// Requests seen per path and faults injected per kind.
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/_fault", self.url)).await.unwrap().json().await.unwrap()
    }
}

/// The basic-authentication proxy (`tests/servers/authproxy.py`) in front of `upstream`,
/// accepting `username` with `password` as the security plugin would; killed on drop.
pub struct AuthProxy {
    /// Its URL: point trailship here.
    pub url: String,
    _child: Child,
}

impl AuthProxy {
    pub async fn start(upstream: &str, username: &str, password: &str) -> AuthProxy {
        let mut cmd = Command::new(venv().join("bin/python"));
        cmd.arg(script("authproxy.py")).arg(upstream).arg(username).env("AUTHPROXY_PASSWORD", password);
        cmd.stderr(Stdio::inherit());
        let (url, child) = start_with_ready_line(cmd, "the auth proxy").await;
        AuthProxy { url, _child: child }
    }

    /// `{"accepted": n, "refused": n, "refused_paths": [...]}`.
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/_auth", self.url)).await.unwrap().json().await.unwrap()
    }
}

/// The credentials the SigV4 proxy accepts, as trailship's environment (the AWS chain's
/// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
pub const SIGV4_ACCESS_KEY: &str = "ASIATRAILSHIPSIGV4";
pub const SIGV4_SECRET_KEY: &str = "sigv4-secret-9vQm2LxP4t";
pub const SIGV4_SESSION_TOKEN: &str = "sigv4-session-token-Zr8kW3nB";

/// The SigV4-verifying proxy in front of `upstream`, for `service` (`es` or `aoss`) in
/// us-east-1 with the `SIGV4_*` credentials; killed on drop.
pub struct SigV4Proxy {
    /// Its URL: point trailship here.
    pub url: String,
    _child: Child,
}

impl SigV4Proxy {
    pub async fn start(upstream: &str, service: &str) -> SigV4Proxy {
        let mut cmd = Command::new(venv().join("bin/python"));
        cmd.arg(script("sigv4proxy.py")).arg(upstream).args(["--service", service, "--region", "us-east-1"]);
        cmd.args(["--access-key", SIGV4_ACCESS_KEY, "--secret-key", SIGV4_SECRET_KEY]);
        cmd.args(["--session-token", SIGV4_SESSION_TOKEN]).stderr(Stdio::inherit());
        let (url, child) = start_with_ready_line(cmd, "the sigv4 proxy").await;
        SigV4Proxy { url, _child: child }
    }

    /// `{"verified": n, "rejected": n, "reasons": [...]}`.
    pub async fn stats(&self) -> Value {
        reqwest::get(format!("{}/_sigv4", self.url)).await.unwrap().json().await.unwrap()
    }
}

/// Writes a private CA and a certificate for 127.0.0.1 signed by it into `dir` (with
/// `openssl`); returns (ca.pem, server cert, server key).
pub fn private_ca(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let openssl = |args: &[&str]| {
        let out = std::process::Command::new("openssl").args(args).current_dir(dir).output().expect("run openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "2",
        "-subj",
        "/CN=trailship test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n").unwrap();
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "san.ext",
        "-out",
        "server.pem",
    ]);
    (dir.join("ca.pem"), dir.join("server.pem"), dir.join("server.key"))
}

/// The webhook receiver (`tests/servers/webhook.py`): takes JSON POSTs, answering 503 to the
/// first `fail_first`; killed on drop.
pub struct WebhookReceiver {
    /// Its base URL: POST to any path under it.
    pub url: String,
    _child: Child,
}

impl WebhookReceiver {
    pub async fn start(fail_first: usize) -> WebhookReceiver {
        let mut cmd = Command::new(venv().join("bin/python"));
        cmd.arg(script("webhook.py")).args(["--fail-first", &fail_first.to_string()]).stderr(Stdio::inherit());
        let (url, child) = start_with_ready_line(cmd, "the webhook receiver").await;
        WebhookReceiver { url, _child: child }
    }

    /// Every POST so far: `{"path", "status", "body", "content_type"}`.
    pub async fn posts(&self) -> Vec<Value> {
        let r: Value = reqwest::get(format!("{}/_received", self.url)).await.unwrap().json().await.unwrap();
        r["posts"].as_array().cloned().unwrap_or_default()
    }
}
