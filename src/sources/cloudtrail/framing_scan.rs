//! The resumable scan that frames a value the read buffer does not hold whole: it tracks
//! strings and nesting only, reads more input as it goes and, once a record is over the record
//! limit, keeps its head and drops what it has scanned. Pure but for the reads.

use super::{RecordReader, Scan};
use crate::decode::{DecodeError, HEAD_BYTES};
use std::io::Read;

impl<R: Read> RecordReader<R> {
    /// Makes `buf[start + scan.i]` readable: refills, and once the value is over the record
    /// limit, keeps its head and discards what was scanned. False at end of input.
    #[inline(always)]
    pub(super) fn more(&mut self, scan: &mut Scan) -> Result<bool, DecodeError> {
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

    /// Scans the complete JSON value starting at `start` (which is not whitespace), reading
    /// more input as needed. Does not consume it: `start + i` is its end.
    pub(super) fn scan_value(&mut self) -> Result<Scan, DecodeError> {
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
