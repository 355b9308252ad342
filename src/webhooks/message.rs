//! Webhook bodies from indexed alert documents: `{"text": "<one line per alert>", "alerts":
//! [...]}`, where `text` makes it a valid Slack or Mattermost incoming-webhook body and
//! `alerts` gives programs the fields. Pure.

use crate::detect::Level;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// At most this many alerts go in one POST (a file can match thousands of times; incoming
/// webhooks cap the message size).
pub const MAX_PER_POST: usize = 100;

/// The fields of an alert document (see `enrich::alert`) a notification reads.
#[derive(Deserialize)]
struct AlertDoc<'a> {
    #[serde(rename = "@timestamp", borrow)]
    timestamp: Cow<'a, str>,
    #[serde(borrow)]
    rule: RuleDoc<'a>,
    #[serde(rename = "eventID", borrow)]
    event_id: Cow<'a, str>,
    #[serde(rename = "eventName", borrow, default)]
    event_name: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    user: Option<UserDoc<'a>>,
    #[serde(borrow, default)]
    source: Option<SourceDoc<'a>>,
    #[serde(borrow, default)]
    cloud: Option<CloudDoc<'a>>,
    #[serde(borrow, default)]
    alert: Option<AlertInfo<'a>>,
}

/// `alert.*` of a grouped alert or a finding: how many events, from when to when.
#[derive(Deserialize)]
struct AlertInfo<'a> {
    #[serde(borrow, default)]
    kind: Option<Cow<'a, str>>,
    #[serde(default)]
    count: Option<u64>,
    #[serde(borrow, default)]
    first: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    last: Option<Cow<'a, str>>,
}

#[derive(Deserialize, Serialize)]
struct RuleDoc<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    name: Cow<'a, str>,
    #[serde(borrow)]
    level: Cow<'a, str>,
}

#[derive(Deserialize)]
struct UserDoc<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct SourceDoc<'a> {
    #[serde(borrow, default)]
    address: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct CloudDoc<'a> {
    #[serde(borrow, default)]
    account: Option<AccountDoc<'a>>,
    #[serde(borrow, default)]
    region: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct AccountDoc<'a> {
    #[serde(borrow, default)]
    id: Option<Cow<'a, str>>,
}

/// One alert as a webhook receives it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WebhookAlert<'a> {
    rule: &'a RuleDoc<'a>,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    event_name: Option<&'a str>,
    event_time: &'a str,
    user: Option<&'a str>,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: Option<&'a str>,
    account: Option<&'a str>,
    region: Option<&'a str>,
    /// `group` for a grouped alert (absent for one event's).
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<&'a str>,
    /// The events a grouped alert counts.
    #[serde(skip_serializing_if = "Option::is_none")]
    count: Option<u64>,
    /// The first and last of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    first: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    last: Option<&'a str>,
}

impl<'a> WebhookAlert<'a> {
    fn of(doc: &'a AlertDoc<'a>) -> Self {
        WebhookAlert {
            rule: &doc.rule,
            event_id: &doc.event_id,
            event_name: doc.event_name.as_deref(),
            event_time: &doc.timestamp,
            user: doc.user.as_ref().and_then(|u| u.name.as_deref()),
            source_ip_address: doc.source.as_ref().and_then(|s| s.address.as_deref()),
            account: doc.cloud.as_ref().and_then(|c| c.account.as_ref()).and_then(|a| a.id.as_deref()),
            region: doc.cloud.as_ref().and_then(|c| c.region.as_deref()),
            kind: doc.alert.as_ref().and_then(|a| a.kind.as_deref()),
            count: doc.alert.as_ref().and_then(|a| a.count),
            first: doc.alert.as_ref().and_then(|a| a.first.as_deref()),
            last: doc.alert.as_ref().and_then(|a| a.last.as_deref()),
        }
    }

    /// `[high] Rule title: EventName by user from 1.2.3.4 (account 1234, us-east-1) at TIME, eventID X`
    fn line(&self) -> String {
        let mut line =
            format!("[{}] {}: {}", self.rule.level, self.rule.name, self.event_name.unwrap_or("(no eventName)"));
        if let Some(user) = self.user {
            line += &format!(" by {user}");
        }
        if let Some(ip) = self.source_ip_address {
            line += &format!(" from {ip}");
        }
        match (self.account, self.region) {
            (Some(a), Some(r)) => line += &format!(" (account {a}, {r})"),
            (Some(a), None) => line += &format!(" (account {a})"),
            (None, Some(r)) => line += &format!(" ({r})"),
            (None, None) => {}
        }
        match (self.count, self.first, self.last) {
            (Some(n), Some(first), Some(last)) => {
                line += &format!(": {n} events from {first} to {last}, the first eventID {}", self.event_id)
            }
            _ => line += &format!(" at {}, eventID {}", self.event_time, self.event_id),
        }
        slack_escape(&line.replace(['\n', '\r'], " "))
    }
}

/// Slack reads `<…>` as links and `&` as the start of an entity: those three are escaped.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// The level of an alert document, if it is one.
pub fn level_of(doc: &[u8]) -> Option<Level> {
    #[derive(Deserialize)]
    struct Doc<'a> {
        #[serde(borrow)]
        rule: Rule<'a>,
    }
    #[derive(Deserialize)]
    struct Rule<'a> {
        #[serde(borrow)]
        level: Cow<'a, str>,
    }
    serde_json::from_slice::<Doc<'_>>(doc).ok().and_then(|d| Level::parse(&d.rule.level))
}

/// The bodies to POST for the alert documents `docs` (document lines as indexed): those at or
/// above `min_level`, [`MAX_PER_POST`] per body, in order. Each body with its alert count.
/// A line that is not an alert document is skipped (it cannot be: trailship wrote it).
pub fn bodies(docs: &[Vec<u8>], min_level: Level) -> Vec<(Vec<u8>, usize)> {
    let parsed: Vec<AlertDoc<'_>> = docs
        .iter()
        .filter_map(|d| serde_json::from_slice::<AlertDoc<'_>>(d).ok())
        .filter(|d| Level::parse(&d.rule.level).is_some_and(|l| l >= min_level))
        .collect();
    parsed
        .chunks(MAX_PER_POST)
        .map(|chunk| {
            let alerts: Vec<WebhookAlert<'_>> = chunk.iter().map(WebhookAlert::of).collect();
            let text = alerts.iter().map(WebhookAlert::line).collect::<Vec<_>>().join("\n");
            let body = serde_json::json!({"text": text, "alerts": alerts});
            (serde_json::to_vec(&body).expect("plain json values serialize"), alerts.len())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn doc(level: &str, event_id: &str) -> Vec<u8> {
        json!({
            "@timestamp": "2024-07-31T12:46:41Z",
            "rule": {"id": "r-1", "name": "Trail <stopped> & deleted", "level": level, "tags": ["cis.4.5"]},
            "eventID": event_id, "eventName": "DeleteTrail", "eventSource": "cloudtrail.amazonaws.com",
            "user": {"name": "alice", "type": "IAMUser"},
            "source": {"address": "203.0.113.9", "ip": "203.0.113.9"},
            "cloud": {"account": {"id": "111122223333"}, "region": "us-east-1"},
            "event": {"kind": "alert", "index": "cloudtrail-2024.07.31"}
        })
        .to_string()
        .into_bytes()
    }

    #[test]
    fn a_body_is_slack_text_plus_the_alerts_as_fields() {
        let out = bodies(&[doc("high", "e-1"), doc("low", "e-2"), doc("critical", "e-3")], Level::High);
        assert_eq!(out.len(), 1);
        let (body, count) = &out[0];
        assert_eq!(*count, 2);
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(
            body["text"],
            "[high] Trail &lt;stopped&gt; &amp; deleted: DeleteTrail by alice from 203.0.113.9 (account 111122223333, us-east-1) at 2024-07-31T12:46:41Z, eventID e-1\n\
             [critical] Trail &lt;stopped&gt; &amp; deleted: DeleteTrail by alice from 203.0.113.9 (account 111122223333, us-east-1) at 2024-07-31T12:46:41Z, eventID e-3"
        );
        assert_eq!(
            body["alerts"][0],
            json!({"rule": {"id": "r-1", "name": "Trail <stopped> & deleted", "level": "high"}, "eventID": "e-1",
                   "eventName": "DeleteTrail", "eventTime": "2024-07-31T12:46:41Z", "user": "alice",
                   "sourceIPAddress": "203.0.113.9", "account": "111122223333", "region": "us-east-1"})
        );
        assert_eq!(body["alerts"][1]["rule"]["level"], "critical");
    }

    #[test]
    fn a_grouped_alert_says_how_many_events_and_when() {
        let mut group: Value = serde_json::from_slice(&doc("low", "e-1")).unwrap();
        group["alert"] = json!({"kind": "group", "count": 1200, "first": "2024-07-31T12:00:05Z",
            "last": "2024-07-31T12:59:00Z", "window": {"start": "2024-07-31T12:00:00Z"}});
        let out = bodies(&[group.to_string().into_bytes()], Level::Low);
        let body: Value = serde_json::from_slice(&out[0].0).unwrap();
        assert!(
            body["text"].as_str().unwrap().ends_with(
                "(account 111122223333, us-east-1): 1200 events from 2024-07-31T12:00:05Z to 2024-07-31T12:59:00Z, \
                 the first eventID e-1"
            ),
            "{body}"
        );
        let a = &body["alerts"][0];
        assert_eq!(
            (&a["kind"], &a["count"], &a["last"]),
            (&json!("group"), &json!(1200), &json!("2024-07-31T12:59:00Z"))
        );
    }

    #[test]
    fn below_the_minimum_level_nothing_is_sent() {
        assert!(bodies(&[doc("medium", "e-1")], Level::High).is_empty());
        assert_eq!(bodies(&[doc("medium", "e-1")], Level::Informational).len(), 1);
    }

    #[test]
    fn what_an_alert_lacks_is_null_and_missing_from_its_line() {
        let bare = br#"{"@timestamp":"2024-07-31T12:46:41Z","rule":{"id":"r","name":"R","level":"high","tags":[]},"eventID":"e","event":{"kind":"alert","index":"x"}}"#;
        let (body, _) = &bodies(&[bare.to_vec()], Level::High)[0];
        let body: Value = serde_json::from_slice(body).unwrap();
        assert_eq!(body["text"], "[high] R: (no eventName) at 2024-07-31T12:46:41Z, eventID e");
        for field in ["eventName", "user", "sourceIPAddress", "account", "region"] {
            assert!(body["alerts"][0][field].is_null(), "{field}");
        }
    }

    #[test]
    fn many_alerts_are_split_into_posts_of_at_most_a_hundred() {
        let docs: Vec<Vec<u8>> = (0..250).map(|i| doc("high", &format!("e-{i}"))).collect();
        let counts: Vec<usize> = bodies(&docs, Level::High).iter().map(|(_, n)| *n).collect();
        assert_eq!(counts, [100, 100, 50]);
        let last: Value = serde_json::from_slice(&bodies(&docs, Level::High)[2].0).unwrap();
        assert_eq!(last["alerts"][49]["eventID"], "e-249");
        assert_eq!(last["text"].as_str().unwrap().lines().count(), 50);
    }
}
