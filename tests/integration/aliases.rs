//! The OCSF and Security Analytics field names of the event template are aliases: on the
//! bundled samples, a query or an aggregation through each alias answers what the same one
//! through the field it names answers, and no document grows (the aliases store nothing).

use crate::harness::{Osmem, trailship};
use serde_json::{Value, json};

const SAMPLES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/samples");
const TEMPLATE: &str = include_str!("../../src/sources/cloudtrail/template.json");

/// Every alias of the template: (its name, the field it names).
fn aliases() -> Vec<(String, String)> {
    fn walk(props: &Value, prefix: &str, out: &mut Vec<(String, String)>) {
        for (name, m) in props.as_object().unwrap() {
            let full = format!("{prefix}{name}");
            if m["type"] == "alias" {
                out.push((full.clone(), m["path"].as_str().unwrap().to_owned()));
            }
            if m.get("properties").is_some() {
                walk(&m["properties"], &format!("{full}."), out);
            }
        }
    }
    let template: Value = serde_json::from_str(TEMPLATE).unwrap();
    let mut out = Vec::new();
    walk(&template["template"]["mappings"]["properties"], "", &mut out);
    out
}

/// How many documents have `field`, and its ten most frequent values (by count, then value);
/// for the one text field, how many documents match a phrase instead.
async fn answer(osmem: &Osmem, field: &str, text: bool) -> (u64, Value) {
    let count = |query: Value| async move {
        let a =
            osmem.post("/cloudtrail-*/_search", &json!({"size": 0, "track_total_hits": true, "query": query})).await;
        a["hits"]["total"]["value"].as_u64().unwrap_or_else(|| panic!("{a}"))
    };
    if text {
        let phrase = count(json!({"match_phrase": {field: "not authorized"}})).await;
        return (count(json!({"exists": {"field": field}})).await, Value::from(phrase));
    }
    let body = json!({"size": 0, "track_total_hits": true, "query": {"exists": {"field": field}},
        "aggs": {"top": {"terms": {"field": field, "size": 10, "order": [{"_count": "desc"}, {"_key": "asc"}]}}}});
    let a = osmem.post("/cloudtrail-*/_search", &body).await;
    let total = a["hits"]["total"]["value"].as_u64().unwrap_or_else(|| panic!("{field}: {a}"));
    let keys: Vec<Value> = a["aggregations"]["top"]["buckets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| json!([b["key"], b["doc_count"]]))
        .collect();
    (total, Value::from(keys))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_alias_answers_what_its_field_answers() {
    let osmem = Osmem::start().await;
    let env = vec![("TRAILSHIP__OPENSEARCH__URL".to_owned(), osmem.url.clone())];
    let run = trailship(&["ingest", SAMPLES], &env).await;
    assert_eq!(run.code, 0, "{}", run.stderr);
    let aliases = aliases();
    assert!(aliases.len() > 50, "{aliases:?}");
    let mut answered = 0;
    for (alias, field) in &aliases {
        let text = field == "errorMessage";
        let (via_field, via_alias) = (answer(&osmem, field, text).await, answer(&osmem, alias, text).await);
        assert_eq!(via_alias, via_field, "{alias} -> {field}");
        answered += usize::from(via_field.0 > 0);
    }
    assert!(
        answered * 10 >= aliases.len() * 7,
        "most aliases name fields the samples have: {answered} of {}",
        aliases.len()
    );
    let query = json!({"size": 1, "query": {"bool": {"filter": [
        {"term": {"api.operation": "GetPasswordData"}}, {"term": {"api.service.name": "ec2.amazonaws.com"}}]}}});
    let hit = &osmem.post("/cloudtrail-*/_search", &query).await["hits"]["hits"][0]["_source"];
    assert_eq!(hit["eventName"], "GetPasswordData", "an OCSF query finds the event");
    for root in ["api", "actor", "metadata", "time", "src_endpoint", "http_request"] {
        assert!(hit.get(root).is_none(), "the document holds no {root}: aliases store nothing");
    }
}
