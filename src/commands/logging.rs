//! Logging: the `tracing` subscriber on stderr (text or JSON, `log.level` or `RUST_LOG`), and
//! the summary and final lines every command prints whatever the filter says.

use crate::config::LogConfig;

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging(log: &LogConfig) {
    JSON_LOGS.store(log.json, std::sync::atomic::Ordering::Relaxed);
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    // `Targets` (`info,trailship=debug`) rather than `EnvFilter`: EnvFilter's regex engine
    // (`matchers`) switches every `regex` in the process to building full DFAs, which made
    // compiling the user-agent parsers about a third slower.
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| log_filter(log.level).parse().expect("the log filter parses"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    if log.json { registry.with(layer.json()).init() } else { registry.with(layer).init() }
}

/// Log levels when `RUST_LOG` is unset or does not parse: `log.level` for trailship; the AWS
/// SDK's own lines (its credential chain warns with a debug dump of every provider it tried)
/// only at `error` unless `log.level` is `debug` or `trace`. trailship reports what failed
/// itself, in one line.
fn log_filter(level: tracing::Level) -> String {
    const SDK: [&str; 8] = [
        "aws_config",
        "aws_smithy_runtime",
        "aws_runtime",
        "aws_sdk_s3",
        "aws_sdk_sqs",
        "aws_sdk_sts",
        "aws_sdk_sso",
        "aws_sdk_ssooidc",
    ];
    let level = level.as_str().to_ascii_lowercase();
    if level == "debug" || level == "trace" {
        return level;
    }
    std::iter::once(level).chain(SDK.iter().map(|t| format!("{t}=error"))).collect::<Vec<_>>().join(",")
}

static JSON_LOGS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Prints a summary or final error line on stderr whatever `RUST_LOG` says: as it is, or with
/// `log.format = "json"` as a JSON line shaped like the other log lines.
pub fn say(level: tracing::Level, line: &str) {
    if JSON_LOGS.load(std::sync::atomic::Ordering::Relaxed) {
        let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
        let record = serde_json::json!({"timestamp": now, "level": level.as_str(), "fields": {"message": line}, "target": "trailship"});
        eprintln!("{record}");
    } else {
        eprintln!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::log_filter;
    use tracing::Level;

    #[test]
    fn the_sdk_logs_errors_only_unless_the_level_asks_for_debug() {
        let info = log_filter(Level::INFO);
        assert!(info.starts_with("info,aws_config=error,aws_smithy_runtime=error"), "{info}");
        let parsed: tracing_subscriber::filter::Targets = info.parse().unwrap();
        assert!(!parsed.would_enable("aws_config::meta::credentials::chain", &Level::WARN));
        assert!(parsed.would_enable("aws_config::meta::credentials::chain", &Level::ERROR));
        assert!(parsed.would_enable("trailship::pipeline", &Level::INFO));
        let debug: tracing_subscriber::filter::Targets = log_filter(Level::DEBUG).parse().unwrap();
        assert!(debug.would_enable("aws_config::meta::credentials::chain", &Level::WARN));
    }
}
