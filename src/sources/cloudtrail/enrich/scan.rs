//! A minimal tokenizer over JSON that is already known to be valid (a [`crate::decode::Raw`]
//! the record's reading checked). It hands out borrowed byte slices of the input, so the free-form parts of a record
//! can be walked and copied without building a `serde_json::Value` tree. Pure.

use crate::decode::split::quote_or_backslash;

/// One token of a valid JSON text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token<'a> {
    /// `{`
    ObjStart,
    /// `}`
    ObjEnd,
    /// `[`
    ArrStart,
    /// `]`
    ArrEnd,
    /// An object key: the raw (still escaped) bytes between the quotes.
    Key(&'a [u8]),
    /// A string value: the raw (still escaped) bytes between the quotes.
    Str(&'a [u8]),
    /// A number, `true`, `false` or `null`, as written.
    Atom(&'a [u8]),
}

/// Walks the tokens of `buf`, which must be valid JSON (garbage in gives tokens that are garbage
/// too, never a panic).
#[derive(Debug, Clone)]
pub struct Scanner<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Byte offset where the last token started (for strings: the opening quote).
    start: usize,
}

impl<'a> Scanner<'a> {
    /// A scanner at the start of `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Scanner { buf, pos: 0, start: 0 }
    }

    /// Offset of the first byte of the last token returned (the opening quote of a string).
    pub fn token_start(&self) -> usize {
        self.start
    }

    /// Offset just past the last token returned (past the closing quote of a string).
    pub fn token_end(&self) -> usize {
        self.pos
    }

    /// Skips whitespace and the separators `,` and `:`; returns the next significant byte.
    fn skip_separators(&mut self) -> Option<u8> {
        while let Some(&b) = self.buf.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\n' | b'\r' | b',' | b':' => self.pos += 1,
                _ => return Some(b),
            }
        }
        None
    }

    /// Reads the string whose opening quote is at `self.pos`; returns its raw content.
    fn string(&mut self) -> &'a [u8] {
        let body = self.pos + 1;
        let mut i = body;
        loop {
            match quote_or_backslash(self.buf, i) {
                Some(at) if self.buf[at] == b'\\' => i = at + 2,
                Some(at) => {
                    self.pos = at + 1;
                    return &self.buf[body..at];
                }
                None => {
                    self.pos = self.buf.len();
                    return &self.buf[body.min(self.buf.len())..];
                }
            }
        }
    }
}

impl<'a> Iterator for Scanner<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let b = self.skip_separators()?;
        self.start = self.pos;
        let token = match b {
            b'{' => Token::ObjStart,
            b'}' => Token::ObjEnd,
            b'[' => Token::ArrStart,
            b']' => Token::ArrEnd,
            b'"' => {
                let s = self.string();
                // A string followed by `:` is a key.
                let mut j = self.pos;
                while matches!(self.buf.get(j), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                    j += 1;
                }
                return Some(if self.buf.get(j) == Some(&b':') { Token::Key(s) } else { Token::Str(s) });
            }
            _ => {
                let end = self.buf[self.pos..]
                    .iter()
                    .position(|c| matches!(c, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'))
                    .map_or(self.buf.len(), |n| self.pos + n);
                let atom = &self.buf[self.pos..end];
                self.pos = end;
                return Some(Token::Atom(atom));
            }
        };
        self.pos += 1;
        Some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::Token::*;
    use super::*;

    #[test]
    fn tokens_borrow_the_raw_bytes() {
        let json = br#" {"a" : [1, -2.5e3, true, null, "x\"y"], "b\\c":{"d":{}} , "e":[]}"#;
        let tokens: Vec<_> = Scanner::new(json).collect();
        assert_eq!(
            tokens,
            vec![
                ObjStart,
                Key(b"a"),
                ArrStart,
                Atom(b"1"),
                Atom(b"-2.5e3"),
                Atom(b"true"),
                Atom(b"null"),
                Str(br#"x\"y"#),
                ArrEnd,
                Key(br"b\\c"),
                ObjStart,
                Key(b"d"),
                ObjStart,
                ObjEnd,
                ObjEnd,
                Key(b"e"),
                ArrStart,
                ArrEnd,
                ObjEnd
            ]
        );
    }

    #[test]
    fn offsets_cover_the_whole_string_token() {
        let json = br#"{"k":"v\\"}"#;
        let mut s = Scanner::new(json);
        s.next();
        s.next();
        assert_eq!(s.next(), Some(Str(br"v\\")));
        assert_eq!(&json[s.token_start()..s.token_end()], br#""v\\""#);
    }

    #[test]
    fn truncated_input_ends_without_panicking() {
        assert_eq!(Scanner::new(br#"{"a":"unterminated\"#).count(), 3);
        assert_eq!(Scanner::new(b"").count(), 0);
    }
}
