//! The `trailship` binary: parses the command line, loads the configuration, sets up logging and
//! runs the command. Exit codes: 0 success, 1 failure, 2 bad configuration or usage.

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;
use trailship::commands::{self, CommandError};
use trailship::config::Config;

#[derive(Parser)]
#[command(name = "trailship", version, about = "Ships AWS CloudTrail logs from S3 into OpenSearch")]
struct Cli {
    /// Configuration file (TOML); default: trailship.toml if present.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Consume S3 notifications from SQS and index the CloudTrail files they name.
    Run {
        /// Exit 0 once the queue stays empty for a full long-poll and nothing is in flight.
        #[arg(long)]
        drain: bool,
    },
    /// Install or update the index templates, the ISM retention policy and the Dashboards saved
    /// objects, and say what was done.
    Setup {
        /// OpenSearch Dashboards URL to import the dashboards into (overrides dashboards.url).
        #[arg(long, value_name = "URL")]
        dashboards_url: Option<String>,
    },
    /// Send dead-lettered events again once their cause is fixed; delete each dead letter once
    /// its event is indexed.
    ReplayDeadletters {
        /// Only dead letters recorded since: an RFC 3339 time, a date, or an age (90m, 36h, 7d).
        #[arg(long, value_name = "WHEN")]
        since: Option<String>,
        /// Only dead letters whose error_type is this, or whose reason holds this phrase.
        #[arg(long, value_name = "TEXT")]
        reason: Option<String>,
    },
    /// Index a trail's history straight from S3 (the worker's own path), resumable with
    /// --state, or hand it to the workers as notifications (--enqueue).
    Backfill(commands::BackfillArgs),
    /// Check the configuration and every dependency (OpenSearch and its version, auth,
    /// templates; the SQS queue and its redrive policy; the trail bucket; GeoIP files) and
    /// print a checklist. Exit 1 when something is wrong.
    Doctor,
    /// Recompute the daily trend aggregates (trailship-trends-{prefix}-YYYY) of a range of days from the
    /// event indices, for CloudTrail and S3 access logs; idempotent.
    Trends(commands::TrendsArgs),
    /// Recompute the findings (grouped alerts) of a range of days from the event indices;
    /// idempotent: run twice, the same alert documents, each notified once.
    Anomalies(commands::AnomaliesArgs),
    /// Evaluate the Sigma rules over local CloudTrail files (no OpenSearch): one line per match,
    /// then a count per rule; with --filters, what filter rules would drop instead.
    Detect {
        /// More rule files or directories (repeatable), beside detect.rules and the built-in ones.
        #[arg(long = "rules", value_name = "PATH")]
        rules: Vec<PathBuf>,
        /// Filter rule files or directories (repeatable), beside filter.drop: show what they
        /// would drop, per rule and per eventName, instead of the matches.
        #[arg(long = "filters", value_name = "PATH")]
        filters: Vec<PathBuf>,
        /// Files or directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
    /// Index local CloudTrail files or directories (.json.gz or .json, recursively).
    Ingest {
        /// Write the _bulk NDJSON to FILE ('-' for stdout) instead of sending it.
        #[arg(long, value_name = "FILE|-")]
        output: Option<PathBuf>,
        /// Files or directories.
        #[arg(required = true, value_name = "PATH")]
        paths: Vec<PathBuf>,
    },
}

/// Fixed malloc thresholds (glibc). Left to itself, glibc adapts its mmap threshold to the
/// largest block freed so far (up to 32 MiB), after which buffers of several MB come from the
/// per-thread heaps; freed there in ever different sizes they leave free memory that the kernel
/// never gets back, and resident memory can outgrow `limits.memory_mb` (the stress test of
/// eight objects with 200 MB and 3 MiB records checks it does not). Here blocks from 1 MiB are
/// mapped on their own and unmapped when freed, and the heaps give back what is free above
/// 4 MiB at their top. Mapping fresh pages for every batch is avoided by keeping batch buffers
/// for the next batches ([`trailship::index::buffers`]).
#[allow(unsafe_code)]
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; it is called before any other thread runs.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
    }
}

fn main() -> ExitCode {
    tune_allocator();
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) if matches!(cli.command, Command::Doctor) => {
            println!("✗ configuration: {e}\n    fix: see trailship.example.toml for every key");
            eprintln!("trailship: invalid configuration: {e}");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("trailship: invalid configuration: {e}");
            return ExitCode::from(2);
        }
    };
    let source = match &cli.config {
        Some(path) => format!("{} and TRAILSHIP__ variables", path.display()),
        None if std::path::Path::new("trailship.toml").is_file() => "trailship.toml and TRAILSHIP__ variables".into(),
        None => "defaults and TRAILSHIP__ variables".into(),
    };
    commands::init_logging(&config.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("trailship: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run { drain } => commands::run(&config, drain).await,
            Command::Setup { dashboards_url } => commands::setup(&config, dashboards_url).await,
            Command::Doctor => commands::doctor(&config, &source).await,
            Command::Backfill(args) => commands::backfill(&config, args).await,
            Command::Trends(args) => commands::trends(&config, args).await,
            Command::Anomalies(args) => commands::anomalies(&config, args).await,
            Command::Ingest { output, paths } => commands::ingest(&config, output, paths).await,
            Command::Detect { rules, filters, paths } => commands::detect(&config, rules, filters, paths).await,
            Command::ReplayDeadletters { since, reason } => commands::replay_deadletters(&config, since, reason).await,
        }
    });
    // Blocking work still running (a read stuck in the kernel) must not hold the exit: the
    // commands have settled or released everything by now.
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(CommandError::Config(e)) => {
            commands::say(tracing::Level::ERROR, &format!("trailship: invalid configuration: {e}"));
            ExitCode::from(2)
        }
        Err(CommandError::Interrupted) => {
            commands::say(tracing::Level::WARN, "trailship: interrupted; finished work is saved");
            ExitCode::from(130)
        }
        Err(CommandError::Failed(e)) => {
            commands::say(tracing::Level::ERROR, &format!("trailship: {e:#}"));
            ExitCode::FAILURE
        }
    }
}
