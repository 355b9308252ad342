//! The CloudTrail source's own parts: templates, trends and event window.

use super::*;
use crate::sources::LogSource;

fn source() -> CloudTrail {
    CloudTrail::new(Default::default())
}

#[test]
fn event_template_never_maps_unknown_fields() {
    let t = &source().templates(1)[0].body;
    let m = &t["template"]["mappings"];
    assert_eq!(m["dynamic"], false);
    assert_eq!(m["date_detection"], false);
    for free_form in ["requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"] {
        assert_eq!(m["properties"][free_form]["type"], "flat_object", "{free_form}");
    }
    assert_eq!(m["properties"]["@timestamp"]["type"], "date");
}

#[test]
fn templates_follow_the_prefix_and_rank_below_dead_letters_and_trends() {
    let t = CloudTrail { index_prefix: "ct".into(), ..source() }.templates(1);
    assert_eq!((t[0].name.as_str(), &t[0].body["index_patterns"]), ("trailship-ct", &serde_json::json!(["ct-*"])));
    assert_eq!(t[1].body["index_patterns"], serde_json::json!(["trailship-trends-ct-*"]));
    let priority = |t: &Template| t.body["priority"].as_u64().unwrap();
    assert!(priority(&t[1]) > priority(&t[0]), "trends win if patterns overlap");
    let dead = template::deadletter_template("ct-dead", 1);
    assert!(priority(&dead) > priority(&t[0]), "dead letters win if patterns overlap");
}

#[test]
fn trends_leave_insight_events_out_and_window_starts_with_cloudtrail() {
    let q = crate::trends::Spec {
        shape: source().trends(),
        event_prefix: "ct".into(),
        period: Default::default(),
        accounts: Default::default(),
    }
    .query(chrono::NaiveDate::from_ymd_opt(2026, 2, 28).unwrap(), None);
    assert_eq!(q["query"]["bool"]["must_not"][0], serde_json::json!({"term": {"eventCategory": "Insight"}}));
    assert_eq!(q["aggs"]["keys"]["composite"]["sources"].as_array().unwrap().len(), 7);
    assert!(source().trends().first_seen);
    assert_eq!((&WINDOW.oldest, WINDOW.oldest_key), (b"2013.01.01", "limits.oldest_event_date"));
}
