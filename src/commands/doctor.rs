//! `trailship doctor`: checks every dependency of the configuration it is given, as a new user
//! (or an SRE after a change) would want it checked before starting the worker, and prints a
//! checklist — ✓ fine, ! worth a look, ✗ wrong, each with the reason and the fix.

use super::common::CommandError;
use crate::config::{Config, OpenSearchAuth};
use crate::geo::{Database, GeoIp, Setting};
use crate::index::client::{Client, ClientError, Installed};
use crate::index::template;
use aws_sdk_sqs::types::QueueAttributeName;
use std::collections::HashMap;

/// `trailship doctor`: the checklist on stdout; an error when something is wrong.
pub async fn doctor(cfg: &Config, source: &str) -> Result<(), CommandError> {
    let checks = checks(cfg, source).await;
    for c in &checks {
        println!("{}", c.render());
    }
    let count = |s: Status| checks.iter().filter(|c| c.status == s).count();
    let (failed, warned) = (count(Status::Fail), count(Status::Warn));
    println!("{} checks: {failed} wrong, {warned} to look at", checks.len());
    if failed > 0 {
        return Err(anyhow::anyhow!("doctor: {failed} of {} checks failed", checks.len()).into());
    }
    Ok(())
}

/// How one check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but an operator should know.
    Warn,
    /// Wrong: the worker would fail or lose work.
    Fail,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Outcome.
    pub status: Status,
    /// What was checked.
    pub name: String,
    /// What was found.
    pub detail: String,
    /// What to do about it (for warnings and failures).
    pub fix: Option<String>,
}

impl Check {
    fn ok(name: impl Into<String>, detail: impl Into<String>) -> Check {
        Check { status: Status::Ok, name: name.into(), detail: detail.into(), fix: None }
    }
    fn warn(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { status: Status::Warn, name: name.into(), detail: detail.into(), fix: Some(fix.into()) }
    }
    fn fail(name: impl Into<String>, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { status: Status::Fail, name: name.into(), detail: detail.into(), fix: Some(fix.into()) }
    }

    /// The checklist line (and its fix on the next line).
    pub fn render(&self) -> String {
        let mark = match self.status {
            Status::Ok => "✓",
            Status::Warn => "!",
            Status::Fail => "✗",
        };
        match &self.fix {
            Some(fix) => format!("{mark} {}: {}\n    fix: {fix}", self.name, self.detail),
            None => format!("{mark} {}: {}", self.name, self.detail),
        }
    }
}

/// Runs every check; the caller prints them.
pub async fn checks(cfg: &Config, source: &str) -> Vec<Check> {
    let mut out = vec![Check::ok("configuration", format!("valid ({source})"))];
    out.extend(opensearch(cfg).await);
    let queue_url = cfg.sqs.queue_url.as_deref();
    let allowed = !cfg.sqs.allowlist.buckets.is_empty();
    if queue_url.is_none() {
        out.push(Check::warn("sqs queue", "sqs.queue_url is not set", "set it for `trailship run`"));
    }
    if !allowed {
        out.push(Check::warn(
            "allowed buckets",
            "any bucket a notification names is read",
            "set sqs.allowed_buckets (and sqs.allowed_prefixes) to the trail's bucket",
        ));
    }
    if queue_url.is_some() || allowed {
        match super::aws::aws_clients(&cfg.aws, cfg.sqs.wait_time).await {
            Ok((s3, sqs)) => {
                if let Some(url) = queue_url {
                    out.extend(queue(cfg, url, &sqs).await);
                }
                if allowed {
                    out.extend(buckets(cfg, &s3).await);
                }
            }
            Err(CommandError::Config(e)) => out.push(Check::fail("aws", e.to_string(), "set aws.region or AWS_REGION")),
            Err(e) => out.push(Check::fail(
                "aws credentials",
                e.to_string(),
                "give trailship's process credentials as the line says, then run doctor again",
            )),
        }
    }
    out.extend(geoip(cfg));
    out.push(accounts(cfg).await);
    out
}

/// The account names: how many are configured and, with `accounts.organizations`, whether
/// Organizations lists the accounts.
async fn accounts(cfg: &Config) -> Check {
    let configured = cfg.accounts.names.len();
    if !cfg.accounts.organizations {
        return Check::ok(
            "account names",
            format!("{configured} configured (accounts.names), AWS Organizations not read"),
        );
    }
    let names = crate::accounts::Accounts::new(cfg.accounts.names.clone());
    let listed = match super::aws::organizations_client(&cfg.aws).await {
        Ok(client) => {
            crate::accounts::organizations::refresh(&crate::accounts::organizations::Organizations(client), &names)
                .await
                .map_err(|e| e.to_string())
        }
        Err(e) => Err(e.to_string()),
    };
    match listed {
        Ok(n) => {
            Check::ok("account names", format!("{n} in use ({configured} configured, the rest from AWS Organizations)"))
        }
        Err(e) => Check::warn(
            "account names",
            format!("AWS Organizations cannot be read, only the {configured} configured names are used: {e}"),
            "allow organizations:ListAccounts (deploy/iam/organizations-policy.json) from the management or a delegated \
             administrator account, or set accounts.organizations = false",
        ),
    }
}

fn auth_text(cfg: &Config) -> String {
    match &cfg.opensearch.auth {
        OpenSearchAuth::None => "no authentication".into(),
        OpenSearchAuth::Basic { username, .. } => format!("basic auth as {username}"),
        OpenSearchAuth::SigV4 { service, region } => {
            format!("sigv4 for {} in {}", service.signing_name(), region.as_deref().unwrap_or("the AWS chain's region"))
        }
    }
}

fn refused_fix(cfg: &Config, e: &ClientError) -> String {
    match (e, &cfg.opensearch.auth) {
        (ClientError::Status { status: 401 | 403, .. }, OpenSearchAuth::SigV4 { .. }) => {
            "check the AWS credentials trailship gets, opensearch.aws_service/aws_region, and that the role is \
             mapped in the domain (fine-grained access) or the collection's data access policy"
                .into()
        }
        (ClientError::Status { status: 401 | 403, .. }, _) => {
            "check opensearch.username/password (or opensearch.auth) and the user's permissions".into()
        }
        (ClientError::Transport { .. }, _) => {
            "check opensearch.url, that the cluster is up and reachable from here, and TLS (opensearch.ca_file)".into()
        }
        _ => "see the answer above".into(),
    }
}

async fn opensearch(cfg: &Config) -> Vec<Check> {
    let name = format!("opensearch {}", cfg.opensearch.url);
    let client = match Client::connect(&cfg.opensearch).await {
        Ok(c) => c,
        Err(e) => return vec![Check::fail(name, format!("{e:#}"), "fix the [opensearch] settings")],
    };
    let mut out = Vec::new();
    match client.version().await {
        Ok(Some(Ok(version))) => {
            out.push(Check::ok(&name, format!("reachable, {version}, {} accepted", auth_text(cfg))));
        }
        Ok(Some(Err(reason))) => out.push(Check::fail(&name, reason, "use OpenSearch 2.7 or later")),
        Ok(None) => {}
        Err(e) => {
            let fix = refused_fix(cfg, &e);
            return vec![Check::fail(name, e.to_string(), fix)];
        }
    }
    for t in super::common::sources(cfg)
        .templates(cfg.opensearch.number_of_replicas)
        .into_iter()
        .chain(template::shared(cfg))
    {
        let what = format!("index template {}", t.name);
        match client.template_state(&t).await {
            Ok(Installed::Current) => out.push(Check::ok(what, "installed, current")),
            Ok(Installed::Missing) => out.push(Check::fail(what, "missing", "run `trailship setup`")),
            Ok(Installed::Outdated) => out.push(Check::fail(
                what,
                "differs from this version of trailship",
                "run `trailship setup` to update it (new daily indices take it)",
            )),
            Err(e) => {
                let fix = refused_fix(cfg, &e);
                out.push(Check::fail(what, e.to_string(), fix));
            }
        }
    }
    if client.is_serverless() && out.iter().all(|c| c.status == Status::Ok) {
        out.insert(0, Check::ok(name, format!("reachable (OpenSearch Serverless), {} accepted", auth_text(cfg))));
    }
    out
}

async fn queue(cfg: &Config, url: &str, sqs: &aws_sdk_sqs::Client) -> Vec<Check> {
    let name = format!("sqs queue {url}");
    let answer = sqs.get_queue_attributes().queue_url(url).attribute_names(QueueAttributeName::All).send().await;
    let attributes: HashMap<QueueAttributeName, String> = match answer {
        Ok(a) => a.attributes.unwrap_or_default(),
        Err(e) => {
            let fix = "check sqs.queue_url, the region, and sqs:GetQueueAttributes for trailship's identity";
            return vec![Check::fail(name, crate::cause::one_line(&e), fix)];
        }
    };
    let get = |k: QueueAttributeName| attributes.get(&k).cloned().unwrap_or_default();
    let mut out = vec![Check::ok(
        &name,
        format!(
            "reachable, {} messages waiting, {} in flight",
            get(QueueAttributeName::ApproximateNumberOfMessages),
            get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        ),
    )];
    let redrive = get(QueueAttributeName::RedrivePolicy);
    match serde_json::from_str::<serde_json::Value>(&redrive).ok() {
        Some(policy) => out.push(Check::ok(
            "sqs redrive policy",
            format!(
                "to {} after {} receives",
                policy["deadLetterTargetArn"].as_str().unwrap_or("?"),
                policy["maxReceiveCount"]
                    .as_u64()
                    .map_or_else(|| policy["maxReceiveCount"].to_string(), |n| n.to_string())
            ),
        )),
        None => out.push(Check::warn(
            "sqs redrive policy",
            "none: a message that keeps failing is received again and again, and refused notifications stay forever",
            "give the queue a redrive policy to a dead-letter queue (maxReceiveCount 5 or so)",
        )),
    }
    let key = get(QueueAttributeName::KmsMasterKeyId);
    if !key.is_empty() {
        // Whether the worker may use the key shows only on a receive, which doctor does not
        // make (it would count against the messages' receives).
        out.push(Check::warn(
            "sqs encryption",
            format!("the queue is encrypted with KMS key {key}: receiving needs kms:Decrypt on it (not checked here)"),
            "allow kms:Decrypt on that key to trailship's role and in the key policy (deploy/iam/worker-policy.json, \
             DecryptTheQueueMessages); a denied receive says kms:Decrypt in `run`'s log",
        ));
    }
    let queue_secs: u64 = get(QueueAttributeName::VisibilityTimeout).parse().unwrap_or(0);
    let ours = cfg.sqs.visibility_timeout.as_secs();
    out.push(Check::ok(
        "sqs visibility timeout",
        format!("trailship sets {ours} s on every receive and renews it while it works (the queue's default: {queue_secs} s)"),
    ));
    out
}

async fn buckets(cfg: &Config, s3: &aws_sdk_s3::Client) -> Vec<Check> {
    let allow = &cfg.sqs.allowlist;
    let prefixes: Vec<Option<&str>> =
        if allow.prefixes.is_empty() { vec![None] } else { allow.prefixes.iter().map(|p| Some(p.as_str())).collect() };
    let mut out = Vec::new();
    for bucket in &allow.buckets {
        for prefix in &prefixes {
            let name = format!("s3://{bucket}/{}", prefix.unwrap_or(""));
            let listing = s3
                .list_objects_v2()
                .bucket(bucket)
                .set_prefix(prefix.map(str::to_owned))
                .max_keys(50)
                .set_expected_bucket_owner(cfg.sqs.expected_bucket_owner.clone())
                .send()
                .await;
            let key = match listing {
                Ok(l) => {
                    l.contents().iter().filter_map(|o| o.key()).find(|k| !k.contains("-Digest/")).map(str::to_owned)
                }
                Err(e) => {
                    out.push(Check::warn(
                        &name,
                        format!("cannot list it: {}", crate::cause::one_line(&e)),
                        "the worker only needs s3:GetObject; give doctor's identity s3:ListBucket to try a read",
                    ));
                    continue;
                }
            };
            let Some(key) = key else {
                out.push(Check::warn(&name, "no object under it to try a read on", "check the prefix"));
                continue;
            };
            let read = s3
                .get_object()
                .bucket(bucket)
                .key(&key)
                .range("bytes=0-0")
                .set_expected_bucket_owner(cfg.sqs.expected_bucket_owner.clone())
                .send()
                .await;
            match read.map_err(|e| crate::cause::one_line(&e)) {
                Ok(_) => out.push(Check::ok(&name, format!("readable (read {key})"))),
                Err(text) => match crate::kms::denial(&text) {
                    Some(denial) => out.push(Check::fail(
                        &name,
                        format!("cannot read {key}: {}", denial.for_object()),
                        "allow kms:Decrypt on the trail's KMS key to trailship's role and in the key policy",
                    )),
                    None => out.push(Check::fail(
                        &name,
                        format!("cannot read {key}: {text}"),
                        "give trailship's identity s3:GetObject on the prefix (and kms:Decrypt for SSE-KMS trails)",
                    )),
                },
            }
        }
    }
    out
}

/// Databases older than this many days are out of date: addresses move between networks and
/// countries every week, and the free and commercial ones are rebuilt at least monthly.
const GEOIP_STALE_DAYS: i64 = 45;

/// Which database a GeoIP file holds and how old it is; a warning past [`GEOIP_STALE_DAYS`].
fn geoip_age(db: &Database, now: i64) -> Check {
    let key = db.setting.key();
    let days = (now - db.built).div_euclid(86_400);
    let day = chrono::DateTime::from_timestamp(db.built, 0).map(|t| t.format("%Y-%m-%d").to_string());
    let detail = format!("{} ({}, built {}, {days} days old)", db.path.display(), db.kind, day.unwrap_or_default());
    if days > GEOIP_STALE_DAYS {
        return Check::warn(
            key,
            detail,
            "replace it with a current one (scripts/geoip-install.sh for the free ones, geoipupdate for MaxMind's); the worker reads a replaced file within geoip.reload",
        );
    }
    Check::ok(key, detail)
}

fn geoip(cfg: &Config) -> Vec<Check> {
    let mut out = Vec::new();
    let settings =
        [(Setting::City, &cfg.geoip.city_db, "source.geo.*"), (Setting::Asn, &cfg.geoip.asn_db, "source.as.*")];
    for (setting, paths, fields) in settings {
        if paths.is_empty() {
            out.push(Check::ok(setting.key(), format!("not configured ({fields} stays empty)")));
        }
        for path in paths {
            let one = std::slice::from_ref(path);
            let opened = if setting == Setting::City { GeoIp::open(one, &[]) } else { GeoIp::open(&[], one) };
            match opened {
                Ok(Some(db)) => out.extend(db.databases().iter().map(|d| geoip_age(d, chrono::Utc::now().timestamp()))),
                Ok(None) => {}
                Err(e) => out.push(Check::fail(
                    setting.key(),
                    e.to_string(),
                    "point it at a readable .mmdb file (or, for geoip.asn_db, a .csv of address ranges)",
                )),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_carry_their_mark_and_fix() {
        assert_eq!(Check::ok("a", "fine").render(), "✓ a: fine");
        assert_eq!(Check::warn("b", "hm", "do x").render(), "! b: hm\n    fix: do x");
        assert_eq!(Check::fail("c", "broken", "do y").render(), "✗ c: broken\n    fix: do y");
    }
}
