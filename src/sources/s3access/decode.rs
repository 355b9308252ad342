//! One S3 server access log file → batches: gunzip when gzip, one record per line (at most
//! `limits.max_record_bytes`; a longer line is skipped without being buffered and its start
//! dead-lettered), parsed by [`crate::decode::s3access`], written by [`crate::sources::cloudtrail::enrich::s3access`]
//! into `{s3access index prefix}-YYYY.MM.DD` by the record's own time, `_id` a hash of the line
//! so that a redelivered file creates no duplicate. A line that is not a record is dead-lettered
//! with its line number and the file goes on.

use super::line as s3access;
use super::source::S3Access;
use crate::decode::{DecodeError, maybe_gunzip};
use crate::index::bulk::{Batch, BatchBuilder, ItemKind, write_create_action};
use crate::source::Origin;
use crate::sources::output::{Closed, DecodeStats, Decoding, Invalid, ObjectError, Span, Watch, finish, send};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read};
use std::sync::Arc;

/// How much of an over-long line the dead letter keeps.
const HEAD: usize = 16 << 10;

/// The `_id` of a line: the first 128 bits of its SHA-256, as a JSON string.
fn line_id(line: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(line);
    let mut id = String::with_capacity(34);
    id.push('"');
    for b in &digest[..16] {
        id.push(HEX[usize::from(b >> 4)] as char);
        id.push(HEX[usize::from(b & 15)] as char);
    }
    id.push('"');
    id
}

/// Decodes an access log file, handing every full batch to `emit`.
pub fn decode(
    source: &S3Access,
    with: &Decoding,
    reader: Box<dyn Read + Send + '_>,
    origin: Arc<Origin>,
    watch: &Watch,
    emit: &mut dyn FnMut(Batch) -> Result<(), Closed>,
) -> Result<DecodeStats, ObjectError> {
    let limit = with.frame.max_total_bytes;
    let inflated = maybe_gunzip(reader).map_err(DecodeError::Io)?.take(limit.saturating_add(1));
    let mut lines = BufReader::with_capacity(64 << 10, inflated);
    let mut builder = BatchBuilder::with_pool(with.limits, origin, with.pool.clone());
    let mut stats = DecodeStats::default();
    let mut span = Span::default();
    let (oldest_day, newest_day) = (source.window.oldest, source.window.newest());
    let (mut line, mut number, mut read) = (Vec::new(), 0usize, 0u64);
    loop {
        line.clear();
        let (complete, size) =
            read_line(&mut lines, &mut line, with.frame.max_record_bytes).map_err(DecodeError::Io)?;
        if size == 0 {
            break;
        }
        read += size;
        if read > limit {
            return Err(DecodeError::TooMuchData { limit }.into());
        }
        number += 1;
        watch.check()?;
        // Validating first is much faster than the lossy conversion when the line is UTF-8.
        let text = match std::str::from_utf8(&line) {
            Ok(t) => std::borrow::Cow::Borrowed(t),
            Err(_) => String::from_utf8_lossy(&line),
        };
        if text.trim().is_empty() {
            continue;
        }
        stats.events += 1;
        let full = if !complete {
            let head = &line[..line.len().min(HEAD)];
            let reason = format!(
                "line {number} is {size} bytes, over limits.max_record_bytes ({})",
                with.frame.max_record_bytes
            );
            let bad = Invalid { error_type: "record_too_large", reason, event_id: None, raw: head, size: Some(size) };
            with.dead_letter(&mut builder, &mut stats, bad)
        } else {
            match s3access::parse_line(&text) {
                Err(e) => {
                    let reason = format!("line {number}: {e}");
                    let bad = Invalid { error_type: "invalid_record", reason, event_id: None, raw: &line, size: None };
                    with.dead_letter(&mut builder, &mut stats, bad)
                }
                Ok(r) if r.day < oldest_day || r.day > newest_day => {
                    let why = Decoding::outside_window("time", &r.timestamp, &source.window, &newest_day);
                    let reason = format!("line {number}: {why}");
                    let id = r.request_id;
                    let bad =
                        Invalid { error_type: "implausible_event_time", reason, event_id: id, raw: &line, size: None };
                    with.dead_letter(&mut builder, &mut stats, bad)
                }
                Ok(r) => {
                    span.see(&r.timestamp);
                    let day = with.index_period.suffix(std::str::from_utf8(&r.day).unwrap_or("1970.01.01"));
                    let id = line_id(text.trim_end().as_bytes());
                    builder.push(
                        ItemKind::Event,
                        |o| write_create_action(o, &source.index_prefix, day, &id),
                        |o| super::document::write_document(&r, &text, (source.geo.as_deref(), &source.accounts), o),
                        &line,
                    )
                }
            }
        };
        send(full, &mut stats, emit)?;
    }
    finish(builder, stats, span.ends(), emit)
}

/// Reads one line (without its `\n`) into `line`, keeping at most `max` bytes of it. Returns
/// whether the line fit and its full size (0 at the end of the input).
fn read_line<R: BufRead>(input: &mut R, line: &mut Vec<u8>, max: usize) -> std::io::Result<(bool, u64)> {
    let mut size = 0u64;
    loop {
        let buf = input.fill_buf()?;
        if buf.is_empty() {
            return Ok((line.len() as u64 == size, size));
        }
        let (chunk, done) = match memchr::memchr(b'\n', buf) {
            Some(i) => (&buf[..i], Some(i + 1)),
            None => (buf, None),
        };
        let room = max.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        size += chunk.len() as u64;
        let used = done.unwrap_or(chunk.len());
        input.consume(used);
        if done.is_some() {
            // Count the newline in the size read, not in the line.
            return Ok((line.len() as u64 == size, size + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_read_whole_or_cut_at_the_limit() {
        let mut input = std::io::Cursor::new(b"short\nthis one is long\n\nlast".to_vec());
        let mut line = Vec::new();
        assert_eq!(read_line(&mut input, &mut line, 8).unwrap(), (true, 6));
        assert_eq!(line, b"short");
        line.clear();
        assert_eq!(read_line(&mut input, &mut line, 8).unwrap(), (false, 17));
        assert_eq!(line, b"this one", "only the limit is kept");
        line.clear();
        assert_eq!(read_line(&mut input, &mut line, 8).unwrap(), (true, 1));
        line.clear();
        assert_eq!(read_line(&mut input, &mut line, 8).unwrap(), (true, 4));
        assert_eq!(line, b"last");
        line.clear();
        assert_eq!(read_line(&mut input, &mut line, 8).unwrap(), (true, 0));
    }

    #[test]
    fn a_line_id_is_a_stable_hash_of_the_line() {
        assert_eq!(line_id(b"abc"), "\"ba7816bf8f01cfea414140de5dae2223\"");
        assert_ne!(line_id(b"abc"), line_id(b"abd"));
    }
}
