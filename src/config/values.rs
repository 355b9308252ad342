//! The value types and checks the configuration is built from: the error naming one key,
//! secrets that never print, string lists, integers in range, URLs without credentials,
//! basic-auth pairs, index names.

use serde::Deserialize;
use std::time::Duration;

/// A configuration problem, always about one key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct ConfigError {
    /// The dotted key, e.g. `sqs.max_messages_in_flight`.
    pub key: String,
    /// What is wrong with it.
    pub message: String,
}

impl ConfigError {
    pub(super) fn new(key: &str, message: impl Into<String>) -> Self {
        ConfigError { key: key.to_owned(), message: message.into() }
    }
}

/// Index names: lowercase, no spaces or `\/*?"<>|,#:`, not starting with `_-+`.
pub fn validate_index_name(key: &str, name: &str) -> Result<(), ConfigError> {
    let bad_char = name.chars().find(|c| c.is_uppercase() || c.is_whitespace() || "\\/*?\"<>|,#:".contains(*c));
    if name.is_empty() || name.len() > 200 {
        return Err(ConfigError::new(key, "must be 1 to 200 characters"));
    }
    if let Some(c) = bad_char {
        return Err(ConfigError::new(key, format!("{name:?} is not a valid index name (character {c:?})")));
    }
    if name.starts_with(['_', '-', '+']) || name == "." || name == ".." {
        return Err(ConfigError::new(key, format!("{name:?} is not a valid index name")));
    }
    Ok(())
}

/// A list of strings: a TOML array, or (from the environment) comma-separated text.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum StringList {
    List(Vec<String>),
    Text(String),
}

impl StringList {
    pub(super) fn into_vec(self) -> Vec<String> {
        let items = match self {
            StringList::List(v) => v,
            StringList::Text(t) => t.split(',').map(str::to_owned).collect(),
        };
        items.into_iter().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()
    }
}

pub(super) fn int_in(key: &str, v: Option<i64>, default: i64, min: i64, max: i64) -> Result<i64, ConfigError> {
    let v = v.unwrap_or(default);
    if v < min || v > max {
        return Err(ConfigError::new(key, format!("must be between {min} and {max}, got {v}")));
    }
    Ok(v)
}

pub(super) fn non_empty(v: Option<String>) -> Option<String> {
    v.filter(|s| !s.trim().is_empty())
}

/// A day written `YYYY-MM-DD`, as the daily index suffix `YYYY.MM.DD`; `default` when unset.
pub(super) fn day(key: &str, text: Option<String>, default: [u8; 10]) -> Result<[u8; 10], ConfigError> {
    let Some(text) = non_empty(text) else { return Ok(default) };
    chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .ok()
        .and_then(|d| d.format("%Y.%m.%d").to_string().into_bytes().try_into().ok())
        .ok_or_else(|| ConfigError::new(key, format!("{text:?} is not a date like 2013-01-01")))
}

/// An age or a length of time written as a number and a unit: `30s`, `90m`, `36h`, `7d`.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (n, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = n.parse().map_err(|_| format!("{text:?} is not a duration like 90m, 36h or 7d"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => return Err(format!("{text:?}: a duration ends in s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

/// A duration setting ([`parse_age`]) between `min` and `max`; `default` when unset.
pub(super) fn duration_in(
    key: &str,
    text: Option<String>,
    default: Duration,
    min: Duration,
    max: Duration,
) -> Result<Duration, ConfigError> {
    let Some(text) = non_empty(text) else { return Ok(default) };
    let d = parse_age(&text).map_err(|e| ConfigError::new(key, e))?;
    if d < min || d > max {
        return Err(ConfigError::new(
            key,
            format!("must be between {}s and {}s, got {text:?}", min.as_secs(), max.as_secs()),
        ));
    }
    Ok(d)
}

pub(super) fn secs(v: i64) -> Duration {
    Duration::from_secs(v as u64)
}

/// An optional http(s) base URL, without a trailing `/`.
pub(super) fn base_url(key: &str, url: Option<String>) -> Result<Option<String>, ConfigError> {
    let Some(url) = non_empty(url) else { return Ok(None) };
    check_url(key, &url)?;
    Ok(Some(url.trim_end_matches('/').to_owned()))
}

/// Basic-auth credentials of `section`: both or neither.
pub(super) fn basic_auth(
    section: &str,
    username: Option<String>,
    password: Option<String>,
) -> Result<(Option<String>, Option<Secret>), ConfigError> {
    let username = non_empty(username);
    if username.is_some() != password.is_some() {
        return Err(ConfigError::new(&format!("{section}.password"), "username and password must be set together"));
    }
    Ok((username, password.map(Secret::new)))
}

/// A secret (password): never shown by `Debug` or in any message; [`Secret::expose`] is the
/// one way to read it, where a request needs it.
#[derive(Clone)]
pub struct Secret(secrecy::SecretString);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: String) -> Self {
        Secret(secrecy::SecretString::from(value))
    }

    /// The secret itself.
    pub fn expose(&self) -> &str {
        secrecy::ExposeSecret::expose_secret(&self.0)
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        self.expose() == other.expose()
    }
}

impl Eq for Secret {}

/// An http(s) URL without credentials in it (they would end up in logs and errors; the message
/// does not repeat the URL for the same reason).
pub(super) fn check_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let authority = url.split_once("://").map_or(url, |(_, rest)| rest).split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        let section = key.split('.').next().unwrap_or(key);
        let hint = match section {
            "opensearch" | "dashboards" => format!("set {section}.username and {section}.password instead"),
            _ => "credentials come from the AWS chain".to_owned(),
        };
        return Err(ConfigError::new(key, format!("credentials in the url are not accepted: {hint}")));
    }
    match url.split_once("://") {
        Some(("http" | "https", rest)) if !rest.is_empty() => Ok(()),
        _ => Err(ConfigError::new(key, format!("{url:?} is not an http(s) url"))),
    }
}
