//! The OpenSearch connection (none, basic or SigV4 auth; private CAs): raw `_bulk` requests,
//! version and template checks, template and ISM policy installation. One attempt per call;
//! retrying is the [`super::Indexer`]'s decision, made from [`ClientError::is_transient`].

use super::template::{Policy, Template, check_version, installed_digest, policy_matches};
use crate::config::{OpenSearchAuth, OpenSearchConfig};
use aws_credential_types::provider::SharedCredentialsProvider;
use bytes::Bytes;
use opensearch::auth::Credentials;
use opensearch::cert::{Certificate, CertificateValidation};
use opensearch::http::headers::{CONTENT_TYPE, HeaderMap, HeaderValue};
use opensearch::http::transport::{SingleNodeConnectionPool, Transport, TransportBuilder};
use opensearch::http::{Method, StatusCode, Url};
use serde_json::Value;

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No HTTP response (connection refused, reset, timeout, TLS).
    #[error("opensearch request to {path} failed: {cause}")]
    Transport {
        /// Request path.
        path: String,
        /// The underlying error and its causes, in one line.
        cause: String,
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

/// Whether an object trailship installs is on the cluster, and as shipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Installed {
    /// Not there.
    Missing,
    /// There, as this version ships it.
    Current,
    /// There, but different.
    Outdated,
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

/// What the findings pass needs besides `_bulk`: one search, one attempt. The real [`Client`]
/// implements it; the findings pass's memory test answers with generated pages.
pub trait SearchClient: BulkClient {
    /// `POST /{index}/_search` with `body`; the parsed answer.
    fn search(&self, index: &str, body: &Value)
    -> impl std::future::Future<Output = Result<Value, ClientError>> + Send;
}

impl SearchClient for Client {
    async fn search(&self, index: &str, body: &Value) -> Result<Value, ClientError> {
        Client::search(self, index, body).await
    }
}

/// A connection to one OpenSearch cluster.
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    url: String,
    serverless: bool,
    /// What to check when the cluster refuses the credentials, by the authentication in use.
    on_401: &'static str,
}

/// What to check when the cluster answers 401 to a request made with `auth`.
fn credentials_fix(auth: &OpenSearchAuth) -> &'static str {
    match auth {
        OpenSearchAuth::Basic { .. } => "check opensearch.username and opensearch.password",
        OpenSearchAuth::SigV4 { .. } => {
            "check the AWS credentials trailship runs with, and that the domain's access policy (or the \
             collection's data access policy) allows them"
        }
        OpenSearchAuth::None => {
            "the cluster wants credentials: set opensearch.username and opensearch.password, or opensearch.auth = \
             \"sigv4\""
        }
    }
}

/// The reason in an error answer (`error.reason`, or `error`, `message`), else its start; one line.
fn answer_reason(body: &[u8]) -> String {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let reason = [&parsed["error"]["reason"], &parsed["error"], &parsed["message"]].into_iter().find_map(Value::as_str);
    let text = reason.map_or_else(|| String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(), str::to_owned);
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

impl Client {
    /// Builds the client (no request is made); with `opensearch.auth = "sigv4"`, resolves the
    /// AWS credentials chain and the signing region.
    pub async fn connect(cfg: &OpenSearchConfig) -> anyhow::Result<Client> {
        let signing = match &cfg.auth {
            OpenSearchAuth::SigV4 { service, region } => {
                let (credentials, region) = super::sigv4::from_chain(region.as_deref()).await?;
                tracing::debug!(service = service.signing_name(), region = %region, "opensearch requests are signed (sigv4)");
                Some((credentials, region))
            }
            _ => None,
        };
        Client::from_builder(cfg, Self::builder(cfg, signing)?)
    }

    /// The transport for `cfg`, with `signing` credentials and region for SigV4.
    fn builder(
        cfg: &OpenSearchConfig,
        signing: Option<(SharedCredentialsProvider, aws_config::Region)>,
    ) -> anyhow::Result<TransportBuilder> {
        let url = Url::parse(&cfg.url).map_err(|e| anyhow::anyhow!("opensearch.url: {e}"))?;
        let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(url)).timeout(cfg.request_timeout);
        match (&cfg.auth, signing) {
            (OpenSearchAuth::Basic { username, password }, _) => {
                builder = builder.auth(Credentials::Basic(username.clone(), password.expose().to_owned()));
            }
            (OpenSearchAuth::SigV4 { service, .. }, Some((credentials, region))) => {
                builder = builder.auth(Credentials::AwsSigV4(credentials, region)).service_name(service.signing_name());
            }
            (OpenSearchAuth::SigV4 { .. }, None) => anyhow::bail!("sigv4 needs credentials"),
            (OpenSearchAuth::None, _) => {}
        }
        if let Some(path) = &cfg.ca_file {
            let pem = std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("opensearch.ca_file: cannot read {}: {e}", path.display()))?;
            let certificates = Certificate::from_pem(&pem)
                .map_err(|e| anyhow::anyhow!("opensearch.ca_file: {} is not a PEM bundle: {e}", path.display()))?;
            builder = builder.cert_validation(CertificateValidation::Full(certificates));
        }
        if cfg.tls_insecure {
            tracing::warn!(url = %cfg.url, "opensearch.tls_insecure is set: the cluster's TLS certificate is not verified (test clusters only)");
            builder = builder.cert_validation(CertificateValidation::None);
        }
        Ok(builder)
    }

    fn from_builder(cfg: &OpenSearchConfig, builder: TransportBuilder) -> anyhow::Result<Client> {
        let transport = builder.build()?;
        Ok(Client {
            transport,
            url: cfg.url.clone(),
            serverless: cfg.is_serverless(),
            on_401: credentials_fix(&cfg.auth),
        })
    }

    /// The cluster URL, for messages.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether `template` is installed, and as shipped.
    pub async fn template_state(&self, template: &Template) -> Result<Installed, ClientError> {
        let path = format!("/_index_template/{}", template.name);
        let found = match self.request(Method::Get, &path, HeaderMap::new(), None).await {
            Ok((_, body)) => serde_json::from_slice::<Value>(&body).unwrap_or(Value::Null),
            Err(ClientError::Status { status: 404, .. }) => return Ok(Installed::Missing),
            Err(e) => return Err(e),
        };
        let current = &found["index_templates"][0]["index_template"];
        let same = installed_digest(current).is_some() && installed_digest(current) == installed_digest(&template.body);
        Ok(if same { Installed::Current } else { Installed::Outdated })
    }

    /// Installs `template` if it is missing; replaces it when it differs and `overwrite`.
    pub async fn ensure_template(&self, template: &Template, overwrite: bool) -> Result<SetupAction, ClientError> {
        let state = self.template_state(template).await?;
        match state {
            Installed::Current => return Ok(SetupAction::Unchanged),
            Installed::Outdated if !overwrite => return Ok(SetupAction::Outdated),
            _ => {}
        }
        let path = format!("/_index_template/{}", template.name);
        let body = Bytes::from(serde_json::to_vec(&template.body).expect("a json value serializes"));
        self.request(Method::Put, &path, HeaderMap::new(), Some(body)).await?;
        Ok(if state == Installed::Missing { SetupAction::Installed } else { SetupAction::Updated })
    }

    /// The cluster's `GET /` answer checked by [`check_version`]: `Ok(None)` for OpenSearch
    /// Serverless (no `GET /`; AWS keeps it current), `Ok(Some(version))`, or the reason the
    /// cluster cannot hold the templates.
    pub async fn version(&self) -> Result<Option<Result<String, String>>, ClientError> {
        if self.serverless {
            return Ok(None);
        }
        let (_, body) = self.request(Method::Get, "/", HeaderMap::new(), None).await?;
        Ok(Some(check_version(&serde_json::from_slice(&body).unwrap_or(Value::Null))))
    }

    /// Installs or updates an ISM policy; [`SetupAction::Unsupported`] when the cluster has no
    /// ISM plugin (OpenSearch answers "no handler found" for its API).
    pub async fn ensure_policy(&self, policy: &Policy) -> Result<SetupAction, ClientError> {
        if self.serverless {
            return Ok(SetupAction::Unsupported);
        }
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

    /// Whether the cluster answers `GET /` (for `/readyz`); OpenSearch Serverless has no `GET /`,
    /// so there it is asked for its index templates.
    pub async fn check(&self) -> Result<(), String> {
        let path = if self.serverless { "/_index_template" } else { "/" };
        self.request(Method::Get, path, HeaderMap::new(), None).await.map(|_| ()).map_err(|e| e.to_string())
    }

    /// `cluster.max_shards_per_node` (set or default), the data nodes and the shards held now;
    /// `None` on OpenSearch Serverless, which has no such limit to ask for.
    pub async fn shard_limit(&self) -> Result<Option<super::shards::Limit>, ClientError> {
        if self.serverless {
            return Ok(None);
        }
        let get = |path: &'static str| async move {
            let (_, body) = self.request(Method::Get, path, HeaderMap::new(), None).await?;
            Ok::<Value, ClientError>(serde_json::from_slice(&body).unwrap_or(Value::Null))
        };
        let settings = get("/_cluster/settings?include_defaults=true&flat_settings=true").await?;
        let health = get("/_cluster/health").await?;
        let number = |v: &Value| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()));
        // A transient setting wins over a persistent one, which wins over the default.
        let per_node = ["transient", "persistent", "defaults"]
            .iter()
            .find_map(|scope| number(&settings[scope]["cluster.max_shards_per_node"]))
            .unwrap_or(1000);
        let now = number(&health["active_shards"]).unwrap_or(0) + number(&health["unassigned_shards"]).unwrap_or(0);
        let data_nodes = number(&health["number_of_data_nodes"]).unwrap_or(1).max(1);
        Ok(Some(super::shards::Limit { per_node, data_nodes, now }))
    }

    /// Whether this is an OpenSearch Serverless collection.
    pub fn is_serverless(&self) -> bool {
        self.serverless
    }

    /// `POST /{index}/_search` with `body`; the parsed answer.
    pub async fn search(&self, index: &str, body: &Value) -> Result<Value, ClientError> {
        let path = format!("/{index}/_search");
        let body = Bytes::from(serde_json::to_vec(body).expect("a json value serializes"));
        let started = std::time::Instant::now();
        let (_, answer) = self.request(Method::Post, &path, json_headers(), Some(body)).await?;
        tracing::debug!(index, ms = started.elapsed().as_millis() as u64, bytes = answer.len(), "search answered");
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

    /// Makes what was indexed into `pattern` searchable now (`_refresh`), for a pass that reads
    /// it right after indexing. Serverless collections refresh on their own and refuse the
    /// call: a failure is logged at debug and ignored.
    pub async fn refresh(&self, pattern: &str) {
        let path = format!("/{pattern}/_refresh?ignore_unavailable=true&allow_no_indices=true");
        if let Err(e) = self.request(Method::Post, &path, json_headers(), None).await {
            tracing::debug!(error = %e, "refresh not done");
        }
    }

    /// The names of the indices matching `pattern` (`_cat/indices`), sorted.
    pub async fn index_names(&self, pattern: &str) -> Result<Vec<String>, ClientError> {
        let path = format!("/_cat/indices/{pattern}?format=json&h=index&expand_wildcards=all");
        let (_, body) = self.request(Method::Get, &path, json_headers(), None).await?;
        let rows: Vec<Value> = serde_json::from_slice(&body).map_err(|e| ClientError::Status {
            path: path.clone(),
            status: 200,
            body: format!("not a list of indices: {e}"),
        })?;
        let mut names: Vec<String> = rows.iter().filter_map(|r| r["index"].as_str().map(str::to_owned)).collect();
        names.sort();
        Ok(names)
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
            |e: opensearch::Error| ClientError::Transport { path: path.to_owned(), cause: crate::cause::one_line(&e) };
        let response =
            self.transport.send(method, path, headers, None::<&()>, body, None).await.map_err(transport_err)?;
        let status = response.status_code();
        let bytes = response.bytes().await.map_err(transport_err)?;
        if status == StatusCode::UNAUTHORIZED {
            let text = format!("{} refused the credentials ({}); {}", self.url, answer_reason(&bytes), self.on_401);
            return Err(ClientError::Status { path: path.to_owned(), status: 401, body: text });
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes[..bytes.len().min(512)]).into_owned();
            return Err(ClientError::Status { path: path.to_owned(), status: status.as_u16(), body: text });
        }
        Ok((status, bytes))
    }
}

#[cfg(test)]
#[path = "client_tests.rs"]
mod tests;
