//! What the user-agent prefilter needs of each of uap-core's regexes, worked out ahead and
//! embedded (`uap-models.txt`): its capture groups and its model (the literal atoms any match
//! holds, under `and` / `or`), as `ua_parser`'s `analyse` gives them. Parsing ~560 regexes with
//! `regex-syntax` to get them took about 80 M instructions in every process that met a browser,
//! SDK or CLI agent; reading them here takes about 9 M. A test keeps the file
//! equal to what the regexes give. Pure.
//!
//! One line per parser, user agent parsers first: `u` or `o`, the capture groups, the model.
//! A model is `*` (anything passes), `!` (nothing), a JSON string (an atom), or `&(…)` /
//! `|(…)` around its parts (every part / one part).

use regex_filtered::model::Model;
use std::cell::Cell;

/// The stored analyses, in the order of `uap-regexes.json`.
pub(super) const MODELS: &str = include_str!("uap-models.txt");

/// One parser's analysis: capture groups (the whole match counted) and prefilter model.
pub(super) type Analysis = (usize, Model);

/// The user agent and OS analyses in `text`, or what is wrong with it.
pub(super) fn read(text: &str) -> Result<(Vec<Analysis>, Vec<Analysis>), String> {
    let (mut ua, mut os) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        let fail = |what: &str| format!("uap-models.txt line {}: {what}", n + 1);
        let mut parts = line.splitn(3, ' ');
        let (Some(kind), Some(groups), Some(written)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(fail("expected `u|o groups model`"));
        };
        let groups: usize = groups.parse().map_err(|_| fail("capture groups are not a number"))?;
        if groups == 0 {
            return Err(fail("capture groups count the whole match: at least 1"));
        }
        let mut at = 0;
        let model = parse(written.as_bytes(), &mut at).ok_or_else(|| fail("model does not parse"))?;
        if at != written.len() {
            return Err(fail("text after the model"));
        }
        match kind {
            "u" => ua.push((groups, model)),
            "o" => os.push((groups, model)),
            _ => return Err(fail("kind is neither u nor o")),
        }
    }
    Ok((ua, os))
}

fn parse(text: &[u8], at: &mut usize) -> Option<Model> {
    let id = || Cell::new(usize::MAX);
    let first = *text.get(*at)?;
    *at += 1;
    Some(match first {
        b'*' => Model::all(),
        b'!' => Model::none(),
        b'"' => {
            // The closing quote: the first with an even run of backslashes before it.
            let (open, mut from) = (*at, *at);
            let close = loop {
                let quote = from + memchr::memchr(b'"', &text[from..])?;
                let run = text[from..quote].iter().rev().take_while(|&&b| b == b'\\').count();
                if run % 2 == 0 {
                    break quote;
                }
                from = quote + 1;
            };
            *at = close + 1;
            let body = std::str::from_utf8(&text[open..close]).ok()?;
            let atom = if body.contains('\\') {
                serde_json::from_str(std::str::from_utf8(&text[open - 1..=close]).ok()?).ok()?
            } else {
                body.to_owned()
            };
            Model::Atom(id(), atom)
        }
        b'&' | b'|' => {
            if text.get(*at) != Some(&b'(') {
                return None;
            }
            *at += 1;
            let mut parts = Vec::new();
            while *text.get(*at)? != b')' {
                parts.push(parse(text, at)?);
            }
            *at += 1;
            if first == b'&' { Model::And(id(), parts) } else { Model::Or(id(), parts) }
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Appends `model` in the line format.
    fn write(model: &Model, out: &mut String) {
        match model {
            Model::All(_) => out.push('*'),
            Model::None(_) => out.push('!'),
            Model::Atom(_, atom) => out.push_str(&serde_json::to_string(atom).expect("a string serialises")),
            Model::And(_, parts) | Model::Or(_, parts) => {
                out.push_str(if matches!(model, Model::And(..)) { "&(" } else { "|(" });
                parts.iter().for_each(|p| write(p, out));
                out.push(')');
            }
        }
    }

    fn text(model: &Model) -> String {
        let mut out = String::new();
        write(model, &mut out);
        out
    }

    /// The embedded file, written fresh from `uap-regexes.json` (with
    /// `TRAILSHIP_WRITE_UAP_MODELS=1` set, this test writes it instead of comparing).
    #[test]
    fn stored_models_are_what_the_regexes_give() {
        let data: super::super::Data<'static> = serde_json::from_str(super::super::REGEXES).unwrap();
        let mut fresh = String::new();
        for p in &data.user_agent_parsers {
            let (groups, model) = ua_parser::user_agent::analyse(p).unwrap();
            fresh.push_str(&format!("u {groups} {}\n", text(&model)));
        }
        for p in &data.os_parsers {
            let (groups, model) = ua_parser::os::analyse(p).unwrap();
            fresh.push_str(&format!("o {groups} {}\n", text(&model)));
        }
        if std::env::var_os("TRAILSHIP_WRITE_UAP_MODELS").is_some() {
            std::fs::write(concat!(env!("CARGO_MANIFEST_DIR"), "/src/agent/uap-models.txt"), &fresh).unwrap();
        }
        assert!(
            fresh == MODELS,
            "src/agent/uap-models.txt is stale: rerun this test with TRAILSHIP_WRITE_UAP_MODELS=1"
        );
        let (ua, os) = read(MODELS).unwrap();
        assert_eq!((ua.len(), os.len()), (data.user_agent_parsers.len(), data.os_parsers.len()));
        // Read back, every model writes the same line again.
        let again: String = ua
            .iter()
            .map(|(g, m)| format!("u {g} {}\n", text(m)))
            .chain(os.iter().map(|(g, m)| format!("o {g} {}\n", text(m))))
            .collect();
        assert!(again == MODELS);
    }

    #[test]
    fn every_shape_reads_back() {
        let line = r#"u 3 &(|("ab\"c"*!)"x\\y"&())"#;
        let (ua, os) = read(line).unwrap();
        assert!(os.is_empty());
        assert_eq!(ua[0].0, 3);
        assert_eq!(format!("u 3 {}", text(&ua[0].1)), line);
        let Model::And(_, parts) = &ua[0].1 else { panic!("and") };
        assert!(matches!(&parts[1], Model::Atom(_, a) if a == "x\\y"));
        let Model::Or(_, alts) = &parts[0] else { panic!("or") };
        assert!(matches!(&alts[0], Model::Atom(_, a) if a == "ab\"c"));
    }

    #[test]
    fn damaged_lines_are_refused() {
        for bad in ["u 1", "x 1 *", "u one *", "u 0 *", "u 1 &(*", "u 1 \"abc", "u 1 ?", "u 1 **", "u 1 &*"] {
            assert!(read(bad).is_err(), "{bad}");
        }
    }
}
