//! One validating pass over a JSON object that finds where it ends and where each of its
//! top-level members lies: the framing of a record and its parse into [`super::RawEvent`] in
//! a single walk of its bytes. It accepts exactly what serde_json accepts for a `RawEvent`
//! (an object whose values are any valid JSON, nested to any depth), which the differential
//! tests below check on every sample record and on thousands of damaged ones. Pure.
//!
//! Strings are searched for their end eight bytes at a time; control characters (which a JSON
//! string may not hold raw) are looked for once over the whole object, as compact records have
//! none at all, and only an object with one is walked again string by string.

/// Where one top-level member lies in the object's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    /// The key's text, between its quotes, as written.
    pub key: (usize, usize),
    /// Whether the key holds an escape (it must be unescaped to be read).
    pub escaped: bool,
    /// The value's JSON text.
    pub value: (usize, usize),
}

/// What [`object`] found at the front of its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    /// A valid object, `len` bytes long; `newline` when a newline or carriage return stands
    /// between its tokens (a pretty-printed record).
    Complete {
        /// Its length.
        len: usize,
        /// Whether whitespace between its tokens holds a line break.
        newline: bool,
    },
    /// The bytes end inside the object: it may go on in input not read yet.
    Short,
    /// Not valid JSON, or not an object.
    Invalid,
}

/// Why a walk stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    Short,
    Invalid,
}

type Step<T = ()> = Result<T, Stop>;

/// Reads the JSON object at the front of `bytes` (leading whitespace is not skipped), putting
/// its top-level members in `members` and using `stack` for the nesting of its values. Bytes
/// after the object are not looked at.
pub fn object(bytes: &[u8], members: &mut Vec<Member>, stack: &mut Vec<bool>) -> Split {
    let mut walk = Walk { b: bytes, i: 0, strict: false, newline: false };
    match walk.object(members, stack) {
        Ok(()) if !has_control(&bytes[..walk.i]) => Split::Complete { len: walk.i, newline: false },
        Ok(()) => {
            // A control byte somewhere: whitespace between tokens, or one inside a string.
            let mut strict = Walk { b: &bytes[..walk.i], i: 0, strict: true, newline: false };
            match strict.object(members, stack) {
                Ok(()) => Split::Complete { len: strict.i, newline: strict.newline },
                Err(_) => Split::Invalid,
            }
        }
        Err(Stop::Short) => Split::Short,
        Err(Stop::Invalid) => Split::Invalid,
    }
}

/// Whether any byte is below 0x20, sixteen at a time (the inner fold has no early exit, so it
/// compiles to vector compares).
fn has_control(bytes: &[u8]) -> bool {
    bytes.chunks(16).any(|chunk| chunk.iter().fold(false, |any, &b| any | (b < 0x20)))
}

/// `0x0101…01` times a byte.
const fn splat(b: u8) -> u64 {
    u64::from_ne_bytes([b; 8])
}

/// The high bit of each byte of `w` that equals zero.
#[inline(always)]
fn zero_bytes(w: u64) -> u64 {
    w.wrapping_sub(splat(1)) & !w & splat(0x80)
}

/// The index of the first `"` or `\` in `bytes` from `from` on, eight bytes at a time (no
/// call, no setup: most JSON strings are a few dozen bytes).
#[inline(always)]
pub fn quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while at + 8 <= bytes.len() {
        let w = u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap_or([0; 8]));
        let hits = zero_bytes(w ^ splat(b'"')) | zero_bytes(w ^ splat(b'\\'));
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes.get(at..)?.iter().position(|&c| c == b'"' || c == b'\\').map(|p| at + p)
}

struct Walk<'b> {
    b: &'b [u8],
    i: usize,
    /// Checks every string for control bytes and notes line breaks between tokens.
    strict: bool,
    newline: bool,
}

impl Walk<'_> {
    #[inline(always)]
    fn peek(&self) -> Step<u8> {
        self.b.get(self.i).copied().ok_or(Stop::Short)
    }

    #[inline(always)]
    fn ws(&mut self) -> Step<u8> {
        loop {
            let c = self.peek()?;
            match c {
                b' ' | b'\t' => self.i += 1,
                b'\n' | b'\r' => {
                    self.newline = true;
                    self.i += 1;
                }
                _ => return Ok(c),
            }
        }
    }

    #[inline(always)]
    fn expect(&mut self, want: u8) -> Step {
        if self.ws()? != want {
            return Err(Stop::Invalid);
        }
        self.i += 1;
        Ok(())
    }

    /// The object at `i`, its members kept.
    fn object(&mut self, members: &mut Vec<Member>, stack: &mut Vec<bool>) -> Step {
        members.clear();
        if self.peek()? != b'{' {
            return Err(Stop::Invalid);
        }
        self.i += 1;
        if self.ws()? == b'}' {
            self.i += 1;
            return Ok(());
        }
        loop {
            self.expect(b'"')?;
            let start = self.i;
            let escaped = self.string()?;
            let key = (start, self.i - 1);
            self.expect(b':')?;
            self.ws()?;
            let start = self.i;
            self.value(stack)?;
            members.push(Member { key, escaped, value: (start, self.i) });
            match self.ws()? {
                b',' => self.i += 1,
                b'}' => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return Err(Stop::Invalid),
            }
        }
    }

    /// The string whose opening quote is just behind `i`; leaves `i` after its closing quote.
    /// Returns whether it holds an escape.
    #[inline(always)]
    fn string(&mut self) -> Step<bool> {
        let mut escaped = false;
        loop {
            let start = self.i;
            let at = self.to_quote_or_backslash()?;
            if self.strict && has_control(&self.b[start..at]) {
                return Err(Stop::Invalid);
            }
            self.i = at + 1;
            if self.b[at] == b'"' {
                return Ok(escaped);
            }
            escaped = true;
            self.escape()?;
        }
    }

    #[inline(always)]
    fn to_quote_or_backslash(&self) -> Step<usize> {
        quote_or_backslash(self.b, self.i).ok_or(Stop::Short)
    }

    /// The escape whose backslash is just behind `i`.
    fn escape(&mut self) -> Step {
        match self.peek()? {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 1,
            b'u' => {
                let hex = self.b.get(self.i + 1..self.i + 5).ok_or(Stop::Short)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(Stop::Invalid);
                }
                self.i += 5;
            }
            _ => return Err(Stop::Invalid),
        }
        Ok(())
    }

    /// One value of any kind at `i` (not whitespace), nested to any depth: `stack` holds
    /// whether each open container is an object.
    fn value(&mut self, stack: &mut Vec<bool>) -> Step {
        stack.clear();
        loop {
            // A value starts here.
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    self.string()?;
                }
                b'{' => {
                    self.i += 1;
                    if self.ws()? == b'}' {
                        self.i += 1;
                    } else {
                        stack.push(true);
                        self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.i += 1;
                    if self.ws()? == b']' {
                        self.i += 1;
                    } else {
                        stack.push(false);
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(Stop::Invalid),
            }
            // A value ended: close what it ends, up to the next one.
            loop {
                let Some(&in_object) = stack.last() else { return Ok(()) };
                match self.ws()? {
                    b',' => {
                        self.i += 1;
                        if in_object {
                            self.key()?;
                        } else {
                            self.ws()?;
                        }
                        break;
                    }
                    b'}' if in_object => {
                        self.i += 1;
                        stack.pop();
                    }
                    b']' if !in_object => {
                        self.i += 1;
                        stack.pop();
                    }
                    _ => return Err(Stop::Invalid),
                }
            }
        }
    }

    /// `"key":` inside a nested object, up to the value's first byte.
    fn key(&mut self) -> Step {
        self.expect(b'"')?;
        self.string()?;
        self.expect(b':')?;
        self.ws()?;
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Step {
        let end = self.i + word.len();
        match self.b.get(self.i..end) {
            Some(got) if got == word => {
                self.i = end;
                Ok(())
            }
            Some(_) => Err(Stop::Invalid),
            None if word.starts_with(&self.b[self.i..]) => Err(Stop::Short),
            None => Err(Stop::Invalid),
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Step {
        if self.peek()? == b'-' {
            self.i += 1;
        }
        match self.peek()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return Err(Stop::Invalid),
        }
        if self.peek()? == b'.' {
            self.i += 1;
            if !self.peek()?.is_ascii_digit() {
                return Err(Stop::Invalid);
            }
            self.digits()?;
        }
        if matches!(self.peek()?, b'e' | b'E') {
            self.i += 1;
            if matches!(self.peek()?, b'+' | b'-') {
                self.i += 1;
            }
            if !self.peek()?.is_ascii_digit() {
                return Err(Stop::Invalid);
            }
            self.digits()?;
        }
        Ok(())
    }

    fn digits(&mut self) -> Step {
        while self.peek()?.is_ascii_digit() {
            self.i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
