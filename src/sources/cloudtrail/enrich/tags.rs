//! `tags`: the security categories an analyst filters by, from the rule table in
//! `data/tags.toml` (embedded at build time). Pure.

use super::facts::Facts;
use rustc_hash::FxHashMap;
use serde::Deserialize;

/// The rule table shipped with trailship.
pub const RULES: &str = include_str!("data/tags.toml");

/// A value pattern: exact, or with a `*` wildcard at the start and/or the end.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pattern {
    Exact(String),
    Prefix(String),
    Suffix(String),
    Contains(String),
}

impl Pattern {
    fn new(p: &str) -> Pattern {
        match (p.strip_prefix('*'), p.strip_suffix('*')) {
            (Some(rest), Some(_)) if rest.len() > 1 => Pattern::Contains(rest[..rest.len() - 1].to_owned()),
            (Some(rest), _) => Pattern::Suffix(rest.to_owned()),
            (None, Some(rest)) => Pattern::Prefix(rest.to_owned()),
            (None, None) => Pattern::Exact(p.to_owned()),
        }
    }

    fn matches(&self, s: &str) -> bool {
        match self {
            Pattern::Exact(p) => s == p,
            Pattern::Prefix(p) => s.starts_with(p.as_str()),
            Pattern::Suffix(p) => s.ends_with(p.as_str()),
            Pattern::Contains(p) => s.contains(p.as_str()),
        }
    }
}

/// One row of the table as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    tag: String,
    /// The CIS control a rule follows: documentation in the table, not used when matching.
    #[serde(default)]
    #[allow(dead_code)]
    cis: Option<String>,
    #[serde(default)]
    event_source: Vec<String>,
    #[serde(default)]
    event_name: Vec<String>,
    #[serde(default)]
    user_type: Vec<String>,
    #[serde(default)]
    error_code: Vec<String>,
    #[serde(default)]
    event_type_not: Vec<String>,
    #[serde(default)]
    outcome: Option<Outcome>,
    #[serde(default)]
    invoked_by: Option<bool>,
    #[serde(default)]
    mfa_used: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Success,
    Failure,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    rule: Vec<RawRule>,
}

/// A compiled rule.
#[derive(Debug, Clone)]
struct Rule {
    tag: String,
    event_source: Vec<Pattern>,
    event_name: Vec<Pattern>,
    user_type: Vec<Pattern>,
    error_code: Vec<Pattern>,
    event_type_not: Vec<Pattern>,
    outcome: Option<Outcome>,
    invoked_by: Option<bool>,
    mfa_used: Option<bool>,
}

/// What the rules ask about one event, computed once for all of them.
#[derive(Debug)]
pub struct Subject<'f, 'a> {
    /// The record's facts.
    pub facts: &'f Facts<'a>,
    /// `userIdentity.type`.
    pub user_type: Option<&'f str>,
    /// Whether `userIdentity.invokedBy` is set.
    pub invoked_by: bool,
    /// `event.outcome == failure`.
    pub failed: bool,
}

/// Any pattern matches `value` (an empty list allows anything; a missing value matches none).
fn any(patterns: &[Pattern], value: Option<&str>) -> bool {
    patterns.is_empty() || value.is_some_and(|v| patterns.iter().any(|p| p.matches(v)))
}

impl Rule {
    fn applies(&self, s: &Subject<'_, '_>) -> bool {
        let f = s.facts;
        any(&self.event_source, f.event_source.as_deref())
            && any(&self.event_name, f.event_name.as_deref())
            && any(&self.user_type, s.user_type)
            && any(&self.error_code, f.error_code.as_deref())
            && !(f.event_type.as_deref()).is_some_and(|t| self.event_type_not.iter().any(|p| p.matches(t)))
            && self.outcome.is_none_or(|o| (o == Outcome::Failure) == s.failed)
            && self.invoked_by.is_none_or(|want| want == s.invoked_by)
            && self.mfa_used.is_none_or(|want| want == f.mfa_used())
    }
}

/// The compiled rule table.
#[derive(Debug, Clone)]
pub struct Tagger {
    rules: Vec<Rule>,
    /// The rules whose event names are all exact, by name: indices into `rules`, ascending.
    by_name: FxHashMap<String, Vec<usize>>,
    /// The other rules (any name, or a name pattern): indices into `rules`, ascending.
    any_name: Vec<usize>,
}

impl Tagger {
    /// Compiles a rule table (TOML, the format of `data/tags.toml`).
    pub fn parse(toml_text: &str) -> Result<Tagger, toml::de::Error> {
        let table: RawTable = toml::from_str(toml_text)?;
        let compile = |v: &[String]| v.iter().map(|p| Pattern::new(p)).collect::<Vec<_>>();
        let rules = table
            .rule
            .iter()
            .map(|r| Rule {
                tag: r.tag.clone(),
                event_source: compile(&r.event_source),
                event_name: compile(&r.event_name),
                user_type: compile(&r.user_type),
                error_code: compile(&r.error_code),
                event_type_not: compile(&r.event_type_not),
                outcome: r.outcome,
                invoked_by: r.invoked_by,
                mfa_used: r.mfa_used,
            })
            .collect::<Vec<Rule>>();
        let mut by_name: FxHashMap<String, Vec<usize>> = FxHashMap::default();
        let mut any_name = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            let exact = rule.event_name.iter().map(|p| match p {
                Pattern::Exact(name) => Some(name),
                _ => None,
            });
            match exact.collect::<Option<Vec<_>>>().filter(|names| !names.is_empty()) {
                Some(names) => names.into_iter().for_each(|n| by_name.entry(n.clone()).or_default().push(i)),
                None => any_name.push(i),
            }
        }
        by_name.values_mut().for_each(|v| v.dedup());
        Ok(Tagger { rules, by_name, any_name })
    }

    /// The shipped table.
    pub fn shipped() -> Tagger {
        Tagger::parse(RULES).expect("the embedded rule table parses (checked by unit tests)")
    }

    /// The tags of one event, in table order. Only the rules that can apply to its event name
    /// are tried (most rules name their events).
    pub fn tags<'t>(&'t self, subject: &'t Subject<'_, '_>) -> impl Iterator<Item = &'t str> + 't {
        let named = subject.facts.event_name.as_deref().and_then(|n| self.by_name.get(n));
        let (mut named, mut other) = (named.map_or(&[][..], Vec::as_slice), self.any_name.as_slice());
        // The two ascending lists merged, so the tags keep the table's order.
        let candidates = std::iter::from_fn(move || {
            let next = match (named.first(), other.first()) {
                (Some(&a), Some(&b)) if a < b => a,
                (_, Some(&b)) => b,
                (Some(&a), None) => a,
                (None, None) => return None,
            };
            named = named.strip_prefix(&[next]).unwrap_or(named);
            other = other.strip_prefix(&[next]).unwrap_or(other);
            Some(next)
        });
        candidates.map(|i| &self.rules[i]).filter(|r| r.applies(subject)).map(|r| r.tag.as_str())
    }

    /// Every tag the table can produce.
    pub fn all_tags(&self) -> impl Iterator<Item = &str> {
        self.rules.iter().map(|r| r.tag.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `f` of the subject the tag rules see in `record`.
    fn with_subject<T>(record: &str, f: impl FnOnce(&Subject<'_, '_>) -> T) -> T {
        let ev = crate::decode::RawEvent::parse(record.as_bytes()).unwrap();
        let mut facts = Facts::default();
        for (k, v) in &ev.fields {
            facts.observe(k, *v);
        }
        let identity = facts.identity().unwrap_or_default();
        f(&Subject {
            facts: &facts,
            user_type: identity.kind.as_deref(),
            invoked_by: identity.invoked_by.is_some(),
            failed: facts.failed(),
        })
    }

    fn tags_of(record: &str) -> Vec<String> {
        with_subject(record, |subject| Tagger::shipped().tags(subject).map(str::to_owned).collect())
    }

    #[test]
    fn the_shipped_table_has_every_required_tag() {
        let t = Tagger::shipped();
        let all: Vec<_> = t.all_tags().collect();
        for tag in [
            "root_activity",
            "console_login",
            "console_login_failure",
            "console_login_without_mfa",
            "iam_policy_change",
            "security_group_change",
            "network_acl_change",
            "gateway_change",
            "route_table_change",
            "vpc_change",
            "cloudtrail_change",
            "config_change",
            "kms_key_disable_or_delete",
            "s3_bucket_policy_change",
            "unauthorized_call",
            "access_key_created",
        ] {
            assert!(all.contains(&tag), "{tag}");
        }
    }

    #[test]
    fn rules_follow_the_cis_filters() {
        assert_eq!(
            tags_of(
                r#"{"eventSource":"signin.amazonaws.com","eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser"},"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No"}}"#
            ),
            ["console_login_without_mfa", "console_login"]
        );
        assert_eq!(
            tags_of(
                r#"{"eventName":"ConsoleLogin","userIdentity":{"type":"IAMUser"},"responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"}}"#
            ),
            ["console_login"]
        );
        assert_eq!(
            tags_of(
                r#"{"eventName":"ConsoleLogin","userIdentity":{"type":"Root"},"errorMessage":"Failed authentication","responseElements":{"ConsoleLogin":"Failure"}}"#
            ),
            ["root_activity", "console_login", "console_login_failure"]
        );
        assert_eq!(
            tags_of(
                r#"{"eventSource":"ec2.amazonaws.com","eventName":"AuthorizeSecurityGroupIngress","userIdentity":{"type":"Root","invokedBy":"cloudformation.amazonaws.com"}}"#
            ),
            ["security_group_change"]
        );
        assert_eq!(
            tags_of(r#"{"eventSource":"s3.amazonaws.com","eventName":"PutBucketPolicy","errorCode":"AccessDenied"}"#),
            ["unauthorized_call", "s3_bucket_policy_change"]
        );
        assert_eq!(
            tags_of(r#"{"eventName":"RunInstances","errorCode":"Client.UnauthorizedOperation"}"#),
            ["unauthorized_call"]
        );
        assert_eq!(tags_of(r#"{"eventType":"AwsServiceEvent","userIdentity":{"type":"Root"}}"#), Vec::<String>::new());
        assert_eq!(
            tags_of(r#"{"eventSource":"kms.amazonaws.com","eventName":"ScheduleKeyDeletion"}"#),
            ["kms_key_disable_or_delete"]
        );
        assert_eq!(
            tags_of(r#"{"eventSource":"iam.amazonaws.com","eventName":"CreateAccessKey"}"#),
            ["access_key_created"]
        );
        assert_eq!(
            tags_of(r#"{"eventSource":"iam.amazonaws.com","eventName":"AttachRolePolicy"}"#),
            ["iam_policy_change"]
        );
    }

    #[test]
    fn the_name_index_gives_what_trying_every_rule_gives() {
        let shipped = Tagger::shipped();
        // Rules with no name, a name pattern, and names shared between rules, interleaved.
        let mixed = Tagger::parse(
            r#"
            [[rule]]
            tag = "a"
            event_name = ["Get*"]
            [[rule]]
            tag = "b"
            event_name = ["ConsoleLogin", "AssumeRole"]
            [[rule]]
            tag = "c"
            [[rule]]
            tag = "d"
            event_name = ["AssumeRole", "AssumeRole"]
            [[rule]]
            tag = "e"
            event_name = ["*Object", "ConsoleLogin"]
            "#,
        )
        .unwrap();
        let mut tagged = 0;
        for record in crate::testing::sample_records() {
            let text = serde_json::to_string(&record).unwrap();
            with_subject(&text, |subject| {
                for table in [&shipped, &mixed] {
                    let indexed: Vec<&str> = table.tags(subject).collect();
                    let every: Vec<&str> =
                        table.rules.iter().filter(|r| r.applies(subject)).map(|r| r.tag.as_str()).collect();
                    assert_eq!(indexed, every, "{text}");
                    tagged += usize::from(!indexed.is_empty());
                }
            });
        }
        assert!(tagged > 400, "{tagged} tagged");
    }

    #[test]
    fn patterns() {
        assert!(Pattern::new("AccessDenied*").matches("AccessDeniedException"));
        assert!(Pattern::new("*UnauthorizedOperation").matches("Client.UnauthorizedOperation"));
        assert!(Pattern::new("*Denied*").matches("AccessDeniedX"));
        assert!(!Pattern::new("AccessDenied").matches("AccessDeniedException"));
    }

    #[test]
    fn a_table_with_a_typo_is_refused() {
        assert!(Tagger::parse("[[rule]]\ntag = \"x\"\nevent_nmae = [\"A\"]\n").is_err());
    }
}
