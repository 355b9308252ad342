//! Index templates, embedded in the binary and rendered for the configured index names: each
//! log source's event and trend templates (shipped in its folder), and the dead-letter and alert
//! templates and ISM policy shipped in `mappings/`. Pure; installing them is
//! [`super::client`]'s job.
//!
//! Loading is generic: a template file is any OpenSearch composable index template; trailship
//! only replaces its `index_patterns` with the configured names. Every rendered object carries
//! a digest of its content (`_meta.trailship_digest` for templates, the end of the description
//! for the ISM policy), so `trailship setup` can tell "unchanged" from "differs".

use super::deadletter::fnv1a;
use serde_json::Value;

/// The dead-letter template (`mappings/deadletter-template.json`).
pub const DEADLETTER_TEMPLATE: &str = include_str!("../../mappings/deadletter-template.json");
/// The alert document template (`mappings/alerts-template.json`).
pub const ALERTS_TEMPLATE: &str = include_str!("../../mappings/alerts-template.json");
/// The ISM retention policy (`mappings/ism-policy.json`).
pub const ISM_POLICY: &str = include_str!("../../mappings/ism-policy.json");

/// A template ready to install.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Name under `_index_template/`.
    pub name: String,
    /// The template body.
    pub body: Value,
}

/// Renders `source` under `name` for `patterns`, with `replicas` replicas of each shard.
pub fn render(source: &str, name: String, patterns: &[String], replicas: u32) -> Result<Template, serde_json::Error> {
    let mut body: Value = serde_json::from_str(source)?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("index_patterns".into(), Value::from(patterns.to_vec()));
    }
    if let Some(index) = body.pointer_mut("/template/settings/index").and_then(Value::as_object_mut) {
        index.insert("number_of_replicas".into(), Value::from(replicas));
    }
    let digest = digest(&body);
    if let Some(meta) = body.as_object_mut().map(|o| o.entry("_meta").or_insert_with(|| serde_json::json!({}))) {
        meta["trailship_digest"] = Value::from(digest);
    }
    Ok(Template { name, body })
}

/// A short stable hash of a JSON value (serde_json's map keeps keys sorted).
pub fn digest(v: &Value) -> String {
    format!("{:016x}", fnv1a(&[v.to_string().as_bytes()]))
}

/// The digest a template installed by trailship carries, if any.
pub fn installed_digest(body: &Value) -> Option<&str> {
    body["_meta"]["trailship_digest"].as_str()
}

/// An ISM policy ready to install.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Name under `_plugins/_ism/policies/`.
    pub id: String,
    /// The body (`{"policy": …}`).
    pub body: Value,
    /// Its digest, also written at the end of the description.
    pub digest: String,
}

/// The retention policy for `{index_prefix}-*`: delete after `retention_days`.
pub fn ism_policy(index_prefix: &str, retention_days: u32) -> Policy {
    let body: Value = serde_json::from_str(ISM_POLICY).expect("embedded ism policy is valid json");
    finish_policy(index_prefix, retention_days, body)
}

/// The retention policy for the yearly trend indices `{trend_prefix}-*`: each is deleted
/// (`retention_years` + 1) × 366 days after its creation, so that every day it holds is kept
/// at least `retention_years`. Its priority is above the event indices' policy, so that an
/// event prefix set to reach into `trailship-trends-*` by hand still leaves trend indices to it.
pub fn trends_policy(trend_prefix: &str, retention_years: u32) -> Policy {
    let mut body: Value = serde_json::from_str(ISM_POLICY).expect("embedded ism policy is valid json");
    body["policy"]["description"] = Value::from(format!(
        "trailship: yearly trend indices are deleted once every day in them is older than the retention \
         (set from trends.retention_years = {retention_years})"
    ));
    for t in body["policy"]["ism_template"].as_array_mut().into_iter().flatten() {
        t["priority"] = Value::from(200);
    }
    finish_policy(trend_prefix, (retention_years + 1) * 366, body)
}

fn finish_policy(index_prefix: &str, retention_days: u32, mut body: Value) -> Policy {
    let policy = &mut body["policy"];
    for state in policy["states"].as_array_mut().into_iter().flatten() {
        for t in state["transitions"].as_array_mut().into_iter().flatten() {
            if t["conditions"].get("min_index_age").is_some() {
                t["conditions"]["min_index_age"] = Value::from(format!("{retention_days}d"));
            }
        }
    }
    for t in policy["ism_template"].as_array_mut().into_iter().flatten() {
        t["index_patterns"] = serde_json::json!([format!("{index_prefix}-*")]);
    }
    let digest = digest(&body);
    let policy = &mut body["policy"];
    let description = policy["description"].as_str().unwrap_or("trailship").to_owned();
    policy["description"] = Value::from(format!("{description} [trailship {digest}]"));
    Policy { id: object_name(index_prefix), body, digest }
}

/// Whether an installed policy (the `policy` object a GET returns) is this one.
pub fn policy_matches(installed: &Value, wanted: &Policy) -> bool {
    installed["description"].as_str().is_some_and(|d| d.ends_with(&format!("[trailship {}]", wanted.digest)))
}

/// The oldest OpenSearch the shipped templates work on: `flat_object` came in 2.7.
pub const MIN_VERSION: (u64, u64) = (2, 7);

/// Checks the cluster's `GET /` answer: OpenSearch, [`MIN_VERSION`] or later. `Ok` is the
/// version for messages; `Err` says what is wrong, in one line.
pub fn check_version(root: &Value) -> Result<String, String> {
    let number = root["version"]["number"].as_str().unwrap_or_default();
    let distribution = root["version"]["distribution"].as_str().unwrap_or("elasticsearch");
    if distribution != "opensearch" {
        return Err(format!("the cluster is {distribution} {number}, not OpenSearch (flat_object needs OpenSearch)"));
    }
    let mut parts = number.split(['.', '-']).map(|p| p.parse::<u64>().ok());
    let (major, minor) = match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor),
        _ => return Err(format!("the cluster reports an unreadable version {number:?}")),
    };
    if (major, minor) < MIN_VERSION {
        let (want_major, want_minor) = MIN_VERSION;
        return Err(format!(
            "OpenSearch {number} is too old: the templates' flat_object fields need {want_major}.{want_minor} or later"
        ));
    }
    Ok(format!("OpenSearch {number}"))
}

/// The dead-letter and alert templates of the configured indices (each log source brings its
/// own, [`source_templates`]).
pub fn shared(cfg: &crate::config::Config) -> Vec<Template> {
    let replicas = cfg.opensearch.number_of_replicas;
    vec![
        deadletter_template(&cfg.opensearch.deadletter_index, replicas),
        alerts_template(&cfg.alerts.index_prefix, replicas),
    ]
}

/// A log source's templates: `events` as `trailship-{prefix}` for `{prefix}-*`, and `trends` for
/// its yearly trend indices `trailship-trends-{prefix}-*`, outside the event pattern (and above
/// the event template in priority all the same).
pub fn source_templates(events: &str, trends: &str, prefix: &str, replicas: u32) -> Vec<Template> {
    let trend_prefix = crate::config::trends::trend_prefix(prefix);
    vec![
        render(events, format!("trailship-{prefix}"), &[format!("{prefix}-*")], replicas)
            .expect("embedded template is valid json"),
        render(trends, object_name(&trend_prefix), &[format!("{trend_prefix}-*")], replicas)
            .expect("embedded template is valid json"),
    ]
}

/// The template of the dead-letter index.
pub fn deadletter_template(index: &str, replicas: u32) -> Template {
    render(DEADLETTER_TEMPLATE, format!("trailship-{index}"), &[index.to_owned()], replicas)
        .expect("embedded template is valid json")
}

/// The template of the alert indices `{prefix}-*`.
pub fn alerts_template(prefix: &str, replicas: u32) -> Template {
    render(ALERTS_TEMPLATE, object_name(prefix), &[format!("{prefix}-*")], replicas)
        .expect("embedded template is valid json")
}

/// The name of the template and ISM policy for `{prefix}-*`: `trailship-{prefix}`, or the
/// prefix itself when it already says trailship (`trailship-alerts`).
fn object_name(prefix: &str) -> String {
    if prefix.starts_with("trailship") { prefix.to_owned() } else { format!("trailship-{prefix}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_2_7_are_accepted() {
        let root = |distribution: Option<&str>, number: &str| {
            let mut v = serde_json::json!({"version": {"number": number}});
            if let Some(d) = distribution {
                v["version"]["distribution"] = d.into();
            }
            v
        };
        assert_eq!(check_version(&root(Some("opensearch"), "2.7.0")), Ok("OpenSearch 2.7.0".into()));
        assert!(check_version(&root(Some("opensearch"), "2.19.1")).is_ok());
        assert!(check_version(&root(Some("opensearch"), "3.0.0-beta1")).is_ok());
        assert!(check_version(&root(Some("opensearch"), "2.6.0")).unwrap_err().contains("too old"));
        assert!(check_version(&root(Some("opensearch"), "1.3.20")).unwrap_err().contains("2.7 or later"));
        assert!(check_version(&root(None, "7.10.2")).unwrap_err().contains("not OpenSearch"));
        assert!(check_version(&root(Some("opensearch"), "")).unwrap_err().contains("unreadable"));
    }

    /// A source's templates as small as the renderer needs.
    const EVENTS: &str = r#"{"priority": 100, "template": {"settings": {"index": {"number_of_shards": 1}}}}"#;
    const TRENDS: &str = r#"{"priority": 110, "template": {"settings": {"index": {"number_of_shards": 1}}}}"#;

    #[test]
    fn trend_templates_and_policies_live_outside_the_event_namespace() {
        let t = source_templates(EVENTS, TRENDS, "ct", 0);
        assert_eq!((t[0].name.as_str(), &t[0].body["index_patterns"]), ("trailship-ct", &serde_json::json!(["ct-*"])));
        assert_eq!(
            (t[1].name.as_str(), &t[1].body["index_patterns"]),
            ("trailship-trends-ct", &serde_json::json!(["trailship-trends-ct-*"]))
        );
        assert_eq!(t[1].body["template"]["settings"]["index"]["number_of_replicas"], 0);
        let p = trends_policy("trailship-trends-ct", 7);
        let e = ism_policy("ct", 400);
        assert_eq!(p.id, "trailship-trends-ct");
        let t = &p.body["policy"]["ism_template"][0];
        assert_eq!(t["index_patterns"], serde_json::json!(["trailship-trends-ct-*"]));
        assert!(t["priority"].as_u64() > e.body["policy"]["ism_template"][0]["priority"].as_u64());
        assert_eq!(p.body["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"], "2928d");
        assert_ne!(p.digest, trends_policy("trailship-trends-ct", 8).digest);
    }

    #[test]
    fn shared_templates_follow_the_configured_names() {
        let d = deadletter_template("dead", 1);
        assert_eq!((d.name.as_str(), &d.body["index_patterns"]), ("trailship-dead", &serde_json::json!(["dead"])));
        let a = alerts_template("trailship-alerts", 1);
        assert_eq!(
            (a.name.as_str(), &a.body["index_patterns"]),
            ("trailship-alerts", &serde_json::json!(["trailship-alerts-*"]))
        );
        let m = &a.body["template"]["mappings"];
        assert_eq!(
            (&m["dynamic"], &m["properties"]["source"]["properties"]["ip"]["type"]),
            (&serde_json::json!(false), &serde_json::json!("ip"))
        );
    }

    #[test]
    fn digests_follow_the_content() {
        let d = |t: &Template| installed_digest(&t.body).unwrap().to_owned();
        let a = &source_templates(EVENTS, TRENDS, "ct", 1)[0];
        assert_eq!(d(a), d(&source_templates(EVENTS, TRENDS, "ct", 1)[0]), "stable");
        assert_ne!(d(a), d(&source_templates(EVENTS, TRENDS, "other", 1)[0]), "the pattern is part of the content");
        assert_eq!(d(a).len(), 16);
        assert_ne!(d(a), d(&source_templates(EVENTS, TRENDS, "ct", 0)[0]), "the replicas are part of the content");
    }

    #[test]
    fn every_template_carries_the_configured_replicas() {
        for replicas in [0, 2] {
            let all = source_templates(EVENTS, TRENDS, "ct", replicas)
                .into_iter()
                .chain([deadletter_template("dead", replicas), alerts_template("al", replicas)]);
            for t in all {
                let index = &t.body["template"]["settings"]["index"];
                assert_eq!(index["number_of_replicas"], replicas, "{}", t.name);
                assert_eq!(index["number_of_shards"], 1, "{}", t.name);
            }
        }
    }

    #[test]
    fn the_ism_policy_follows_the_retention_and_prefix() {
        let p = ism_policy("ct", 30);
        assert_eq!(p.id, "trailship-ct");
        let policy = &p.body["policy"];
        assert_eq!(policy["default_state"], "hot");
        assert_eq!(policy["states"][0]["transitions"][0]["conditions"]["min_index_age"], "30d");
        assert_eq!(policy["states"][1]["actions"][0], serde_json::json!({"delete": {}}));
        assert_eq!(policy["ism_template"][0]["index_patterns"], serde_json::json!(["ct-*"]));
        assert!(policy_matches(policy, &p));
        assert!(!policy_matches(policy, &ism_policy("ct", 400)));
        let default = ism_policy("cloudtrail", 400);
        assert_eq!(default.body["policy"]["states"][0]["transitions"][0]["conditions"]["min_index_age"], "400d");
    }
}
