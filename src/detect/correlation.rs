//! Sigma correlation rules (specification 2.x), loaded beside the single-event rules:
//! `event_count`, `value_count`, `temporal` and `temporal_ordered`, with `group-by`,
//! `timespan`, a threshold `condition` (or, for the temporal types, all referenced rules or a
//! boolean expression over them) and `generate`. A rule they reference is resolved by its `id`
//! or `name` among the loaded CloudTrail rules; one that does not resolve, a type trailship does
//! not evaluate (`value_sum`, `value_avg`, …), a `session` window or aliases stop loading with
//! the file and the reason. They are evaluated on event time over the indexed events by the
//! findings pass (`crate::findings::correlate`). Pure.

use super::{Level, Match};
use rsigma_parser::{ConditionExpr, ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType};
use std::collections::HashMap;

/// What a correlation counts in its window.
#[derive(Debug, Clone, PartialEq)]
pub enum Kind {
    /// Events.
    EventCount,
    /// Distinct values of these fields (joined).
    ValueCount(Vec<String>),
    /// Whether the referenced rules (or the expression over them) all matched, in any order.
    Temporal(Option<Expr>),
    /// Whether the referenced rules matched in the order listed.
    TemporalOrdered,
}

/// A boolean expression over the referenced rules (resolved to their ids).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// All of these.
    And(Vec<Expr>),
    /// Any of these.
    Or(Vec<Expr>),
    /// Not this.
    Not(Box<Expr>),
    /// This rule matched in the window.
    Rule(String),
}

impl Expr {
    /// Whether the expression holds when the rules `seen` matched.
    pub fn holds(&self, seen: &dyn Fn(&str) -> bool) -> bool {
        match self {
            Expr::And(all) => all.iter().all(|e| e.holds(seen)),
            Expr::Or(any) => any.iter().any(|e| e.holds(seen)),
            Expr::Not(e) => !e.holds(seen),
            Expr::Rule(id) => seen(id),
        }
    }
}

/// A comparison of the threshold condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `lt`.
    Lt,
    /// `lte`.
    Lte,
    /// `gt`.
    Gt,
    /// `gte`.
    Gte,
    /// `eq`.
    Eq,
    /// `neq`.
    Neq,
}

impl Op {
    /// Whether `n` satisfies `self` against `value`.
    pub fn holds(self, n: u64, value: u64) -> bool {
        match self {
            Op::Lt => n < value,
            Op::Lte => n <= value,
            Op::Gt => n > value,
            Op::Gte => n >= value,
            Op::Eq => n == value,
            Op::Neq => n != value,
        }
    }
}

/// One loaded correlation rule.
#[derive(Debug, Clone)]
pub struct Correlation {
    /// What its findings report (its id, title, level, tags).
    pub reported: Match,
    /// What it counts.
    pub kind: Kind,
    /// The ids of the rules it correlates, in the order listed.
    pub rules: Vec<String>,
    /// The fields that make a group (record or document field names, dotted).
    pub group_by: Vec<String>,
    /// The window, in seconds.
    pub timespan: i64,
    /// The threshold, all of which must hold (`event_count`, `value_count`).
    pub predicates: Vec<(Op, u64)>,
}

impl Correlation {
    /// Whether a count meets the threshold.
    pub fn meets(&self, n: u64) -> bool {
        !self.predicates.is_empty() && self.predicates.iter().all(|(op, v)| op.holds(n, *v))
    }
}

/// Resolves `rule` against the loaded rules (`by_ref`: id or name → id). The rules it
/// references that do not generate alerts of their own are returned too.
pub fn resolve(rule: &CorrelationRule, by_ref: &HashMap<String, String>) -> Result<(Correlation, Vec<String>), String> {
    let ids: Vec<String> = rule
        .rules
        .iter()
        .map(|r| {
            by_ref
                .get(r)
                .cloned()
                .ok_or_else(|| format!("it references {r:?}, which is no loaded cloudtrail rule's id or name"))
        })
        .collect::<Result<_, _>>()?;
    if rule.window != rsigma_parser::WindowMode::Sliding {
        return Err("only sliding windows are evaluated".into());
    }
    if !rule.aliases.is_empty() {
        return Err("field aliases are not evaluated".into());
    }
    let predicates = |c: &CorrelationCondition| -> Vec<(Op, u64)> {
        match c {
            CorrelationCondition::Threshold { predicates, .. } => {
                predicates.iter().map(|(op, v)| (op_of(op), *v)).collect()
            }
            CorrelationCondition::Extended(_) => Vec::new(),
        }
    };
    let kind = match rule.correlation_type {
        CorrelationType::EventCount => Kind::EventCount,
        CorrelationType::ValueCount => match &rule.condition {
            CorrelationCondition::Threshold { field: Some(fields), .. } if !fields.is_empty() => {
                Kind::ValueCount(fields.clone())
            }
            _ => return Err("value_count needs condition.field".into()),
        },
        CorrelationType::Temporal => Kind::Temporal(match &rule.condition {
            CorrelationCondition::Extended(e) => Some(expr(e, &rule.rules, &ids)?),
            CorrelationCondition::Threshold { .. } => None,
        }),
        CorrelationType::TemporalOrdered => Kind::TemporalOrdered,
        other => {
            return Err(format!(
                "correlation type {} is not evaluated (event_count, value_count, temporal, temporal_ordered are)",
                other.as_str()
            ));
        }
    };
    let predicates = predicates(&rule.condition);
    if matches!(kind, Kind::EventCount | Kind::ValueCount(_)) && predicates.is_empty() {
        return Err(format!("{} needs a threshold condition (gte: 10, …)", rule.correlation_type.as_str()));
    }
    let timespan = rule.timespan.seconds as i64;
    if timespan <= 0 {
        return Err("timespan must be at least a second".into());
    }
    let id = rule.id.clone().unwrap_or_else(|| format!("title:{}", rule.title));
    let level = rule.level.as_ref().map_or(Level::Informational, |l| Level::from_sigma(Some(l)));
    let silent = if rule.generate { Vec::new() } else { ids.clone() };
    let correlation = Correlation {
        reported: Match::new(&id, &rule.title, level, rule.tags.clone()),
        kind,
        rules: ids,
        group_by: rule.group_by.clone(),
        timespan,
        predicates,
    };
    Ok((correlation, silent))
}

fn op_of(op: &ConditionOperator) -> Op {
    match op {
        ConditionOperator::Lt => Op::Lt,
        ConditionOperator::Lte => Op::Lte,
        ConditionOperator::Gt => Op::Gt,
        ConditionOperator::Gte => Op::Gte,
        ConditionOperator::Eq => Op::Eq,
        ConditionOperator::Neq => Op::Neq,
    }
}

/// A temporal condition over the references (`names`, resolved to `ids` in the same order).
fn expr(e: &ConditionExpr, names: &[String], ids: &[String]) -> Result<Expr, String> {
    Ok(match e {
        ConditionExpr::And(all) => Expr::And(all.iter().map(|e| expr(e, names, ids)).collect::<Result<_, _>>()?),
        ConditionExpr::Or(any) => Expr::Or(any.iter().map(|e| expr(e, names, ids)).collect::<Result<_, _>>()?),
        ConditionExpr::Not(e) => Expr::Not(Box::new(expr(e, names, ids)?)),
        ConditionExpr::Identifier(name) => {
            let at = names
                .iter()
                .position(|n| n == name)
                .ok_or_else(|| format!("the condition names {name:?}, which the rule does not reference"))?;
            Expr::Rule(ids[at].clone())
        }
        ConditionExpr::Selector { .. } => {
            return Err("selectors (1 of …) in a temporal condition are not evaluated".into());
        }
    })
}
