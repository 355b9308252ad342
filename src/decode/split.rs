//! One validating pass over a JSON object that finds where it ends and where each of its
//! members lies, at every depth: the framing of a record, its parse into [`super::RawEvent`]
//! and the map detection walks nested fields with ([`super::Tape`]), in a single walk of its
//! bytes. It accepts exactly what serde_json accepts for a `RawEvent`
//! (an object whose values are any valid JSON, nested to any depth), which the differential
//! tests below check on every sample record and on thousands of damaged ones. Pure.
//!
//! Strings are searched for their end eight bytes at a time; control characters (which a JSON
//! string may not hold raw) are counted once over the whole object and must all be whitespace
//! the walk stepped over between tokens.

use std::ops::Range;

/// Where one member of the object, or one value nested in one, lies in the object's bytes.
/// [`object`] lists them in document order, each container's members right after it: the
/// top-level members are the one at index 0 and each one's `end` after it. Offsets are 32-bit
/// (a record is at most `limits.max_record_bytes`, 256 MiB), so a member is 20 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Member {
    key: (u32, u32),
    value: (u32, u32),
    end: u32,
    escaped: bool,
}

impl Member {
    /// The key's text, between its quotes, as written (empty for an array's element).
    pub fn key(&self) -> Range<usize> {
        self.key.0 as usize..self.key.1 as usize
    }

    /// Whether the key holds an escape (it must be unescaped to be read).
    pub fn escaped(&self) -> bool {
        self.escaped
    }

    /// The value's JSON text.
    pub fn value(&self) -> Range<usize> {
        self.value.0 as usize..self.value.1 as usize
    }

    /// The index just past this value's own nested members in the list.
    pub fn end(&self) -> usize {
        self.end as usize
    }
}

/// At most this many members are listed for one object (a record's nested values are a few
/// dozen; a hostile one could hold millions): past it only the top-level ones are.
pub const MAX_MEMBERS: usize = 8192;

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
        /// Whether the members nested in its values are listed too (not past
        /// [`MAX_MEMBERS`]).
        nested: bool,
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
    /// More than [`MAX_MEMBERS`] members.
    Full,
}

type Step<T = ()> = Result<T, Stop>;

/// Reads the JSON object at the front of `bytes` (leading whitespace is not skipped), listing
/// its members in `members` and using `stack` for the nesting of its values. Bytes after the
/// object are not looked at.
pub fn object(bytes: &[u8], members: &mut Vec<Member>, stack: &mut Nesting) -> Split {
    if u32::try_from(bytes.len()).is_err() {
        // Offsets are 32-bit; nothing this large is read as one record.
        return Split::Invalid;
    }
    let mut nested = true;
    let mut walk = Walk::new(bytes, nested);
    let mut read = walk.object(members, stack);
    if read == Err(Stop::Full) {
        nested = false;
        walk = Walk::new(bytes, nested);
        read = walk.object(members, stack);
    }
    match read {
        // Every byte below 0x20 must be whitespace the walk stepped over between tokens: one
        // more is inside a string, where JSON refuses it.
        Ok(()) if controls(&bytes[..walk.i]) == walk.spaces => {
            Split::Complete { len: walk.i, newline: walk.newline, nested }
        }
        Ok(()) => Split::Invalid,
        Err(Stop::Short) => Split::Short,
        Err(Stop::Invalid | Stop::Full) => Split::Invalid,
    }
}

/// The members [`object`] listed for one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed<'a> {
    /// The list.
    pub members: &'a [Member],
    /// Whether it holds the nested members too.
    pub nested: bool,
}

/// The containers open in a walk, in memory that stays small whatever the depth (a record of
/// 4 MB of `[` is valid JSON up to its end): one bit each for whether it is an object, and the
/// member index of each one listed (at most [`MAX_MEMBERS`]).
#[derive(Debug, Default)]
pub struct Nesting {
    /// Bit `d % 64` of word `d / 64`: whether the container at depth `d` is an object.
    kinds: Vec<u64>,
    depth: usize,
    /// The member index of each open container that is listed, innermost last.
    listed: Vec<u32>,
}

impl Nesting {
    fn clear(&mut self) {
        self.kinds.clear();
        self.depth = 0;
        self.listed.clear();
    }

    fn push(&mut self, object: bool, at: Option<usize>) {
        let (word, bit) = (self.depth / 64, self.depth % 64);
        if word == self.kinds.len() {
            self.kinds.push(0);
        }
        if object {
            self.kinds[word] |= 1 << bit;
        } else {
            self.kinds[word] &= !(1 << bit);
        }
        self.depth += 1;
        if let Some(at) = at {
            self.listed.push(at as u32);
        }
    }

    /// Whether the innermost open container is an object; `None` when none is open.
    fn top(&self) -> Option<bool> {
        let d = self.depth.checked_sub(1)?;
        Some(self.kinds[d / 64] >> (d % 64) & 1 == 1)
    }

    /// Closes the innermost container, which was pushed with its member index when `listed`;
    /// returns that index.
    fn pop(&mut self, listed: bool) -> Option<usize> {
        self.depth -= 1;
        if listed { self.listed.pop().map(|at| at as usize) } else { None }
    }

    fn is_empty(&self) -> bool {
        self.depth == 0
    }
}

/// How many bytes are below 0x20: counted in bytes over runs of 255 (no early exit, narrow
/// lanes: it compiles to sixteen compares at a time).
fn controls(bytes: &[u8]) -> usize {
    bytes.chunks(255).map(|run| usize::from(run.iter().fold(0u8, |n, &b| n + u8::from(b < 0x20)))).sum()
}

/// The index of the first `"` or `\` in `bytes` from `from` on, eight bytes a step (no call,
/// no setup: most JSON strings are a few dozen bytes; memchr's vector search measured slower
/// in wall time on CloudTrail's strings).
#[inline(always)]
pub fn quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    let mut at = from;
    while let Some(chunk) = bytes.get(at..at + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let hits = zero_bytes(w ^ splat(b'"')) | zero_bytes(w ^ splat(b'\\'));
        if hits != 0 {
            return Some(at + (hits.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    bytes.get(at..)?.iter().position(|&c| c == b'"' || c == b'\\').map(|p| at + p)
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

struct Walk<'b> {
    b: &'b [u8],
    i: usize,
    /// Tabs, newlines and carriage returns stepped over between tokens.
    spaces: usize,
    /// Whether a newline or carriage return was among them.
    newline: bool,
    /// Lists the members nested in the top-level values too.
    nested: bool,
}

impl<'b> Walk<'b> {
    fn new(b: &'b [u8], nested: bool) -> Self {
        Walk { b, i: 0, spaces: 0, newline: false, nested }
    }

    #[inline(always)]
    fn peek(&self) -> Step<u8> {
        self.b.get(self.i).copied().ok_or(Stop::Short)
    }

    #[inline(always)]
    fn ws(&mut self) -> Step<u8> {
        loop {
            let c = self.peek()?;
            match c {
                b' ' => self.i += 1,
                b'\t' => {
                    self.spaces += 1;
                    self.i += 1;
                }
                b'\n' | b'\r' => {
                    self.spaces += 1;
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

    /// The object at `i`, its members listed.
    fn object(&mut self, members: &mut Vec<Member>, stack: &mut Nesting) -> Step {
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
            let (key, escaped) = self.key()?;
            let at = members.len();
            members.push(Member { key: narrow(key), escaped, value: (self.i as u32, 0), end: 0 });
            self.value(members, stack)?;
            close(members, Some(at), self.i);
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
            let at = self.to_quote_or_backslash()?;
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

    /// One value of any kind at `i` (not whitespace), nested to any depth, listing the values
    /// inside it when `nested`: `stack` holds the containers open.
    fn value(&mut self, members: &mut Vec<Member>, stack: &mut Nesting) -> Step {
        stack.clear();
        // The key of the value about to start, inside an object.
        let mut key = ((0, 0), false);
        loop {
            // A value starts here: listed when it is inside a container.
            let at = if self.nested && !stack.is_empty() {
                if members.len() >= MAX_MEMBERS {
                    return Err(Stop::Full);
                }
                members.push(Member { key: narrow(key.0), escaped: key.1, value: (self.i as u32, 0), end: 0 });
                Some(members.len() - 1)
            } else {
                None
            };
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
                        stack.push(true, at);
                        key = self.key()?;
                        continue;
                    }
                }
                b'[' => {
                    self.i += 1;
                    if self.ws()? == b']' {
                        self.i += 1;
                    } else {
                        stack.push(false, at);
                        key = ((0, 0), false);
                        continue;
                    }
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(Stop::Invalid),
            }
            close(members, at, self.i);
            // A value ended: close what it ends, up to the next one.
            loop {
                let Some(in_object) = stack.top() else { return Ok(()) };
                // Every container but the outermost is listed when the walk lists.
                let listed = self.nested && stack.depth >= 2;
                match self.ws()? {
                    b',' => {
                        self.i += 1;
                        if in_object {
                            key = self.key()?;
                        } else {
                            self.ws()?;
                        }
                        break;
                    }
                    b'}' if in_object => {
                        self.i += 1;
                        let open = stack.pop(listed);
                        close(members, open, self.i);
                    }
                    b']' if !in_object => {
                        self.i += 1;
                        let open = stack.pop(listed);
                        close(members, open, self.i);
                    }
                    _ => return Err(Stop::Invalid),
                }
            }
        }
    }

    /// `"key":` up to the value's first byte: where the key's text lies and whether it holds
    /// an escape.
    fn key(&mut self) -> Step<((usize, usize), bool)> {
        self.expect(b'"')?;
        let start = self.i;
        let escaped = self.string()?;
        let key = (start, self.i - 1);
        self.expect(b':')?;
        self.ws()?;
        Ok((key, escaped))
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

/// A key's place in 32 bits (the object was checked to be shorter than 4 GiB).
#[inline(always)]
fn narrow((start, end): (usize, usize)) -> (u32, u32) {
    (start as u32, end as u32)
}

/// Ends the listed value at `at` (if it is listed) at byte `end`, after its nested members.
#[inline(always)]
fn close(members: &mut [Member], at: Option<usize>, end: usize) {
    if let Some(at) = at {
        let after = members.len();
        let member = &mut members[at];
        member.value.1 = end as u32;
        member.end = after as u32;
    }
}

#[cfg(test)]
#[path = "split_tests.rs"]
mod tests;
