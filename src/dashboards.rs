//! The OpenSearch Dashboards saved objects trailship ships (`dashboards/trailship.ndjson`,
//! written by `scripts/make-dashboards.py` and embedded at build time so a lone binary can
//! install them): rendering them for the configured index prefix, the saved-objects import
//! request, and reading its answer object by object. `trailship setup` drives it.

use crate::config::DashboardsConfig;
use crate::config::trends::trend_prefix;
use serde::Deserialize;
use serde_json::Value;
use std::time::Duration;

/// The shipped saved objects, one JSON object per line, each before the objects naming it.
pub const SAVED_OBJECTS: &str = include_str!("../dashboards/trailship.ndjson");

/// The id of the CloudTrail index pattern.
pub const INDEX_PATTERN_ID: &str = "trailship-events";
/// The id of the S3 access-log index pattern.
pub const ACCESS_PATTERN_ID: &str = "trailship-s3access-logs";
/// The id of the index pattern over both sources (searches asking both one question).
pub const ALL_PATTERN_ID: &str = "trailship-all-sources";
/// The id of the alert index pattern.
pub const ALERTS_PATTERN_ID: &str = "trailship-alerts";
/// The id of the CloudTrail trend index pattern.
pub const TRENDS_PATTERN_ID: &str = "trailship-cloudtrail-trends";
/// The id of the S3 access-log trend index pattern.
pub const ACCESS_TRENDS_PATTERN_ID: &str = "trailship-s3access-trends";

/// The saved objects with the index patterns' titles set for the configured prefixes:
/// `{index_prefix}-*`, `{access_prefix}-*`, both comma-separated, `{alerts_prefix}-*`, and the
/// trend indices `trailship-trends-{index_prefix}-*` and `trailship-trends-{access_prefix}-*`.
pub fn render(index_prefix: &str, access_prefix: &str, alerts_prefix: &str) -> String {
    let mut out = String::with_capacity(SAVED_OBJECTS.len());
    for line in SAVED_OBJECTS.lines().filter(|l| !l.trim().is_empty()) {
        let mut object: Value = serde_json::from_str(line).expect("dashboards/trailship.ndjson is checked by tests");
        let title = match object["id"].as_str() {
            _ if object["type"] != "index-pattern" => None,
            Some(INDEX_PATTERN_ID) => Some(format!("{index_prefix}-*")),
            Some(ACCESS_PATTERN_ID) => Some(format!("{access_prefix}-*")),
            Some(ALL_PATTERN_ID) => Some(format!("{index_prefix}-*,{access_prefix}-*")),
            Some(ALERTS_PATTERN_ID) => Some(format!("{alerts_prefix}-*")),
            Some(TRENDS_PATTERN_ID) => Some(format!("{}-*", trend_prefix(index_prefix))),
            Some(ACCESS_TRENDS_PATTERN_ID) => Some(format!("{}-*", trend_prefix(access_prefix))),
            _ => None,
        };
        match title {
            Some(title) => {
                object["attributes"]["title"] = Value::String(title);
                out.push_str(&object.to_string());
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

/// Why an import did not happen.
#[derive(Debug, thiserror::Error)]
pub enum DashboardsError {
    /// No answer (not up yet, wrong host): worth retrying for a while.
    #[error("cannot reach opensearch dashboards at {url}: {cause}")]
    Unreachable {
        /// The Dashboards URL.
        url: String,
        /// Why, in one line.
        cause: String,
    },
    /// Dashboards answered with an error status (bad credentials, starting up, bad request).
    #[error("opensearch dashboards at {url} refused the import: http {status}: {message}")]
    Refused {
        /// The Dashboards URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of its answer.
        message: String,
    },
    /// The answer is not the saved-objects import response.
    #[error("unexpected answer from {url}: {message}")]
    BadAnswer {
        /// The Dashboards URL.
        url: String,
        /// What was wrong with the answer.
        message: String,
    },
}

impl DashboardsError {
    /// Connection failures and "not ready yet" statuses (Dashboards answers 503 while it starts).
    pub fn is_transient(&self) -> bool {
        match self {
            DashboardsError::Unreachable { .. } => true,
            DashboardsError::Refused { status, .. } => matches!(status, 502..=504),
            DashboardsError::BadAnswer { .. } => false,
        }
    }
}

/// What the import call found.
#[derive(Debug, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Dashboards imported (or refused) each object.
    Done(Vec<ObjectResult>),
    /// The URL answers, but without a saved-objects API (not Dashboards, or a proxy path).
    NoApi {
        /// The HTTP status of the import call.
        status: u16,
    },
}

/// One saved object as the import reports it.
#[derive(Debug, PartialEq, Eq)]
pub struct ObjectResult {
    /// `index-pattern`, `visualization`, `search` or `dashboard`.
    pub kind: String,
    /// Saved-object id.
    pub id: String,
    /// Title, when Dashboards says it.
    pub title: String,
    /// What happened to it.
    pub status: ObjectStatus,
}

/// What happened to one object.
#[derive(Debug, PartialEq, Eq)]
pub enum ObjectStatus {
    /// Created.
    Imported,
    /// Replaced an existing object with the same id.
    Updated,
    /// Not imported, with Dashboards' reason.
    Failed(String),
}

impl ObjectStatus {
    /// The word `trailship setup` prints.
    pub fn describe(&self) -> String {
        match self {
            ObjectStatus::Imported => "imported".into(),
            ObjectStatus::Updated => "updated".into(),
            ObjectStatus::Failed(reason) => format!("failed ({reason})"),
        }
    }
}

/// The saved-objects import endpoint of one Dashboards.
pub struct Dashboards {
    http: reqwest::Client,
    url: String,
    auth: Option<(String, crate::config::Secret)>,
}

impl Dashboards {
    /// A client for `url` (from `cfg.url` or the command line) with `cfg`'s credentials; fails
    /// only when the HTTP client cannot be built (no TLS backend).
    pub fn new(cfg: &DashboardsConfig, url: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder().timeout(timeout).build()?;
        let auth = cfg.username.clone().zip(cfg.password.clone());
        Ok(Dashboards { http, url: url.to_owned(), auth })
    }

    /// `POST /api/saved_objects/_import?overwrite=true` with `ndjson` as the uploaded file.
    pub async fn import(&self, ndjson: String) -> Result<ImportOutcome, DashboardsError> {
        let endpoint = format!("{}/api/saved_objects/_import?overwrite=true", self.url);
        let part = reqwest::multipart::Part::text(ndjson)
            .file_name("trailship.ndjson")
            .mime_str("application/ndjson")
            .expect("a valid mime type");
        let mut request = self
            .http
            .post(&endpoint)
            .header("osd-xsrf", "true")
            .multipart(reqwest::multipart::Form::new().part("file", part));
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, Some(password.expose()));
        }
        let unreachable = |e: reqwest::Error| DashboardsError::Unreachable {
            url: self.url.clone(),
            cause: crate::cause::one_line(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(unreachable)?;
        read_answer(&self.url, status, &body)
    }
}

/// Interprets the import endpoint's answer.
pub fn read_answer(url: &str, status: u16, body: &[u8]) -> Result<ImportOutcome, DashboardsError> {
    let text = String::from_utf8_lossy(body);
    // Dashboards answers 404 for a path it has no route for; OpenSearch itself (a common
    // mistake: the cluster URL given as the Dashboards URL) answers 400 "no handler found".
    if status == 404 || (status == 400 && text.contains("no handler found")) {
        return Ok(ImportOutcome::NoApi { status });
    }
    if !(200..300).contains(&status) {
        let message = serde_json::from_slice::<Value>(body)
            .ok()
            .and_then(|v| v["message"].as_str().map(str::to_owned))
            .unwrap_or_else(|| text.chars().take(300).collect());
        return Err(DashboardsError::Refused { url: url.to_owned(), status, message });
    }
    let answer: ImportAnswer = serde_json::from_slice(body).map_err(|e| DashboardsError::BadAnswer {
        url: url.to_owned(),
        message: format!("not a saved-objects import response: {e}"),
    })?;
    let mut objects: Vec<ObjectResult> = answer
        .success_results
        .into_iter()
        .map(|r| {
            let status = if r.overwrite { ObjectStatus::Updated } else { ObjectStatus::Imported };
            ObjectResult { kind: r.kind, id: r.id, title: r.meta.title.unwrap_or_default(), status }
        })
        .collect();
    objects.extend(answer.errors.into_iter().map(|r| {
        let reason = r.error.as_ref().map_or_else(|| "unknown".to_owned(), failure_reason);
        ObjectResult {
            kind: r.kind,
            id: r.id,
            title: r.meta.title.unwrap_or_default(),
            status: ObjectStatus::Failed(reason),
        }
    }));
    if objects.is_empty() && answer.success_count > 0 {
        return Err(DashboardsError::BadAnswer {
            url: url.to_owned(),
            message: format!("{} objects imported but none listed", answer.success_count),
        });
    }
    Ok(ImportOutcome::Done(objects))
}

/// `missing_references (index-pattern x, …)`, `unknown: message`, or the error type.
fn failure_reason(error: &Value) -> String {
    let kind = error["type"].as_str().unwrap_or("unknown");
    if let Some(refs) = error["references"].as_array() {
        let names: Vec<String> = refs
            .iter()
            .map(|r| format!("{} {}", r["type"].as_str().unwrap_or("?"), r["id"].as_str().unwrap_or("?")))
            .collect();
        return format!("{kind}: {}", names.join(", "));
    }
    match error["message"].as_str() {
        Some(message) => format!("{kind}: {message}"),
        None => kind.to_owned(),
    }
}

#[derive(Deserialize)]
struct ImportAnswer {
    #[serde(rename = "successCount", default)]
    success_count: usize,
    #[serde(rename = "successResults", default)]
    success_results: Vec<AnswerObject>,
    #[serde(default)]
    errors: Vec<AnswerObject>,
}

#[derive(Deserialize)]
struct AnswerObject {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    meta: AnswerMeta,
    #[serde(default)]
    overwrite: bool,
    error: Option<Value>,
}

#[derive(Deserialize, Default)]
struct AnswerMeta {
    title: Option<String>,
}

#[cfg(test)]
#[path = "dashboards_tests.rs"]
mod tests;
