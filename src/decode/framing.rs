//! Streaming framing of a CloudTrail log file: reads `{"Records":[…]}` (or a bare `[…]` of
//! events) from any `Read` and hands out one record's bytes at a time. Only the current record
//! and one read-ahead chunk are held, so memory does not grow with the file. The framer tracks
//! strings and nesting only; each record's JSON is validated when it is deserialized.

use super::DecodeError;
use std::io::{self, Read};

/// Bytes read from the source at a time.
const CHUNK: usize = 128 * 1024;
/// A single record larger than this is refused (CloudTrail records are at most a few MB).
pub const MAX_RECORD_BYTES: usize = 64 * 1024 * 1024;

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

/// Yields the records of one CloudTrail log file as byte slices.
pub struct RecordReader<R> {
    inner: R,
    buf: Vec<u8>,
    /// Start of unconsumed data in `buf`.
    start: usize,
    /// End of valid data in `buf`.
    end: usize,
    /// Bytes dropped from the front of `buf` so far (for error offsets).
    dropped: u64,
    eof: bool,
    state: State,
    saw_records: bool,
}

impl<R: Read> RecordReader<R> {
    /// Wraps a reader of decompressed JSON.
    pub fn new(inner: R) -> Self {
        RecordReader {
            inner,
            buf: vec![0; CHUNK * 2],
            start: 0,
            end: 0,
            dropped: 0,
            eof: false,
            state: State::Start,
            saw_records: false,
        }
    }

    /// The next record's offset in the decompressed stream and its raw JSON, or `None` once the
    /// file is fully and validly read.
    pub fn next_record(&mut self) -> Result<Option<(u64, &[u8])>, DecodeError> {
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
                    let n = self.scan_value()?;
                    let is_records = &self.buf[self.start..self.start + n] == b"\"Records\"";
                    self.start += n;
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
                        let n = self.scan_value()?;
                        self.start += n;
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
                    let n = self.scan_value()?;
                    let s = self.start;
                    self.start += n;
                    self.state = State::Records { first: false, top_is_array };
                    return Ok(Some((self.dropped + s as u64, &self.buf[s..s + n])));
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

    /// Offset in the decompressed stream of the next unread byte.
    pub fn offset(&self) -> u64 {
        self.dropped + self.start as u64
    }

    fn syntax(&self, msg: &'static str) -> DecodeError {
        DecodeError::Syntax { offset: self.offset(), msg: msg.into() }
    }

    /// Reads more data, keeping `buf[start..end]`. Returns false at end of input.
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
        if self.buf.len() - self.end < CHUNK {
            if self.buf.len() >= MAX_RECORD_BYTES + CHUNK {
                return Err(DecodeError::RecordTooLarge { offset: self.offset(), limit: MAX_RECORD_BYTES });
            }
            let grown = (self.buf.len() * 2).min(MAX_RECORD_BYTES + 2 * CHUNK);
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

    /// Length of the complete JSON value starting at `start` (which is not whitespace), reading
    /// more input as needed. Does not consume it.
    fn scan_value(&mut self) -> Result<usize, DecodeError> {
        let first = self.buf[self.start];
        let mut i = 1;
        match first {
            b'{' | b'[' => {
                let mut depth = 1usize;
                let mut in_string = false;
                loop {
                    while self.start + i >= self.end {
                        if !self.fill()? {
                            return Err(DecodeError::Truncated { offset: self.offset() });
                        }
                    }
                    if in_string {
                        let hay = &self.buf[self.start + i..self.end];
                        match memchr::memchr2(b'"', b'\\', hay) {
                            None => i += hay.len(),
                            Some(p) => {
                                i += p;
                                if self.buf[self.start + i] == b'\\' {
                                    i += 2;
                                } else {
                                    in_string = false;
                                    i += 1;
                                }
                            }
                        }
                        continue;
                    }
                    let hay = &self.buf[self.start + i..self.end];
                    for (p, &b) in hay.iter().enumerate() {
                        match b {
                            b'"' => {
                                in_string = true;
                                i += p + 1;
                                break;
                            }
                            b'{' | b'[' => depth += 1,
                            b'}' | b']' => {
                                depth -= 1;
                                if depth == 0 {
                                    return Ok(i + p + 1);
                                }
                            }
                            _ => {}
                        }
                        if p + 1 == hay.len() {
                            i += hay.len();
                        }
                    }
                }
            }
            b'"' => loop {
                while self.start + i >= self.end {
                    if !self.fill()? {
                        return Err(DecodeError::Truncated { offset: self.offset() });
                    }
                }
                let hay = &self.buf[self.start + i..self.end];
                match memchr::memchr2(b'"', b'\\', hay) {
                    None => i += hay.len(),
                    Some(p) if hay[p] == b'\\' => i += p + 2,
                    Some(p) => return Ok(i + p + 1),
                }
            },
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => loop {
                while self.start + i >= self.end {
                    if !self.fill()? {
                        return Ok(i);
                    }
                }
                let b = self.buf[self.start + i];
                if matches!(b, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t') {
                    return Ok(i);
                }
                i += 1;
            },
            _ => Err(self.syntax("expected a json value")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `n` bytes per read, to exercise refills everywhere.
    struct Trickle<'a>(&'a [u8], usize);
    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.1.min(out.len()).min(self.0.len());
            out[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    fn records(input: &[u8], step: usize) -> Result<Vec<String>, DecodeError> {
        let mut r = RecordReader::new(Trickle(input, step));
        let mut out = Vec::new();
        while let Some((offset, rec)) = r.next_record()? {
            assert_eq!(&input[offset as usize..offset as usize + rec.len()], rec, "offset points at the record");
            out.push(String::from_utf8(rec.to_vec()).unwrap());
        }
        Ok(out)
    }

    #[test]
    fn frames_records_whatever_the_read_size() {
        let input = br#" {"Records": [ {"a":"x}\"]{","b":[1,{"c":null}]} ,{"d":"\\"}] } "#;
        for step in [1, 2, 3, 7, 1000] {
            let got = records(input, step).unwrap();
            assert_eq!(got, vec![r#"{"a":"x}\"]{","b":[1,{"c":null}]}"#, r#"{"d":"\\"}"#], "step {step}");
        }
    }

    #[test]
    fn skips_other_top_level_keys_and_accepts_bare_arrays() {
        let input = br#"{"x":{"Records":[{"no":1}]},"n":-1.5e3,"s":"Records","t":true,"Records":[{"a":1}],"z":[]}"#;
        assert_eq!(records(input, 5).unwrap(), vec![r#"{"a":1}"#]);
        assert_eq!(records(br#"[{"a":1},{"b":2}]"#, 4).unwrap().len(), 2);
        assert_eq!(records(br#"{"Records":[]}"#, 4).unwrap().len(), 0);
    }

    #[test]
    fn rejects_what_is_not_a_log_file() {
        assert!(matches!(records(b"", 8), Err(DecodeError::Empty)));
        assert!(matches!(records(b"  \n", 8), Err(DecodeError::Empty)));
        assert!(matches!(records(br#"{"Digest":1}"#, 8), Err(DecodeError::NoRecords)));
        assert!(matches!(records(b"hello", 8), Err(DecodeError::Syntax { .. })));
        assert!(matches!(records(br#"{"Records":{}}"#, 8), Err(DecodeError::Syntax { .. })));
        assert!(matches!(records(br#"{"Records":[{"a":1}"#, 3), Err(DecodeError::Truncated { .. })));
        assert!(matches!(records(br#"{"Records":[{"a":"1}]}"#, 3), Err(DecodeError::Truncated { .. })));
        assert!(matches!(records(br#"{"Records":[{"a":1}{"b":2}]}"#, 3), Err(DecodeError::Syntax { .. })));
        assert!(matches!(records(br#"{"Records":[]} x"#, 3), Err(DecodeError::Syntax { .. })));
    }

    #[test]
    fn memory_stays_bounded_by_the_largest_record() {
        // 20,000 records of ~1 KB stream through a buffer that never grows past its start size.
        let rec = format!(r#"{{"eventID":"x","pad":"{}"}}"#, "y".repeat(1000));
        let mut input = b"{\"Records\":[".to_vec();
        for i in 0..20_000 {
            if i > 0 {
                input.push(b',');
            }
            input.extend_from_slice(rec.as_bytes());
        }
        input.extend_from_slice(b"]}");
        let mut r = RecordReader::new(&input[..]);
        let mut n = 0;
        while let Some((_, got)) = r.next_record().unwrap() {
            assert_eq!(got.len(), rec.len());
            n += 1;
        }
        assert_eq!(n, 20_000);
        assert_eq!(r.buf.len(), CHUNK * 2, "buffer grew although no record needed it");
    }

    #[test]
    fn grows_for_a_record_larger_than_the_buffer() {
        let big = format!(r#"{{"Records":[{{"p":"{}"}}]}}"#, "z".repeat(3 * CHUNK));
        let got = records(big.as_bytes(), 70_000).unwrap();
        assert_eq!(got[0].len(), 3 * CHUNK + 8);
    }
}
