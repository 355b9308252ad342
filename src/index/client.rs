//! The OpenSearch connection: raw `_bulk` requests, template and ISM policy installation. One attempt per
//! call; retrying is the [`super::Indexer`]'s decision, made from [`ClientError::is_transient`].

use super::template::{Policy, Template, installed_digest, policy_matches};
use crate::config::OpenSearchConfig;
use bytes::Bytes;
use opensearch::auth::Credentials;
use opensearch::cert::CertificateValidation;
use opensearch::http::headers::{CONTENT_TYPE, HeaderMap, HeaderValue};
use opensearch::http::transport::{SingleNodeConnectionPool, Transport, TransportBuilder};
use opensearch::http::{Method, StatusCode, Url};
use serde_json::Value;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No HTTP response (connection refused, reset, timeout, TLS).
    #[error("opensearch request to {path} failed: {source}")]
    Transport {
        /// Request path.
        path: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// An HTTP error status for the whole request.
    #[error("opensearch answered {status} to {path}: {body}")]
    Status {
        /// Request path.
        path: String,
        /// HTTP status.
        status: u16,
        /// Start of the response body.
        body: String,
    },
}

impl ClientError {
    /// Worth retrying: no response, throttling, or a server-side error.
    pub fn is_transient(&self) -> bool {
        match self {
            ClientError::Transport { .. } => true,
            ClientError::Status { status, .. } => matches!(status, 408 | 429 | 500..),
        }
    }

    /// The cluster refuses the request for a reason of its own that an operator must fix
    /// (credentials, permissions, a missing index or endpoint): worth retrying later, never a
    /// fault of the events.
    pub fn is_blocked(&self) -> bool {
        matches!(self, ClientError::Status { status: 401 | 403 | 404, .. })
    }

    /// The request body is over the cluster's `http.max_content_length`.
    pub fn is_too_large(&self) -> bool {
        matches!(self, ClientError::Status { status: 413, .. })
    }
}

/// What [`Client::ensure_template`] or [`Client::ensure_policy`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetupAction {
    /// It was missing and is installed now.
    Installed,
    /// It differed and was replaced with the shipped version.
    Updated,
    /// The installed one is the shipped one.
    Unchanged,
    /// It differs from the shipped one and was left alone (no overwrite asked).
    Outdated,
    /// The cluster lacks the plugin this needs (ISM); nothing was done.
    Unsupported,
}

impl SetupAction {
    /// How `trailship setup` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            SetupAction::Installed => "installed",
            SetupAction::Updated => "updated",
            SetupAction::Unchanged => "unchanged",
            SetupAction::Outdated => "differs from this version, left as is",
            SetupAction::Unsupported => "skipped",
        }
    }
}

fn json_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers
}

/// What the [`super::Indexer`] needs from OpenSearch: one `_bulk` request, one attempt. The
/// real [`Client`] and the in-memory twin in the indexer's tests implement it.
pub trait BulkClient: Clone + Send + Sync + 'static {
    /// Sends one `_bulk` request (the body is handed over, not copied) and returns the body of
    /// a 2xx response.
    fn bulk(&self, body: Bytes) -> impl std::future::Future<Output = Result<Bytes, ClientError>> + Send;
}

impl BulkClient for Client {
    async fn bulk(&self, body: Bytes) -> Result<Bytes, ClientError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"));
        self.request(Method::Post, "/_bulk", headers, Some(body)).await.map(|(_, b)| b)
    }
}

/// A connection to one OpenSearch cluster.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    url: String,
}

impl Client {
    /// Builds the client (no request is made).
    pub fn new(cfg: &OpenSearchConfig) -> anyhow::Result<Client> {
        let url = Url::parse(&cfg.url).map_err(|e| anyhow::anyhow!("opensearch.url: {e}"))?;
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url)).timeout(cfg.request_timeout);
        if let (Some(user), Some(password)) = (&cfg.username, &cfg.password) {
            builder = builder.auth(Credentials::Basic(user.clone(), password.expose().to_owned()));
        }
        if cfg.tls_insecure {
            tracing::warn!(url = %cfg.url, "opensearch.tls_insecure is set: the cluster's TLS certificate is not verified (test clusters only)");
            builder = builder.cert_validation(CertificateValidation::None);
        }
        let transport = builder.build()?;
        Ok(Client { transport, url: cfg.url.clone() })
    }

    /// The cluster URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Installs `template` if it is missing; replaces it when it differs and `overwrite`.
    pub async fn ensure_template(&self, template: &Template, overwrite: bool) -> Result<SetupAction, ClientError> {
        let path = format!("/_index_template/{}", template.name);
        let installed = match self.request(Method::Get, &path, HeaderMap::new(), None).await {
            Ok((_, body)) => Some(serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)),
            Err(ClientError::Status { status: 404, .. }) => None,
            Err(e) => return Err(e),
        };
        if let Some(found) = &installed {
            let current = &found["index_templates"][0]["index_template"];
            if installed_digest(current).is_some() && installed_digest(current) == installed_digest(&template.body) {
                return Ok(SetupAction::Unchanged);
            }
            if !overwrite {
                return Ok(SetupAction::Outdated);
            }
        }
        let body = Bytes::from(serde_json::to_vec(&template.body).expect("a json value serializes"));
        self.request(Method::Put, &path, HeaderMap::new(), Some(body)).await?;
        Ok(if installed.is_some() { SetupAction::Updated } else { SetupAction::Installed })
    }

    /// Installs or updates an ISM policy; [`SetupAction::Unsupported`] when the cluster has no
    /// ISM plugin (OpenSearch answers "no handler found" for its API).
    pub async fn ensure_policy(&self, policy: &Policy) -> Result<SetupAction, ClientError> {
        let path = format!("/_plugins/_ism/policies/{}", policy.id);
        let installed = match self.request(Method::Get, &path, HeaderMap::new(), None).await {
            Ok((_, body)) => Some(serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null)),
            Err(ClientError::Status { body, .. }) if body.contains("no handler found") => {
                return Ok(SetupAction::Unsupported);
            }
            Err(ClientError::Status { status: 404, .. }) => None,
            Err(e) => return Err(e),
        };
        let body = Bytes::from(serde_json::to_vec(&policy.body).expect("a json value serializes"));
        let Some(found) = installed else {
            self.request(Method::Put, &path, HeaderMap::new(), Some(body)).await?;
            return Ok(SetupAction::Installed);
        };
        if policy_matches(&found["policy"], policy) {
            return Ok(SetupAction::Unchanged);
        }
        // An update names the version it replaces.
        let update = format!(
            "{path}?if_seq_no={}&if_primary_term={}",
            found["_seq_no"].as_i64().unwrap_or(0),
            found["_primary_term"].as_i64().unwrap_or(0)
        );
        self.request(Method::Put, &update, HeaderMap::new(), Some(body)).await?;
        Ok(SetupAction::Updated)
    }

    /// Whether the cluster answers `GET /` (for `/readyz`).
    pub async fn check(&self) -> Result<(), String> {
        self.request(Method::Get, "/", HeaderMap::new(), None).await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// `POST /{index}/_search` with `body`; the parsed answer.
    pub async fn search(&self, index: &str, body: &Value) -> Result<Value, ClientError> {
        let path = format!("/{index}/_search");
        let body = Bytes::from(serde_json::to_vec(body).expect("a json value serializes"));
        let (_, answer) = self.request(Method::Post, &path, json_headers(), Some(body)).await?;
        Ok(serde_json::from_slice(&answer).unwrap_or(Value::Null))
    }

    /// Whether each `(index, id)` document exists now (`_mget` reads in real time).
    pub async fn exists(&self, docs: &[(String, String)]) -> Result<Vec<bool>, ClientError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let docs: Vec<Value> =
            docs.iter().map(|(i, id)| serde_json::json!({"_index": i, "_id": id, "_source": false})).collect();
        let body =
            Bytes::from(serde_json::to_vec(&serde_json::json!({"docs": docs})).expect("a json value serializes"));
        let (_, answer) = self.request(Method::Post, "/_mget", json_headers(), Some(body)).await?;
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let found: Vec<bool> = answer["docs"]
            .as_array()
            .map(|d| d.iter().map(|d| d["found"].as_bool() == Some(true)).collect())
            .unwrap_or_default();
        if found.len() != docs.len() {
            return Err(ClientError::Status {
                path: "/_mget".into(),
                status: 200,
                body: format!("{} docs answered for {}", found.len(), docs.len()),
            });
        }
        Ok(found)
    }

    /// Deletes documents of `index` by id; an id already gone counts as deleted.
    pub async fn delete_ids(&self, index: &str, ids: &[String]) -> Result<(), ClientError> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut body = Vec::new();
        for id in ids {
            serde_json::to_writer(&mut body, &serde_json::json!({"delete": {"_index": index, "_id": id}}))
                .expect("a json value serializes");
            body.push(b'\n');
        }
        let answer = self.bulk(Bytes::from(body)).await?;
        let answer: Value = serde_json::from_slice(&answer).unwrap_or(Value::Null);
        let items = answer["items"].as_array().map(Vec::as_slice).unwrap_or_default();
        let ok =
            items.len() == ids.len() && items.iter().all(|i| matches!(i["delete"]["status"].as_u64(), Some(200 | 404)));
        if !ok {
            let text: String = answer.to_string().chars().take(512).collect();
            return Err(ClientError::Status {
                path: "/_bulk".into(),
                status: 200,
                body: format!("delete not confirmed: {text}"),
            });
        }
        Ok(())
    }

    /// One request; a non-2xx status is an error carrying the start of the body.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let transport_err =
            |source: opensearch::Error| ClientError::Transport { path: path.to_owned(), source: source.into() };
        let response =
            self.transport.send(method, path, headers, None::<&()>, body, None).await.map_err(transport_err)?;
        let status = response.status_code();
        let bytes = response.bytes().await.map_err(transport_err)?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
            return Err(ClientError::Status { path: path.to_owned(), status: status.as_u16(), body: text });
        }
        Ok((status, bytes))
    }
}
