//! Streaming framing of a CloudTrail log file: reads `{"Records":[…]}` (or a bare `[…]` of
//! events), one event object per line, or lookup-events output ([`super::shapes`] tells them
//! apart) from any `Read` and hands out one record's bytes at a time. Only the current record
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
use super::shapes::{self, ACCEPTED, Shape};
use crate::decode::split::{self, Listed, Member, Nesting, Split};
use crate::decode::{CHUNK, DecodeError, FrameLimits, HEAD_BYTES};
use std::io::{self, Read};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first byte.
    Start,
    /// Inside the top-level object, expecting a key or `}`.
    TopObject { first: bool },
    /// Inside the records array (`Records`, or `Events` of lookup-events output), expecting a
    /// record or `]`.
    Records { first: bool, top_is_array: bool },
    /// One event object per line ([`Shape::Lines`]), expecting the next one or the end.
    Lines,
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
    /// The input is lookup-events output: each element of `Events` carries its event as a
    /// JSON string, unescaped into `unwrapped`.
    lookup: bool,
    unwrapped: Vec<u8>,
}

/// Where a framed record lies in the buffer, before it is handed out.
enum At {
    Record { offset: u64, range: std::ops::Range<usize>, listed: Option<bool> },
    TooLarge { offset: u64, size: u64 },
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
            lookup: false,
            unwrapped: Vec::new(),
        }
    }

    /// The next record, or `None` once the file is fully and validly read.
    pub fn next_record(&mut self) -> Result<Option<Framed<'_>>, DecodeError> {
        loop {
            match self.state {
                State::Done => return Ok(None),
                State::Start => match self.peek()? {
                    None => return Err(DecodeError::Empty),
                    Some(b'{') => match self.shape()? {
                        Shape::Lines => {
                            self.saw_records = true;
                            self.state = State::Lines;
                        }
                        shape => {
                            self.lookup = shape == Shape::Lookup;
                            self.start += 1;
                            self.state = State::TopObject { first: true };
                        }
                    },
                    Some(b'[') => {
                        self.start += 1;
                        self.saw_records = true;
                        self.state = State::Records { first: true, top_is_array: true };
                    }
                    Some(b'0'..=b'9') if self.stamped_line()? => {
                        self.saw_records = true;
                        self.state = State::Lines;
                    }
                    Some(_) => return Err(self.syntax(ACCEPTED)),
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
                    let key = &self.buf[self.start..self.start + scan.i];
                    let is_records = !scan.over && key == if self.lookup { &b"\"Events\""[..] } else { b"\"Records\"" };
                    self.start += scan.i;
                    self.expect(b':')?;
                    let v = self.peek_some()?;
                    if is_records {
                        if v != b'[' {
                            return Err(self.syntax(if self.lookup {
                                "Events is not an array"
                            } else {
                                "Records is not an array"
                            }));
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
                    let at = self.frame_at(offset)?;
                    if self.lookup {
                        return self.unwrap_lookup(at).map(Some);
                    }
                    return Ok(Some(self.framed(at)));
                }
                State::Lines => {
                    let Some(b) = self.peek()? else {
                        self.state = State::Done;
                        continue;
                    };
                    if b.is_ascii_digit() {
                        self.skip_timestamp()?;
                    }
                    if self.peek_some()? != b'{' {
                        return Err(self.syntax("expected an event object at the start of a line"));
                    }
                    let at = self.frame_at(self.offset())?;
                    return Ok(Some(self.framed(at)));
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

    /// Frames the record at `start`: where it lies once read (compacted in place when it was
    /// pretty-printed, its members listed), or its size when it is over the record limit.
    fn frame_at(&mut self, offset: u64) -> Result<At, DecodeError> {
        if let Some((len, kept, listed)) = self.split_in_buffer() {
            let s = self.start;
            self.start += len;
            if len > self.limits.max_record_bytes {
                self.head.clear();
                self.head.extend_from_slice(&self.buf[s..s + HEAD_BYTES]);
                return Ok(At::TooLarge { offset, size: len as u64 });
            }
            return Ok(At::Record { offset, range: s..s + kept, listed });
        }
        let scan = self.scan_value()?;
        let s = self.start;
        self.start += scan.i;
        if !scan.over && scan.i > self.limits.max_record_bytes {
            // Over the limit, but read in one go: keep its head the same way.
            self.head.clear();
            self.head.extend_from_slice(&self.buf[s..s + HEAD_BYTES]);
            return Ok(At::TooLarge { offset, size: scan.i as u64 });
        }
        if scan.over {
            return Ok(At::TooLarge { offset, size: scan.skipped + scan.i as u64 });
        }
        let mut len = scan.i;
        if scan.newline {
            len = compact_in_place(&mut self.buf[s..s + scan.i]);
        }
        let listed = match split::object(&self.buf[s..s + len], &mut self.members, &mut self.stack) {
            Split::Complete { len: whole, nested, .. } if whole == len => Some(nested),
            _ => None,
        };
        Ok(At::Record { offset, range: s..s + len, listed })
    }

    fn framed(&self, at: At) -> Framed<'_> {
        match at {
            At::Record { offset, range, listed } => Framed::Record {
                offset,
                bytes: &self.buf[range],
                members: listed.map(|nested| Listed { members: &self.members, nested }),
            },
            At::TooLarge { offset, size } => Framed::TooLarge { offset, size, head: &self.head },
        }
    }

    /// A lookup-events element, handed out as the event its `CloudTrailEvent` string holds
    /// (an element that is not valid JSON is handed out as it is, for the parser's error).
    fn unwrap_lookup(&mut self, at: At) -> Result<Framed<'_>, DecodeError> {
        let At::Record { offset, range, listed: Some(_) } = at else { return Ok(self.framed(at)) };
        if !shapes::lookup_event(&self.buf[range], &self.members, &mut self.unwrapped) {
            return Err(DecodeError::Syntax {
                offset,
                msg: "an Events element holds no CloudTrailEvent string".into(),
            });
        }
        let mut listed = split::object(&self.unwrapped, &mut self.members, &mut self.stack);
        if let Split::Complete { newline: true, .. } = listed {
            let kept = compact_in_place(&mut self.unwrapped);
            self.unwrapped.truncate(kept);
            listed = split::object(&self.unwrapped, &mut self.members, &mut self.stack);
        }
        let members = match listed {
            Split::Complete { len, nested, .. } if len == self.unwrapped.len() => {
                Some(Listed { members: &self.members, nested })
            }
            _ => None,
        };
        Ok(Framed::Record { offset, bytes: &self.unwrapped, members })
    }

    /// The shape of input opening with an object at `start` ([`shapes::of_object`]), reading
    /// more as needed.
    fn shape(&mut self) -> Result<Shape, DecodeError> {
        loop {
            if let Some(shape) = shapes::of_object(&self.buf[self.start..self.end]) {
                return Ok(shape);
            }
            if !self.fill()? {
                return Ok(Shape::Delivery);
            }
        }
    }

    /// Whether the input opens with a timestamp and an object, as a CloudWatch Logs export's
    /// lines do.
    fn stamped_line(&mut self) -> Result<bool, DecodeError> {
        loop {
            let head = &self.buf[self.start..self.end];
            match shapes::timestamp_prefix(head) {
                Some(Ok(n)) if n < head.len() => return Ok(head[n] == b'{'),
                Some(Err(())) => return Ok(false),
                _ if !self.fill()? => return Ok(false),
                _ => {}
            }
        }
    }

    /// Steps over the timestamp a CloudWatch Logs export puts before a line's event.
    fn skip_timestamp(&mut self) -> Result<(), DecodeError> {
        loop {
            match shapes::timestamp_prefix(&self.buf[self.start..self.end]) {
                Some(Ok(n)) => {
                    self.start += n;
                    return Ok(());
                }
                Some(Err(())) => {
                    return Err(self.syntax("expected a timestamp or an event object at the start of a line"));
                }
                None if !self.fill()? => return Err(DecodeError::Truncated { offset: self.offset() }),
                None => {}
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
}

#[path = "framing_scan.rs"]
mod scan;

#[cfg(test)]
#[path = "framing_tests.rs"]
mod tests;
