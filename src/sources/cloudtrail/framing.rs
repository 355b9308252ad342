//! Streaming framing of a CloudTrail log file: reads `{"Records":[…]}` (or a bare `[…]` of
//! events) from any `Read` and hands out one record's bytes at a time. Only the current record
//! and one read-ahead chunk are held, so memory does not grow with the file; a record over the
//! record limit is scanned through without being kept (only its first bytes are), and the buffer
//! shrinks back after a large record. A record the buffer holds whole is framed and parsed in
//! one validating pass ([`crate::decode::split`]), which hands out its members with it; one
//! that runs past the buffer is framed by a scan that tracks strings and nesting only (it
//! resumes across reads and can skip a record over the limit) and read once whole; one that
//! is not a valid object comes without members, for the parser to say what is wrong. A record
//! with newlines between its tokens (a pretty-printed file) is handed out compacted
//! ([`super::compact`]), so every document written from it is one line; compact records are
//! handed out as they are.

use super::compact::compact_in_place;
use crate::decode::split::{self, Listed, Member, Nesting, Split};
use crate::decode::{CHUNK, DecodeError, FrameLimits, HEAD_BYTES};
use std::io::{self, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first byte.
    Start,
    /// Inside the top-level object, expecting a key or `}`.
    TopObject { first: bool },
    /// Inside the records array, expecting a record or `]`.
    Records { first: bool, top_is_array: bool },
    /// After the top-level value: only whitespace may follow.
    Trailer,
    /// Everything was read.
    Done,
}

/// One framed record.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A record within the limit: its raw JSON.
    Record {
        /// Offset in the decompressed stream.
        offset: u64,
        /// The record's bytes.
        bytes: &'a [u8],
        /// Where its members lie in `bytes`, when it was read as a valid JSON object
        /// ([`split::object`]); `None` for anything else.
        members: Option<Listed<'a>>,
    },
    /// A record over the limit, skipped: its size and first [`HEAD_BYTES`] bytes.
    TooLarge {
        /// Offset in the decompressed stream.
        offset: u64,
        /// Its full size in bytes.
        size: u64,
        /// Its first bytes.
        head: &'a [u8],
    },
}

/// Where a value scan is: resumable across refills, and across discards of a record over the
/// limit.
#[derive(Debug, Default)]
struct Scan {
    /// Bytes of the value scanned so far, from `start`.
    i: usize,
    /// Bytes of the value already discarded (over the limit only).
    skipped: u64,
    /// Whether the value is over the record limit.
    over: bool,
    /// Whether a newline or carriage return stands between its tokens (a pretty-printed file).
    newline: bool,
}

/// Yields the records of one CloudTrail log file.
pub struct RecordReader<R> {
    inner: R,
    limits: FrameLimits,
    buf: Vec<u8>,
    /// First bytes of the last record over the limit.
    head: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    start: usize,
    /// End of valid data in `buf`.
    end: usize,
    /// Bytes dropped from the front of `buf` so far (for error offsets).
    dropped: u64,
    eof: bool,
    state: State,
    saw_records: bool,
    /// The members of the record last handed out, and the nesting stack its read used.
    members: Vec<Member>,
    stack: Nesting,
}

impl<R: Read> RecordReader<R> {
    /// Wraps a reader of decompressed JSON, with the default limits.
    pub fn new(inner: R) -> Self {
        Self::with_limits(inner, FrameLimits::default())
    }

    /// Wraps a reader of decompressed JSON.
    pub fn with_limits(inner: R, limits: FrameLimits) -> Self {
        RecordReader {
            inner,
            limits,
            buf: vec![0; CHUNK * 2],
            head: Vec::new(),
            start: 0,
            end: 0,
            dropped: 0,
            eof: false,
            state: State::Start,
            saw_records: false,
            members: Vec::with_capacity(32),
            stack: Nesting::default(),
        }
    }

    /// The next record, or `None` once the file is fully and validly read.
    pub fn next_record(&mut self) -> Result<Option<Framed<'_>>, DecodeError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Start => match self.peek()? {
                    None => return Err(DecodeError::Empty),
                    Some(b'{') => {
                        self.start += 1;
                        self.state = State::TopObject { first: true };
                    }
                    Some(b'[') => {
                        self.start += 1;
                        self.saw_records = true;
                        self.state = State::Records { first: true, top_is_array: true };
                    }
                    Some(_) => return Err(self.syntax("a log file must be a json object or array")),
                },
                State::TopObject { first } => {
                    let b = self.peek_some()?;
                    if b == b'}' {
                        self.start += 1;
                        self.state = State::Trailer;
                        continue;
                    }
                    if !first {
                        self.expect(b',')?;
                    }
                    if self.peek_some()? != b'"' {
                        return Err(self.syntax("expected an object key"));
                    }
                    let scan = self.scan_value()?;
                    let is_records = !scan.over && &self.buf[self.start..self.start + scan.i] == b"\"Records\"";
                    self.start += scan.i;
                    self.expect(b':')?;
                    let v = self.peek_some()?;
                    if is_records {
                        if v != b'[' {
                            return Err(self.syntax("Records is not an array"));
                        }
                        self.start += 1;
                        self.saw_records = true;
                        self.state = State::Records { first: true, top_is_array: false };
                    } else {
                        let scan = self.scan_value()?;
                        self.start += scan.i;
                        self.state = State::TopObject { first: false };
                    }
                }
                State::Records { first, top_is_array } => {
                    if self.peek_some()? == b']' {
                        self.start += 1;
                        self.state = if top_is_array { State::Trailer } else { State::TopObject { first: false } };
                        continue;
                    }
                    if !first {
                        self.expect(b',')?;
                        self.peek_some()?;
                    }
                    let offset = self.offset();
                    self.state = State::Records { first: false, top_is_array };
                    if let Some((len, kept, read)) = self.split_in_buffer() {
                        let s = self.start;
                        self.start += len;
                        if len > self.limits.max_record_bytes {
                            self.head.clear();
                            self.head.extend_from_slice(&self.buf[s..s + HEAD_BYTES]);
                            return Ok(Some(Framed::TooLarge { offset, size: len as u64, head: &self.head }));
                        }
                        let members = read.map(|nested| Listed { members: &self.members, nested });
                        return Ok(Some(Framed::Record { offset, bytes: &self.buf[s..s + kept], members }));
                    }
                    let scan = self.scan_value()?;
                    let s = self.start;
                    self.start += scan.i;
                    if !scan.over && scan.i > self.limits.max_record_bytes {
                        // Over the limit, but read in one go: keep its head the same way.
                        self.head.clear();
                        self.head.extend_from_slice(&self.buf[s..s + HEAD_BYTES]);
                        return Ok(Some(Framed::TooLarge { offset, size: scan.i as u64, head: &self.head }));
                    }
                    if scan.over {
                        let size = scan.skipped + scan.i as u64;
                        return Ok(Some(Framed::TooLarge { offset, size, head: &self.head }));
                    }
                    let mut len = scan.i;
                    if scan.newline {
                        len = compact_in_place(&mut self.buf[s..s + scan.i]);
                    }
                    let bytes = &self.buf[s..s + len];
                    let members = match split::object(bytes, &mut self.members, &mut self.stack) {
                        Split::Complete { len: whole, nested, .. } if whole == len => {
                            Some(Listed { members: &self.members, nested })
                        }
                        _ => None,
                    };
                    return Ok(Some(Framed::Record { offset, bytes, members }));
                }
                State::Trailer => {
                    if self.peek()?.is_some() {
                        return Err(self.syntax("trailing data after the top-level value"));
                    }
                    if !self.saw_records {
                        return Err(DecodeError::NoRecords);
                    }
                    self.state = State::Done;
                }
            }
        }
    }

    /// Reads the record object at `start` with the one validating pass when the buffer holds
    /// all of it: how many bytes it took, how many it keeps (fewer when a pretty-printed record
    /// was compacted in place) and, when `members` lists its members, whether the nested ones
    /// too. `None` leaves the record to the resumable scan (it runs past the buffer, is not an
    /// object, or is not valid JSON).
    fn split_in_buffer(&mut self) -> Option<(usize, usize, Option<bool>)> {
        let bytes = &mut self.buf[self.start..self.end];
        match split::object(bytes, &mut self.members, &mut self.stack) {
            Split::Complete { len, newline: false, nested } => Some((len, len, Some(nested))),
            Split::Complete { len, newline: true, .. } => {
                let kept = compact_in_place(&mut bytes[..len]);
                let read = match split::object(&bytes[..kept], &mut self.members, &mut self.stack) {
                    Split::Complete { len, nested, .. } if len == kept => Some(nested),
                    _ => None,
                };
                Some((len, kept, read))
            }
            Split::Short | Split::Invalid => None,
        }
    }

    /// Offset in the decompressed stream of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.dropped + self.start as u64
    }

    fn syntax(&self, msg: &'static str) -> DecodeError {
        DecodeError::Syntax { offset: self.offset(), msg: msg.into() }
    }

    /// Reads more data, keeping `buf[start..end]`; shrinks the buffer back once a large record
    /// is gone. Returns false at end of input.
    fn fill(&mut self) -> Result<bool, DecodeError> {
        if self.eof {
            return Ok(false);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.dropped += self.start as u64;
            self.end -= self.start;
            self.start = 0;
        }
        if self.buf.len() > CHUNK * 2 && self.end <= CHUNK {
            self.buf.truncate(CHUNK * 2);
            self.buf.shrink_to_fit();
        }
        if self.buf.len() - self.end < CHUNK {
            let cap = self.limits.max_record_bytes + 2 * CHUNK;
            let grown = (self.buf.len() * 2).min(cap).max(self.end + CHUNK);
            self.buf.resize(grown, 0);
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(false);
                }
                Ok(n) => {
                    self.end += n;
                    if self.dropped + self.end as u64 > self.limits.max_total_bytes {
                        return Err(DecodeError::TooMuchData { limit: self.limits.max_total_bytes });
                    }
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(DecodeError::Io(e)),
            }
        }
    }

    /// Makes `buf[start + scan.i]` readable: refills, and once the value is over the record
    /// limit, keeps its head and discards what was scanned. False at end of input.
    #[inline(always)]
    fn more(&mut self, scan: &mut Scan) -> Result<bool, DecodeError> {
        if self.start + scan.i < self.end {
            return Ok(true);
        }
        self.refill(scan)
    }

    #[cold]
    #[inline(never)]
    fn refill(&mut self, scan: &mut Scan) -> Result<bool, DecodeError> {
        while self.start + scan.i >= self.end {
            if !scan.over && scan.i > self.limits.max_record_bytes {
                scan.over = true;
                self.head.clear();
                self.head.extend_from_slice(&self.buf[self.start..self.start + HEAD_BYTES.min(scan.i)]);
            }
            if scan.over {
                let drop = scan.i.min(self.end - self.start);
                self.start += drop;
                scan.i -= drop;
                scan.skipped += drop as u64;
            }
            if !self.fill()? {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Skips whitespace and returns the next byte without consuming it.
    fn peek(&mut self) -> Result<Option<u8>, DecodeError> {
        loop {
            while self.start < self.end {
                let b = self.buf[self.start];
                if !matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
                    return Ok(Some(b));
                }
                self.start += 1;
            }
            if !self.fill()? {
                return Ok(None);
            }
        }
    }

    fn peek_some(&mut self) -> Result<u8, DecodeError> {
        self.peek()?.ok_or(DecodeError::Truncated { offset: self.offset() })
    }

    fn expect(&mut self, want: u8) -> Result<(), DecodeError> {
        if self.peek_some()? != want {
            return Err(DecodeError::Syntax { offset: self.offset(), msg: format!("expected '{}'", want as char) });
        }
        self.start += 1;
        Ok(())
    }

    /// Scans the complete JSON value starting at `start` (which is not whitespace), reading
    /// more input as needed. Does not consume it: `start + i` is its end.
    fn scan_value(&mut self) -> Result<Scan, DecodeError> {
        let first = self.buf[self.start];
        let mut scan = Scan { i: 1, ..Scan::default() };
        let truncated = |s: &Self| DecodeError::Truncated { offset: s.offset() };
        match first {
            b'{' | b'[' => {
                let mut depth = 1usize;
                let mut in_string = false;
                loop {
                    if !self.more(&mut scan)? {
                        return Err(truncated(self));
                    }
                    let hay = &self.buf[self.start + scan.i..self.end];
                    if in_string {
                        match memchr::memchr2(b'"', b'\\', hay) {
                            None => scan.i += hay.len(),
                            Some(p) if hay[p] == b'\\' => scan.i += p + 2,
                            Some(p) => {
                                in_string = false;
                                scan.i += p + 1;
                            }
                        }
                        continue;
                    }
                    let mut advanced = hay.len();
                    for (p, &b) in hay.iter().enumerate() {
                        match b {
                            b'"' => {
                                in_string = true;
                                advanced = p + 1;
                                break;
                            }
                            b'{' | b'[' => depth += 1,
                            b'\n' | b'\r' => scan.newline = true,
                            b'}' | b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    scan.i += p + 1;
                                    return Ok(scan);
                                }
                            }
                            _ => {}
                        }
                    }
                    scan.i += advanced;
                }
            }
            b'"' => loop {
                if !self.more(&mut scan)? {
                    return Err(truncated(self));
                }
                let hay = &self.buf[self.start + scan.i..self.end];
                match memchr::memchr2(b'"', b'\\', hay) {
                    None => scan.i += hay.len(),
                    Some(p) if hay[p] == b'\\' => scan.i += p + 2,
                    Some(p) => {
                        scan.i += p + 1;
                        return Ok(scan);
                    }
                }
            },
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => loop {
                if !self.more(&mut scan)? {
                    return Ok(scan);
                }
                let b = self.buf[self.start + scan.i];
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    return Ok(scan);
                }
                scan.i += 1;
            },
            _ => Err(self.syntax("expected a json value")),
        }
    }
}

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
