//! `user_agent.*` from CloudTrail's `userAgent`: the `ua-parser` crate (the ua-parser project's
//! Rust implementation, with uap-core's regexes in `uap-regexes.json`) for browsers, SDKs
//! and CLIs, after a few rules for the agents only CloudTrail writes (`AWS Internal`,
//! `console.amazonaws.com`, service principals). Results are cached per agent string, as a
//! ready-to-write JSON object: a trail repeats a few hundred agents millions of times. Every log
//! source's documents share one cache ([`json`]).

mod models;

use crate::json::write_str;
use quick_cache::sync::Cache;
use serde::Deserialize;
use std::sync::{Arc, OnceLock};
use ua_parser::{os, user_agent};

/// uap-core's parsers (user agent and OS parts), embedded.
const REGEXES: &str = include_str!("uap-regexes.json");

/// Distinct agent strings kept parsed.
const CACHE_ENTRIES: usize = 20_000;

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(borrow)]
    user_agent_parsers: Vec<user_agent::Parser<'a>>,
    #[serde(borrow)]
    os_parsers: Vec<os::Parser<'a>>,
}

/// What one agent string says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Agent {
    /// The tool, SDK or browser (`aws-cli`, `Boto3`, `Chrome`, `AWS Internal`, …).
    pub name: Option<String>,
    /// Its version, when the string has one.
    pub version: Option<String>,
    /// The operating system, when the string says.
    pub os: Option<String>,
}

/// Parses user agents. Built once per process; cheap to share. uap-core's regexes are parsed on
/// first use and each compiles only when an agent may
/// match it (`vendor/README.md`): a command that never meets a browser or SDK agent pays nothing.
pub struct Agents {
    parsers: OnceLock<Parsers>,
    cache: Cache<Box<str>, Arc<[u8]>>,
}

/// uap-core's compiled user agent and OS parsers.
struct Parsers {
    ua: user_agent::Extractor<'static>,
    os: os::Extractor<'static>,
}

impl std::fmt::Debug for Agents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agents").field("cached", &self.cache.len()).finish()
    }
}

impl Agents {
    /// A parser whose regexes compile on first use.
    pub fn new() -> Agents {
        Agents { parsers: OnceLock::new(), cache: Cache::new(CACHE_ENTRIES) }
    }

    fn parsers(&self) -> &Parsers {
        self.parsers.get_or_init(Parsers::compile)
    }

    /// Parses one agent string.
    pub fn parse(&self, original: &str) -> Agent {
        let inner = original.trim().trim_start_matches('[').trim_end_matches(']');
        if let Some(agent) = cloudtrail_agent(inner) {
            return agent;
        }
        let mut agent = Agent::default();
        let parsers = self.parsers();
        if let Some(v) = parsers.ua.extract(inner).filter(|v| v.family != "Other") {
            agent.name = Some(v.family.into_owned());
            agent.version = join_version([v.major, v.minor, v.patch, v.patch_minor]);
        } else if let Some((name, version)) = first_product(inner) {
            agent.name = Some(name.to_owned());
            agent.version = Some(version.to_owned()).filter(|v| !v.is_empty());
        } else if inner.len() <= 100 {
            agent.name = Some(inner.to_owned());
        }
        agent.os =
            parsers.os.extract(inner).map(|o| o.os.into_owned()).filter(|o| o != "Other").or_else(|| sdk_os(inner));
        agent
    }

    /// The `user_agent` object for `original` as JSON, from the cache when seen before.
    pub fn json(&self, original: &str) -> Arc<[u8]> {
        if let Some(hit) = self.cache.get(original) {
            return hit;
        }
        let agent = self.parse(original);
        let mut out = Vec::with_capacity(original.len() + 64);
        out.extend_from_slice(b"{\"original\":");
        write_str(&mut out, original);
        for (key, value) in [("name", &agent.name), ("version", &agent.version)] {
            if let Some(v) = value {
                out.extend_from_slice(format!(",\"{key}\":").as_bytes());
                write_str(&mut out, v);
            }
        }
        if let Some(os) = &agent.os {
            out.extend_from_slice(b",\"os\":{\"name\":");
            write_str(&mut out, os);
            out.push(b'}');
        }
        out.push(b'}');
        let json: Arc<[u8]> = out.into();
        self.cache.insert(original.into(), json.clone());
        json
    }
}

impl Parsers {
    /// Builds both parsers from the embedded regexes and their stored analyses ([`models`]:
    /// no regex is parsed here; each compiles when first selected), the OS one on a second
    /// thread when one can be had: whoever waits waits for the larger half (the user agent
    /// regexes, about two thirds).
    fn compile() -> Parsers {
        // Embedded at build time; `models`' tests check both files.
        let data: Data<'static> = serde_json::from_str(REGEXES).expect("embedded uap regexes are valid json");
        let (ua_models, os_models) = models::read(models::MODELS).expect("embedded uap models are valid");
        assert_eq!(ua_models.len(), data.user_agent_parsers.len(), "one stored model per user agent parser");
        assert_eq!(os_models.len(), data.os_parsers.len(), "one stored model per os parser");
        let os_parts = std::sync::Mutex::new(Some((data.os_parsers, os_models)));
        let compile_os = || {
            let (parsers, models) = os_parts.lock().unwrap_or_else(|e| e.into_inner()).take().unwrap_or_default();
            parsers
                .into_iter()
                .zip(models)
                .try_fold(os::Builder::new(), |b, (p, (groups, model))| b.push_analysed(p, groups, model))
                .expect("embedded os regexes have their groups")
                .build()
                .expect("embedded os regexes compile")
        };
        std::thread::scope(|scope| {
            let os = std::thread::Builder::new().name("trailship-uap-os".into()).spawn_scoped(scope, compile_os);
            let ua = data
                .user_agent_parsers
                .into_iter()
                .zip(ua_models)
                .try_fold(user_agent::Builder::new(), |b, (p, (groups, model))| b.push_analysed(p, groups, model))
                .expect("embedded user agent regexes have their groups")
                .build()
                .expect("embedded user agent regexes compile");
            let os = match os {
                Ok(handle) => handle.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to spare: compile them here.
                Err(_) => compile_os(),
            };
            Parsers { ua, os }
        })
    }
}

impl Default for Agents {
    fn default() -> Self {
        Agents::new()
    }
}

/// Agents CloudTrail writes itself, which no general parser knows.
fn cloudtrail_agent(ua: &str) -> Option<Agent> {
    let named = |name: &str| Some(Agent { name: Some(name.to_owned()), ..Agent::default() });
    match ua {
        "AWS Internal" => return named("AWS Internal"),
        "console.amazonaws.com" | "console.aws.amazon.com" => return named("AWS Management Console"),
        "signin.amazonaws.com" => return named("AWS Sign-In"),
        _ => {}
    }
    if !ua.contains(' ') && ua.ends_with(".amazonaws.com") {
        // A service principal acting for the caller, e.g. `cloudformation.amazonaws.com`.
        return named(ua);
    }
    for (marker, name) in [("S3Console/", "S3 Console"), ("Terraform/", "Terraform")] {
        if let Some(at) = ua.find(marker) {
            let version = ua[at + marker.len()..].split([' ', ',', ';', ')']).next().unwrap_or("");
            return Some(Agent {
                name: Some(name.to_owned()),
                version: Some(version.to_owned()).filter(|v| !v.is_empty()),
                os: sdk_os(ua),
            });
        }
    }
    None
}

/// `name/version` of the first product token, e.g. `aws-sdk-go-v2/1.21.0 os/linux`.
fn first_product(ua: &str) -> Option<(&str, &str)> {
    let token = ua.split_whitespace().next()?;
    let (name, version) = token.split_once('/')?;
    (!name.is_empty()).then_some((name, version.trim_end_matches([',', ';'])))
}

/// The `os/<name>` token AWS SDKs write.
fn sdk_os(ua: &str) -> Option<String> {
    let token = ua.split_whitespace().find_map(|t| t.strip_prefix("os/"))?;
    let name = token.split(['#', '/']).next()?;
    Some(match name {
        "linux" => "Linux".to_owned(),
        "macos" => "macOS".to_owned(),
        "windows" => "Windows".to_owned(),
        other => other.to_owned(),
    })
}

fn join_version<S: AsRef<str>>(parts: [Option<S>; 4]) -> Option<String> {
    let mut out = String::new();
    for p in parts.iter().map_while(|p| p.as_ref()) {
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(p.as_ref());
    }
    (!out.is_empty()).then_some(out)
}

static AGENTS: std::sync::LazyLock<Agents> = std::sync::LazyLock::new(Agents::new);

/// The `user_agent` object (original, name, version, os) for `original`, from the shared cache.
pub fn json(original: &str) -> Arc<[u8]> {
    AGENTS.json(original)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(ua: &str) -> (Option<String>, Option<String>, Option<String>) {
        let a = Agents::new().parse(ua);
        (a.name, a.version, a.os)
    }

    fn s(v: &str) -> Option<String> {
        Some(v.to_owned())
    }

    #[test]
    fn cloudtrail_tools_get_meaningful_names() {
        assert_eq!(parse("AWS Internal"), (s("AWS Internal"), None, None));
        assert_eq!(parse("console.amazonaws.com"), (s("AWS Management Console"), None, None));
        assert_eq!(parse("cloudformation.amazonaws.com"), (s("cloudformation.amazonaws.com"), None, None));
        let cli = parse("aws-cli/2.13.25 Python/3.11.6 Linux/6.2.0-1016-aws exe/x86_64.ubuntu.22 prompt/off");
        assert_eq!((cli.0.as_deref(), cli.1.as_deref()), (Some("aws-cli"), Some("2.13.25")));
        let boto =
            parse("Boto3/1.28.62 md/Botocore#1.31.62 ua/2.0 os/linux#5.10.192 md/arch#x86_64 lang/python#3.11.6");
        assert_eq!(boto, (s("Boto3"), s("1.28.62"), s("Linux")));
        let s3 = parse(
            "[S3Console/0.4, aws-internal/3 aws-sdk-java/1.12.488 Linux/5.10.184 OpenJDK_64-Bit_Server_VM/25.372-b08 java/1.8.0_372 vendor/Oracle_Corporation cfg/retry-mode/standard]",
        );
        assert_eq!((s3.0.as_deref(), s3.1.as_deref()), (Some("S3 Console"), Some("0.4")));
        let go = parse("aws-sdk-go-v2/1.21.0 os/macos lang/go#1.21.1 md/GOOS#darwin md/GOARCH#arm64");
        assert_eq!(go, (s("aws-sdk-go-v2"), s("1.21.0"), s("macOS")));
    }

    #[test]
    fn browsers_come_from_uap() {
        let chrome = parse(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/118.0.0.0 Safari/537.36",
        );
        assert_eq!((chrome.0.as_deref(), chrome.2.as_deref()), (Some("Chrome"), Some("Windows")));
        assert_eq!(chrome.1.as_deref().map(|v| v.starts_with("118.0")), Some(true));
    }

    #[test]
    fn regexes_compile_only_for_agents_that_need_them() {
        let agents = Agents::new();
        for ua in ["AWS Internal", "console.amazonaws.com", "lambda.amazonaws.com", "[S3Console/0.4]"] {
            agents.parse(ua);
        }
        assert!(agents.parsers.get().is_none(), "cloudtrail's own agents need no regex");
        agents.parse("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Firefox/120.0");
        assert!(agents.parsers.get().is_some());
    }

    #[test]
    fn every_embedded_regex_compiles_and_an_sdk_agent_compiles_few() {
        let agents = Agents::new();
        agents.parse("Boto3/1.28.62 md/Botocore#1.31.62 ua/2.0 os/linux#5.10.192 md/arch#x86_64 lang/python#3.11.6");
        let parsers = agents.parsers.get().expect("an sdk agent needs uap");
        let (ua, os) = (parsers.ua.compiled(), parsers.os.compiled());
        assert!(ua + os < 40, "{ua} user agent and {os} os regexes compiled for one agent");
        parsers.ua.compile_all().unwrap();
        parsers.os.compile_all().unwrap();
        assert!(parsers.ua.compiled() + parsers.os.compiled() > 500);
    }

    #[test]
    fn json_is_cached_and_escaped() {
        let agents = Agents::new();
        let a = agents.json("odd \"agent\"/1.0");
        let b = agents.json("odd \"agent\"/1.0");
        assert!(Arc::ptr_eq(&a, &b));
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["original"], "odd \"agent\"/1.0");
        assert!(v["name"].is_string());
    }
}
