//! The text every match of a regular expression must contain: a set of strings, one of which
//! appears in any string the expression matches (`.+:assumed-role/aws:.+` gives
//! `:assumed-role/aws:`). The detection index uses it to skip a `|re` rule for records whose
//! field cannot hold one. Pure.

use regex_syntax::hir::{Hir, HirKind};

/// At most this many alternatives: a longer list costs more to search than the rule.
const MAX_ALTERNATIVES: usize = 16;

/// One of these strings appears in every match of `pattern` (as the `regex` crate reads it),
/// each at least two bytes long; `None` when the expression promises no such text or does not
/// parse.
pub fn required(pattern: &str) -> Option<Vec<String>> {
    let hir = regex_syntax::Parser::new().parse(pattern).ok()?;
    let set = of(&hir)?;
    set.into_iter().map(|bytes| String::from_utf8(bytes).ok()).collect()
}

/// The best set for `hir`: the one whose shortest member is longest.
fn of(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Literal(literal) => Some(vec![literal.0.to_vec()]).filter(|s| usable(s)),
        HirKind::Capture(capture) => of(&capture.sub),
        HirKind::Repetition(repetition) if repetition.min >= 1 => of(&repetition.sub),
        HirKind::Concat(items) => {
            // A run of literals next to each other is one longer literal.
            let mut best: Option<Vec<Vec<u8>>> = None;
            let mut run: Vec<u8> = Vec::new();
            for item in items.iter().map(Some).chain([None]) {
                if let Some(HirKind::Literal(literal)) = item.map(Hir::kind) {
                    run.extend_from_slice(&literal.0);
                    continue;
                }
                let candidates = [Some(vec![std::mem::take(&mut run)]).filter(|s| usable(s)), item.and_then(of)];
                for candidate in candidates.into_iter().flatten() {
                    if best.as_ref().is_none_or(|b| shortest(&candidate) > shortest(b)) {
                        best = Some(candidate);
                    }
                }
            }
            best
        }
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for branch in branches {
                all.extend(of(branch)?);
            }
            all.sort();
            all.dedup();
            Some(all).filter(|s| s.len() <= MAX_ALTERNATIVES)
        }
        _ => None,
    }
}

fn usable(set: &[Vec<u8>]) -> bool {
    set.iter().all(|s| s.len() >= 2)
}

fn shortest(set: &[Vec<u8>]) -> usize {
    set.iter().map(Vec::len).min().unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(pattern: &str) -> Option<Vec<String>> {
        required(pattern)
    }

    #[test]
    fn the_longest_literal_every_match_holds() {
        assert_eq!(req(".+:assumed-role/aws:.+").unwrap(), [":assumed-role/aws:"]);
        assert_eq!(req("^arn:aws:iam::[0-9]{12}:root$").unwrap(), ["arn:aws:iam::"]);
        assert_eq!(req("(GetObject|PutObject)Acl").unwrap(), ["GetObject", "PutObject"]);
        assert_eq!(req("x(abc)+y").unwrap(), ["abc"]);
        assert_eq!(req(r"a\.b\.c").unwrap(), ["a.b.c"]);
    }

    #[test]
    fn nothing_certain_gives_nothing() {
        for pattern in [".*", "a?bc?", "(abc)*", "[a-z]+", "(?i)secret", "abc|.", "a|b|c", "x", "(", ""] {
            assert_eq!(req(pattern), None, "{pattern}");
        }
        let many = (0..20).map(|i| format!("value{i:02}")).collect::<Vec<_>>().join("|");
        assert_eq!(req(&many), None, "too many alternatives");
    }

    /// Every string the expression matches contains one of the literals.
    #[test]
    fn every_match_holds_one() {
        let cases = [
            (".+:assumed-role/aws:.+", "arn:aws:sts::1:assumed-role/aws:ec2-instance/i-1"),
            ("(GetObject|PutObject)Acl", "xPutObjectAcly"),
            ("^(?:ab|cd)+ef$", "abcdabef"),
            ("k(ey)+s", "keyeyeys"),
        ];
        for (pattern, text) in cases {
            assert!(regex::Regex::new(pattern).unwrap().is_match(text), "{pattern} {text}");
            let literals = req(pattern).unwrap();
            assert!(literals.iter().any(|l| text.contains(l.as_str())), "{pattern}: {literals:?}");
        }
    }
}
