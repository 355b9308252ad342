//! The shipped saved objects are valid for the saved-objects import and name only fields the
//! index template maps (aggregatable where they aggregate); the import answer is read object by
//! object.

use super::*;
use crate::index::template::ALERTS_TEMPLATE;
use crate::sources::cloudtrail::{TRENDS_TEMPLATE, enrich::TEMPLATE as EVENT_TEMPLATE};
use crate::sources::s3access::{TEMPLATE as ACCESS_TEMPLATE, TRENDS_TEMPLATE as ACCESS_TRENDS_TEMPLATE};
use std::collections::{BTreeMap, BTreeSet};

/// Every mapped field of the indices an index pattern covers, dotted path → type (over both
/// sources, a field mapped in either).
fn fields_of(pattern: &str) -> BTreeMap<String, String> {
    match pattern {
        INDEX_PATTERN_ID => mapped_fields(EVENT_TEMPLATE),
        ACCESS_PATTERN_ID => mapped_fields(ACCESS_TEMPLATE),
        ALERTS_PATTERN_ID => mapped_fields(ALERTS_TEMPLATE),
        TRENDS_PATTERN_ID => mapped_fields(TRENDS_TEMPLATE),
        ACCESS_TRENDS_PATTERN_ID => mapped_fields(ACCESS_TRENDS_TEMPLATE),
        ALL_PATTERN_ID => {
            let mut both = mapped_fields(ACCESS_TEMPLATE);
            for (field, kind) in mapped_fields(EVENT_TEMPLATE) {
                let other = both.entry(field.clone()).or_insert_with(|| kind.clone());
                assert_eq!(*other, kind, "{field} is mapped differently in the two templates");
            }
            both
        }
        other => panic!("unknown index pattern {other}"),
    }
}

/// The index pattern an object's search source names.
fn pattern_of(object: &Value) -> String {
    let refs = object["references"].as_array().unwrap();
    let r = refs.iter().find(|r| r["name"] == "kibanaSavedObjectMeta.searchSourceJSON.index");
    r.unwrap_or_else(|| panic!("{}: no index reference", object["id"]))["id"].as_str().unwrap().to_owned()
}

/// Every mapped field of a template, dotted path → type.
fn mapped_fields(template: &str) -> BTreeMap<String, String> {
    fn walk(props: &Value, prefix: &str, out: &mut BTreeMap<String, String>) {
        for (name, def) in props.as_object().unwrap() {
            let path = format!("{prefix}{name}");
            if let Some(inner) = def.get("properties") {
                walk(inner, &format!("{path}."), out);
            } else {
                out.insert(path.clone(), def["type"].as_str().unwrap_or("object").to_owned());
                for (sub, subdef) in def.get("fields").and_then(Value::as_object).into_iter().flatten() {
                    out.insert(format!("{path}.{sub}"), subdef["type"].as_str().unwrap().to_owned());
                }
            }
        }
    }
    let template: Value = serde_json::from_str(template).unwrap();
    let mut out = BTreeMap::new();
    walk(&template["template"]["mappings"]["properties"], "", &mut out);
    out
}

/// The mapped type a field name resolves to; a path inside a `flat_object` field is searchable
/// as that field's leaf.
fn field_type<'a>(fields: &'a BTreeMap<String, String>, name: &str) -> Option<&'a str> {
    if let Some(t) = fields.get(name) {
        return Some(t);
    }
    fields.iter().find(|(f, t)| *t == "flat_object" && name.starts_with(&format!("{f}."))).map(|(_, t)| t.as_str())
}

/// Aggregations and the mapped types they can run on (OpenSearch: doc values).
fn aggregatable(agg: &str, field_type: &str) -> bool {
    match agg {
        "terms" | "cardinality" => matches!(field_type, "keyword" | "ip" | "long" | "integer" | "boolean" | "date"),
        "date_histogram" => field_type == "date",
        "sum" => matches!(field_type, "long" | "integer"),
        "geohash_grid" | "geotile_grid" | "geo_centroid" => field_type == "geo_point",
        _ => false,
    }
}

/// Field names a Lucene query string names: `field:value` and `_exists_:field`.
fn query_fields(query: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut in_quotes = false;
    let mut start = None;
    let chars: Vec<char> = query.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        if c == '"' {
            in_quotes = !in_quotes;
            start = None;
        } else if in_quotes {
            continue;
        } else if c.is_alphanumeric() || "_.@".contains(c) {
            start.get_or_insert(i);
        } else if c == ':' {
            if let Some(s) = start.take() {
                fields.push(chars[s..i].iter().collect::<String>());
            }
        } else {
            start = None;
        }
    }
    for part in query.split("_exists_:").skip(1) {
        fields.push(part.split(|c: char| c.is_whitespace() || c == ')').next().unwrap().to_owned());
    }
    fields.retain(|f| f != "_exists_");
    fields.dedup();
    fields
}

fn objects() -> Vec<Value> {
    SAVED_OBJECTS
        .lines()
        .enumerate()
        .map(|(n, line)| serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: not JSON: {e}", n + 1)))
        .collect()
}

/// A JSON-in-a-string attribute, parsed.
fn inner(object: &Value, pointer: &str) -> Value {
    let text = object.pointer(pointer).and_then(Value::as_str);
    let text = text.unwrap_or_else(|| panic!("{}: {pointer} missing or not a string", object["id"]));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{}: {pointer} is not JSON: {e}", object["id"]))
}

/// The search source's query (Lucene, on mapped fields) and its index reference.
fn check_search_source(object: &Value, fields: &BTreeMap<String, String>, pattern: &str) {
    let id = &object["id"];
    let source = inner(object, "/attributes/kibanaSavedObjectMeta/searchSourceJSON");
    assert_eq!(source["query"]["language"], "lucene", "{id}: queries are Lucene");
    let query = source["query"]["query"].as_str().unwrap();
    for f in query_fields(query) {
        assert!(field_type(fields, &f).is_some(), "{id}: query {query:?} names unmapped field {f}");
    }
    assert_eq!(source["indexRefName"], "kibanaSavedObjectMeta.searchSourceJSON.index", "{id}");
    let refs = object["references"].as_array().unwrap();
    assert!(
        refs.iter().any(|r| r["name"] == source["indexRefName"] && r["type"] == "index-pattern" && r["id"] == pattern),
        "{id}: no reference to the index pattern"
    );
}

#[test]
fn query_fields_are_found() {
    assert_eq!(query_fields("tags:root_activity"), ["tags"]);
    assert_eq!(
        query_fields(r#"eventSource:s3.amazonaws.com AND eventName:(A OR B) AND x.y:"a:b c:d""#),
        ["eventSource", "eventName", "x.y"]
    );
    assert_eq!(query_fields("_exists_:errorCode"), ["errorCode"]);
    assert_eq!(query_fields("a:1 AND NOT _exists_:source.geo.location"), ["a", "source.geo.location"]);
}

#[test]
fn every_object_is_valid_for_the_saved_objects_import() {
    let objects = objects();
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for o in &objects {
        let id = o["id"].as_str().expect("id is a string");
        let kind = o["type"].as_str().expect("type is a string");
        assert!(["index-pattern", "visualization", "search", "dashboard"].contains(&kind), "{id}: type {kind}");
        assert!(
            !id.is_empty() && id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "id {id}"
        );
        assert!(o["attributes"]["title"].as_str().is_some_and(|t| !t.is_empty()), "{id}: no title");
        // The import resolves references against the file and the existing objects: every
        // reference here points to an object earlier in the file, of the right type.
        for r in o["references"].as_array().unwrap_or_else(|| panic!("{id}: references missing")) {
            let target = r["id"].as_str().unwrap();
            assert_eq!(
                seen.get(target).map(String::as_str),
                r["type"].as_str(),
                "{id}: reference {r} to a missing object"
            );
            assert!(r["name"].as_str().is_some_and(|n| !n.is_empty()), "{id}: unnamed reference");
        }
        assert!(seen.insert(id.to_owned(), kind.to_owned()).is_none(), "duplicate id {id}");
    }
    let patterns: Vec<(&str, &str)> =
        objects[..6].iter().map(|o| (o["id"].as_str().unwrap(), o["attributes"]["title"].as_str().unwrap())).collect();
    assert_eq!(
        patterns,
        [
            (INDEX_PATTERN_ID, "cloudtrail-*"),
            (ACCESS_PATTERN_ID, "s3access-*"),
            (ALL_PATTERN_ID, "cloudtrail-*,s3access-*"),
            (ALERTS_PATTERN_ID, "trailship-alerts-*"),
            (TRENDS_PATTERN_ID, "trailship-trends-cloudtrail-*"),
            (ACCESS_TRENDS_PATTERN_ID, "trailship-trends-s3access-*"),
        ]
    );
    for o in &objects[..6] {
        let time = if o["attributes"]["title"].as_str().unwrap().contains("-trends-") { "day" } else { "@timestamp" };
        assert_eq!(o["attributes"]["timeFieldName"], time);
        assert_eq!(fields_of(o["id"].as_str().unwrap())[time], "date");
    }
    assert!(objects[6..].iter().all(|o| o["type"] != "index-pattern"));
}

#[test]
fn visualizations_and_searches_name_mapped_fields_and_aggregate_aggregatable_ones() {
    let mut aggregations = 0;
    for o in objects() {
        let id = &o["id"];
        if o["type"] == "index-pattern" || o["type"] == "dashboard" {
            continue;
        }
        let pattern = pattern_of(&o);
        let fields = fields_of(&pattern);
        match o["type"].as_str().unwrap() {
            "visualization" => {
                let state = inner(&o, "/attributes/visState");
                assert_eq!(state["title"], o["attributes"]["title"], "{id}");
                let kind = state["type"].as_str().unwrap();
                assert!(
                    ["table", "pie", "histogram", "line", "area", "metric", "tile_map"].contains(&kind),
                    "{id}: {kind}"
                );
                inner(&o, "/attributes/uiStateJSON");
                let aggs = state["aggs"].as_array().unwrap();
                assert!(aggs.iter().any(|a| a["schema"] == "metric"), "{id}: no metric");
                let ids: BTreeSet<_> = aggs.iter().map(|a| a["id"].as_str().unwrap()).collect();
                assert_eq!(ids.len(), aggs.len(), "{id}: agg ids repeat");
                for agg in aggs {
                    let (agg_type, field) = (agg["type"].as_str().unwrap(), agg["params"]["field"].as_str());
                    assert!(
                        ["metric", "segment", "group", "bucket"].contains(&agg["schema"].as_str().unwrap()),
                        "{id}"
                    );
                    let Some(field) = field else {
                        if agg_type == "moving_avg" {
                            // A parent pipeline over one of this visualization's metrics.
                            let of = agg["params"]["metricAgg"].as_str().unwrap_or_default();
                            assert!(ids.contains(of) && of != agg["id"], "{id}: moving_avg of {of:?}");
                            continue;
                        }
                        assert_eq!(agg_type, "count", "{id}: {agg_type} without a field");
                        continue;
                    };
                    let t = fields.get(field).unwrap_or_else(|| panic!("{id}: aggregates unmapped field {field}"));
                    assert!(aggregatable(agg_type, t), "{id}: {agg_type} on {field} ({t}) does not aggregate");
                    aggregations += 1;
                }
                check_search_source(&o, &fields, &pattern);
            }
            "search" => {
                for column in o["attributes"]["columns"].as_array().unwrap() {
                    let column = column.as_str().unwrap();
                    assert!(field_type(&fields, column).is_some(), "{id}: column {column} is not mapped");
                }
                for sort in o["attributes"]["sort"].as_array().unwrap() {
                    assert_eq!(
                        fields.get(sort[0].as_str().unwrap()).map(String::as_str),
                        Some("date"),
                        "{id}: sort {sort}"
                    );
                }
                check_search_source(&o, &fields, &pattern);
            }
            _ => {}
        }
    }
    assert!(aggregations > 40, "only {aggregations} aggregations checked");
}

#[test]
fn dashboards_point_only_to_existing_panels() {
    let objects = objects();
    let kinds: BTreeMap<&str, &str> =
        objects.iter().map(|o| (o["id"].as_str().unwrap(), o["type"].as_str().unwrap())).collect();
    let mut on_a_board = BTreeSet::new();
    let mut boards = Vec::new();
    for o in objects.iter().filter(|o| o["type"] == "dashboard") {
        let id = o["id"].as_str().unwrap();
        boards.push(o["attributes"]["title"].as_str().unwrap());
        inner(o, "/attributes/optionsJSON");
        inner(o, "/attributes/kibanaSavedObjectMeta/searchSourceJSON");
        let refs: BTreeMap<&str, &Value> =
            o["references"].as_array().unwrap().iter().map(|r| (r["name"].as_str().unwrap(), r)).collect();
        let panels = inner(o, "/attributes/panelsJSON");
        let mut indices = BTreeSet::new();
        for panel in panels.as_array().unwrap() {
            let name = panel["panelRefName"].as_str().unwrap_or_else(|| panic!("{id}: panel without panelRefName"));
            let r = refs.get(name).unwrap_or_else(|| panic!("{id}: panel {name} has no reference"));
            let target = r["id"].as_str().unwrap();
            assert_eq!(kinds.get(target), r["type"].as_str().as_ref(), "{id}: panel {name} points to missing {target}");
            on_a_board.insert(target);
            let g = &panel["gridData"];
            assert!(g["x"].as_u64().unwrap() + g["w"].as_u64().unwrap() <= 48, "{id}: panel {name} past the grid");
            assert_eq!(g["i"], panel["panelIndex"], "{id}");
            assert!(indices.insert(panel["panelIndex"].as_str().unwrap()), "{id}: panelIndex repeats");
        }
        assert_eq!(panels.as_array().unwrap().len(), refs.len(), "{id}: references without panels");
    }
    assert_eq!(
        boards,
        [
            "CloudTrail overview",
            "CloudTrail security",
            "CloudTrail operations",
            "S3 access",
            "Detections",
            "Abnormal activity",
            "CloudTrail trends"
        ]
    );
    for (id, kind) in &kinds {
        if *kind == "visualization" {
            assert!(on_a_board.contains(id), "visualization {id} is on no dashboard");
        }
    }
}

#[test]
fn every_cis_rule_has_a_panel() {
    let rules: toml::Table = toml::from_str(include_str!("sources/cloudtrail/enrich/data/tags.toml")).unwrap();
    let panels = SAVED_OBJECTS;
    let mut n = 0;
    for rule in rules["rule"].as_array().unwrap().iter().filter(|r| r.get("cis").is_some()) {
        let tag = rule["tag"].as_str().unwrap();
        assert!(panels.contains(&format!(r#"\"query\":\"tags:{tag}\""#)), "no panel for {tag}");
        n += 1;
    }
    assert_eq!(n, 15, "CIS 4.1 to 4.15");
}

#[test]
fn render_sets_the_index_pattern_for_the_prefix_and_nothing_else() {
    let rendered = render("trail-prod", "s3-prod", "alerts-prod");
    let (a, b): (Vec<_>, Vec<_>) = (SAVED_OBJECTS.lines().collect(), rendered.lines().collect());
    assert_eq!(a.len(), b.len());
    let titles: Vec<String> = b[..6]
        .iter()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["attributes"]["title"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        titles,
        [
            "trail-prod-*",
            "s3-prod-*",
            "trail-prod-*,s3-prod-*",
            "alerts-prod-*",
            "trailship-trends-trail-prod-*",
            "trailship-trends-s3-prod-*"
        ]
    );
    let first: Value = serde_json::from_str(b[0]).unwrap();
    assert_eq!(first["attributes"]["timeFieldName"], "@timestamp");
    assert_eq!(a[6..], b[6..]);
    assert_eq!(
        render("cloudtrail", "s3access", "trailship-alerts")
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .collect::<Vec<_>>(),
        objects()
    );
}

#[test]
fn import_answers_are_read_object_by_object() {
    let body = br#"{"success":false,"successCount":2,
        "successResults":[{"type":"index-pattern","id":"trailship-events","meta":{"title":"cloudtrail-*","icon":"indexPatternApp"}},
                          {"type":"dashboard","id":"trailship-overview","meta":{"title":"CloudTrail overview"},"overwrite":true}],
        "errors":[{"id":"v1","type":"visualization","title":"V","meta":{"title":"V"},
                   "error":{"type":"missing_references","references":[{"type":"index-pattern","id":"gone"}]}},
                  {"id":"v2","type":"visualization","meta":{},"error":{"type":"unknown","message":"boom","statusCode":500}}]}"#;
    let ImportOutcome::Done(objects) = read_answer("http://d", 200, body).unwrap() else { panic!("not done") };
    let got: Vec<(&str, &str, String)> =
        objects.iter().map(|o| (o.kind.as_str(), o.id.as_str(), o.status.describe())).collect();
    assert_eq!(
        got,
        [
            ("index-pattern", "trailship-events", "imported".to_owned()),
            ("dashboard", "trailship-overview", "updated".to_owned()),
            ("visualization", "v1", "failed (missing_references: index-pattern gone)".to_owned()),
            ("visualization", "v2", "failed (unknown: boom)".to_owned()),
        ]
    );
    assert_eq!(objects[1].title, "CloudTrail overview");
}

#[test]
fn missing_api_refusals_and_garbage_are_told_apart() {
    let not_found = br#"{"statusCode":404,"error":"Not Found","message":"Not Found"}"#;
    assert_eq!(read_answer("http://d", 404, not_found).unwrap(), ImportOutcome::NoApi { status: 404 });
    let opensearch = br#"{"error":"no handler found for uri [/api/saved_objects/_import] and method [POST]"}"#;
    assert_eq!(read_answer("http://d", 400, opensearch).unwrap(), ImportOutcome::NoApi { status: 400 });
    let unauthorized = br#"{"statusCode":401,"error":"Unauthorized","message":"Authentication required"}"#;
    let e = read_answer("http://d", 401, unauthorized).unwrap_err();
    assert!(!e.is_transient());
    assert_eq!(
        e.to_string(),
        "opensearch dashboards at http://d refused the import: http 401: Authentication required"
    );
    let starting = b"OpenSearch Dashboards server is not ready yet";
    assert!(read_answer("http://d", 503, starting).unwrap_err().is_transient());
    assert!(matches!(read_answer("http://d", 200, b"<html>").unwrap_err(), DashboardsError::BadAnswer { .. }));
}
