//! Index templates shipped in `mappings/`, embedded in the binary and rendered for the
//! configured index names. Pure; installing them is [`super::client`]'s job.
//!
//! Loading is generic: a template file is any OpenSearch composable index template; trailship
//! only replaces its `index_patterns` with the configured names.

use serde_json::Value;

/// The CloudTrail event template (`mappings/cloudtrail-template.json`).
pub const EVENT_TEMPLATE: &str = include_str!("../../mappings/cloudtrail-template.json");
/// The dead-letter template (`mappings/deadletter-template.json`).
pub const DEADLETTER_TEMPLATE: &str = include_str!("../../mappings/deadletter-template.json");

/// A template ready to install.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    /// Name under `_index_template/`.
    pub name: String,
    /// The template body.
    pub body: Value,
}

/// Renders `source` under `name` for `patterns`.
pub fn render(source: &str, name: String, patterns: &[String]) -> Result<Template, serde_json::Error> {
    let mut body: Value = serde_json::from_str(source)?;
    if let Some(obj) = body.as_object_mut() {
        obj.insert("index_patterns".into(), Value::from(patterns.to_vec()));
    }
    Ok(Template { name, body })
}

/// The templates trailship needs for this index prefix and dead-letter index.
pub fn templates(index_prefix: &str, deadletter_index: &str) -> Vec<Template> {
    // Both files are embedded at build time and parsed by the unit tests below.
    vec![
        render(EVENT_TEMPLATE, format!("trailship-{index_prefix}"), &[format!("{index_prefix}-*")])
            .expect("embedded template is valid json"),
        render(DEADLETTER_TEMPLATE, format!("trailship-{deadletter_index}"), &[deadletter_index.to_owned()])
            .expect("embedded template is valid json"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_follow_the_configured_names() {
        let t = templates("ct", "dead");
        assert_eq!(t[0].name, "trailship-ct");
        assert_eq!(t[0].body["index_patterns"], serde_json::json!(["ct-*"]));
        assert_eq!(t[1].body["index_patterns"], serde_json::json!(["dead"]));
        assert!(
            t[1].body["priority"].as_u64() > t[0].body["priority"].as_u64(),
            "dead-letter wins if patterns overlap"
        );
    }

    #[test]
    fn event_template_never_maps_unknown_fields() {
        let t = &templates("cloudtrail", "trailship-deadletter")[0].body;
        let m = &t["template"]["mappings"];
        assert_eq!(m["dynamic"], false);
        assert_eq!(m["date_detection"], false);
        for free_form in ["requestParameters", "responseElements", "additionalEventData", "serviceEventDetails"] {
            assert_eq!(m["properties"][free_form]["type"], "flat_object", "{free_form}");
        }
        assert_eq!(m["properties"]["@timestamp"]["type"], "date");
    }
}
