//! Loading Sigma rules: the built-in ones (`rules/*.yml`, embedded in the binary) and the files
//! and directories of `detect.rules` (directories read recursively, `*.yml` / `*.yaml`, in name
//! order). Rules for other log sources than `product: aws, service: cloudtrail` are skipped and
//! counted; correlation rules are loaded ([`super::correlation`]) once every file is read, so
//! they may reference rules of any file; filter rules are counted as skipped. A file that is not
//! valid Sigma, or a correlation that cannot be evaluated, stops loading with its path and the
//! reason.

use super::Detector;
use rsigma_eval::compile_rule;
use rsigma_parser::{SigmaRule, parse_sigma_yaml};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// The built-in rules (`rules/`): (file name, YAML).
pub const BUILTIN: &[(&str, &str)] = &[
    (
        "aws_access_key_created_for_another_user.yml",
        include_str!("../../rules/aws_access_key_created_for_another_user.yml"),
    ),
    ("aws_cloudtrail_stopped_or_deleted.yml", include_str!("../../rules/aws_cloudtrail_stopped_or_deleted.yml")),
    (
        "aws_ec2_instances_stopped_or_terminated_in_bulk.yml",
        include_str!("../../rules/aws_ec2_instances_stopped_or_terminated_in_bulk.yml"),
    ),
    ("aws_guardduty_detector_deleted.yml", include_str!("../../rules/aws_guardduty_detector_deleted.yml")),
    ("aws_iam_role_trust_policy_changed.yml", include_str!("../../rules/aws_iam_role_trust_policy_changed.yml")),
    ("aws_s3_bucket_made_public.yml", include_str!("../../rules/aws_s3_bucket_made_public.yml")),
    (
        "aws_security_group_opened_to_the_world.yml",
        include_str!("../../rules/aws_security_group_opened_to_the_world.yml"),
    ),
    (
        "aws_security_group_rule_modified_to_the_world.yml",
        include_str!("../../rules/aws_security_group_rule_modified_to_the_world.yml"),
    ),
    ("cis_4_01_unauthorized_api_calls.yml", include_str!("../../rules/cis_4_01_unauthorized_api_calls.yml")),
    ("cis_4_02_console_login_without_mfa.yml", include_str!("../../rules/cis_4_02_console_login_without_mfa.yml")),
    ("cis_4_03_root_account_usage.yml", include_str!("../../rules/cis_4_03_root_account_usage.yml")),
    ("cis_4_04_iam_policy_changes.yml", include_str!("../../rules/cis_4_04_iam_policy_changes.yml")),
    (
        "cis_4_05_cloudtrail_configuration_changes.yml",
        include_str!("../../rules/cis_4_05_cloudtrail_configuration_changes.yml"),
    ),
    (
        "cis_4_06_console_authentication_failures.yml",
        include_str!("../../rules/cis_4_06_console_authentication_failures.yml"),
    ),
    (
        "cis_4_07_kms_key_disabled_or_scheduled_for_deletion.yml",
        include_str!("../../rules/cis_4_07_kms_key_disabled_or_scheduled_for_deletion.yml"),
    ),
    ("cis_4_08_s3_bucket_policy_changes.yml", include_str!("../../rules/cis_4_08_s3_bucket_policy_changes.yml")),
    ("cis_4_09_aws_config_changes.yml", include_str!("../../rules/cis_4_09_aws_config_changes.yml")),
    ("cis_4_10_security_group_changes.yml", include_str!("../../rules/cis_4_10_security_group_changes.yml")),
    ("cis_4_11_network_acl_changes.yml", include_str!("../../rules/cis_4_11_network_acl_changes.yml")),
    ("cis_4_12_network_gateway_changes.yml", include_str!("../../rules/cis_4_12_network_gateway_changes.yml")),
    ("cis_4_13_route_table_changes.yml", include_str!("../../rules/cis_4_13_route_table_changes.yml")),
    ("cis_4_14_vpc_changes.yml", include_str!("../../rules/cis_4_14_vpc_changes.yml")),
    ("cis_4_15_organizations_changes.yml", include_str!("../../rules/cis_4_15_organizations_changes.yml")),
];

/// The built-in correlation rules (`rules/correlations/`): (file name, YAML). A file may hold
/// the rule it counts before the correlation.
pub const BUILTIN_CORRELATIONS: &[(&str, &str)] = &[
    (
        "aws_console_signin_failures_for_one_user.yml",
        include_str!("../../rules/correlations/aws_console_signin_failures_for_one_user.yml"),
    ),
    (
        "aws_console_signin_failures_from_one_address.yml",
        include_str!("../../rules/correlations/aws_console_signin_failures_from_one_address.yml"),
    ),
    (
        "aws_denied_call_burst_per_identity.yml",
        include_str!("../../rules/correlations/aws_denied_call_burst_per_identity.yml"),
    ),
    (
        "aws_ec2_instances_stopped_or_terminated_in_several_calls.yml",
        include_str!("../../rules/correlations/aws_ec2_instances_stopped_or_terminated_in_several_calls.yml"),
    ),
];

/// What loading found.
#[derive(Debug)]
pub struct Loaded {
    /// The rules, ready.
    pub detector: Detector,
    /// Rules loaded, built-in ones included.
    pub rules: usize,
    /// Built-in rules among them.
    pub builtin: usize,
    /// Rules for other log sources (and filter rules), not loaded.
    pub skipped: usize,
    /// The correlation rules.
    pub correlations: Vec<super::correlation::Correlation>,
}

/// Why the rules cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A file or directory cannot be read.
    #[error("cannot read sigma rules at {path}: {reason}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        reason: String,
    },
    /// A file is not a valid Sigma rule (YAML, schema, condition, modifier, regex, CIDR).
    #[error("{path} is not a valid sigma rule: {reason}")]
    Invalid {
        /// The path (or `builtin:<name>`).
        path: String,
        /// The parser's or compiler's reason.
        reason: String,
    },
}

/// A parser or compiler message on one line (regex errors draw the pattern and a caret over
/// several lines).
pub(super) fn one_line(message: &str) -> String {
    let parts: Vec<&str> =
        message.lines().map(str::trim).filter(|l| !l.is_empty() && !l.chars().all(|c| c == '^' || c == '~')).collect();
    parts.join(" ")
}

/// The rules of one file (`name` for messages): its YAML parsed, or the first error in it.
pub(super) fn parse(name: &str, text: &str) -> Result<rsigma_parser::SigmaCollection, LoadError> {
    let invalid = |reason: String| LoadError::Invalid { path: name.to_owned(), reason: one_line(&reason) };
    let collection = parse_sigma_yaml(text).map_err(|e| invalid(e.to_string()))?;
    match collection.errors.first() {
        Some(first) => Err(invalid(first.clone())),
        None => Ok(collection),
    }
}

/// Whether a rule is for CloudTrail records.
pub(super) fn is_cloudtrail(rule: &SigmaRule) -> bool {
    let is = |v: &Option<String>, want: &str| v.as_deref().is_some_and(|s| s.eq_ignore_ascii_case(want));
    is(&rule.logsource.product, "aws") && is(&rule.logsource.service, "cloudtrail")
}

/// The rule files under `path`: the file itself, or a directory's `*.yml` / `*.yaml`, recursively,
/// in name order.
fn files(path: &Path, out: &mut Vec<PathBuf>) -> Result<(), LoadError> {
    let read = |e: std::io::Error| LoadError::Read { path: path.display().to_string(), reason: e.to_string() };
    let meta = std::fs::metadata(path).map_err(read)?;
    if !meta.is_dir() {
        out.push(path.to_owned());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(path).map_err(read)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>().map_err(read)?;
    entries.sort();
    for entry in entries {
        if entry.is_dir() {
            files(&entry, out)?;
        } else if entry.extension().is_some_and(|x| x == "yml" || x == "yaml") {
            out.push(entry);
        }
    }
    Ok(())
}

/// Rule sources in load order: (name for messages, YAML).
pub(super) fn sources(builtin: bool, paths: &[PathBuf]) -> Result<Vec<(String, String, bool)>, LoadError> {
    let mut out: Vec<(String, String, bool)> = Vec::new();
    if builtin {
        out.extend(
            BUILTIN
                .iter()
                .chain(BUILTIN_CORRELATIONS)
                .map(|(name, text)| (format!("builtin:{name}"), (*text).to_owned(), true)),
        );
    }
    for path in paths {
        let mut found = Vec::new();
        files(path, &mut found)?;
        for file in found {
            let text = std::fs::read_to_string(&file)
                .map_err(|e| LoadError::Read { path: file.display().to_string(), reason: e.to_string() })?;
            out.push((file.display().to_string(), text, false));
        }
    }
    Ok(out)
}

/// Loads the built-in rules (when `builtin`) and those under `paths`.
pub fn load(builtin: bool, paths: &[PathBuf]) -> Result<Loaded, LoadError> {
    load_sources(sources(builtin, paths)?)
}

/// Loads rules from (name, YAML, built-in) sources, in order.
pub(crate) fn load_sources(sources: Vec<(String, String, bool)>) -> Result<Loaded, LoadError> {
    let mut detector = Detector::default();
    let (mut rules, mut builtins, mut skipped) = (0, 0, 0);
    let mut ids = BTreeSet::new();
    // Rule references (id and name) → id, and the correlations with their file, for the end.
    let mut by_ref: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    let mut pending = Vec::new();
    for (name, text, is_builtin) in sources {
        let invalid = |reason: String| LoadError::Invalid { path: name.clone(), reason: one_line(&reason) };
        let collection = parse(&name, &text)?;
        if collection.rules.is_empty() && collection.correlations.is_empty() && collection.filters.is_empty() {
            return Err(invalid("no rule in it".into()));
        }
        skipped += collection.filters.len();
        pending.extend(collection.correlations.into_iter().map(|c| (name.clone(), c, is_builtin)));
        for rule in &collection.rules {
            if !is_cloudtrail(rule) {
                skipped += 1;
                continue;
            }
            let compiled = compile_rule(rule).map_err(|e| invalid(format!("rule {:?}: {e}", rule.title)))?;
            detector.push(rule, compiled);
            let id = rule.id.clone().unwrap_or_else(|| format!("title:{}", rule.title));
            by_ref.insert(id.clone(), id.clone());
            if let Some(rule_name) = &rule.name {
                by_ref.insert(rule_name.clone(), id.clone());
            }
            if !ids.insert(id.clone()) {
                tracing::warn!(rule = %rule.title, id = %id, file = %name, "two rules share this id: their alerts share ids too");
            }
            rules += 1;
            builtins += usize::from(is_builtin);
        }
    }
    let mut correlations = Vec::new();
    let (mut counted, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for (name, rule, is_builtin) in pending {
        let (correlation, quiet) = super::correlation::resolve(&rule, &by_ref).map_err(|reason| {
            LoadError::Invalid { path: name.clone(), reason: format!("correlation rule {:?}: {reason}", rule.title) }
        })?;
        silent.extend(quiet);
        counted.extend(correlation.rules.iter().cloned());
        correlations.push(correlation);
        rules += 1;
        builtins += usize::from(is_builtin);
    }
    detector.correlate(&counted, &silent);
    Ok(Loaded { detector, rules, builtin: builtins, skipped, correlations })
}
