//! S3 server access log records ("Amazon S3 server access log format", S3 user guide): one
//! request per line, space-separated fields, borrowed from the line. `-` means empty; the time
//! is bracketed; the request URI, referrer and user agent are quoted (each may also be a bare
//! `-`). Lines end after the version ID (18 fields), the TLS version (24), `acl_required` (26)
//! or later fields (source region, …) kept in [`AccessRecord::extra`]. Pure; no I/O.
//!
//! The user agent is the one field that may hold quotes and spaces of its own; every field after
//! it is a bare token, so a quoted user agent runs to the last `"` of the line.

use std::net::IpAddr;

/// One access log record; `None` where S3 wrote `-`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccessRecord<'a> {
    /// Canonical user ID of the bucket owner.
    pub bucket_owner: Option<&'a str>,
    /// Bucket the request was made to.
    pub bucket: Option<&'a str>,
    /// The request time in UTC, RFC 3339 (`2019-02-06T00:00:38Z`).
    pub timestamp: String,
    /// The daily index suffix of that time (`2019.02.06`).
    pub day: [u8; 10],
    /// Apparent address of the requester.
    pub remote_ip: Option<IpAddr>,
    /// Canonical user ID or ARN of the requester; `None` for anonymous requests.
    pub requester: Option<&'a str>,
    /// Request ID (the `requestID` of the matching CloudTrail data event).
    pub request_id: Option<&'a str>,
    /// `REST.GET.OBJECT`, `WEBSITE.GET.OBJECT`, `BATCH.DELETE.OBJECT`, …
    pub operation: Option<&'a str>,
    /// Key, URL-encoded as S3 wrote it.
    pub key: Option<&'a str>,
    /// `GET /bucket/key?x HTTP/1.1`.
    pub request_uri: Option<&'a str>,
    /// HTTP status.
    pub http_status: Option<u16>,
    /// S3 error code.
    pub error_code: Option<&'a str>,
    /// Response bytes sent.
    pub bytes_sent: Option<u64>,
    /// Object size.
    pub object_size: Option<u64>,
    /// Milliseconds in flight.
    pub total_time: Option<u64>,
    /// Milliseconds S3 spent.
    pub turn_around_time: Option<u64>,
    /// Referer header.
    pub referrer: Option<&'a str>,
    /// User-Agent header.
    pub user_agent: Option<&'a str>,
    /// Version ID.
    pub version_id: Option<&'a str>,
    /// `x-amz-id-2`.
    pub host_id: Option<&'a str>,
    /// `SigV2`, `SigV4`.
    pub signature_version: Option<&'a str>,
    /// TLS cipher suite.
    pub cipher_suite: Option<&'a str>,
    /// `AuthHeader`, `QueryString`.
    pub authentication_type: Option<&'a str>,
    /// Host header.
    pub host_header: Option<&'a str>,
    /// `TLSv1.2`, …
    pub tls_version: Option<&'a str>,
    /// Access point ARN.
    pub access_point_arn: Option<&'a str>,
    /// `Yes` when an ACL was required.
    pub acl_required: Option<&'a str>,
    /// Fields after `acl_required` (newer formats: source region, …), as written.
    pub extra: Vec<&'a str>,
}

/// Why a line is not an access log record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    /// Fewer fields than the oldest format has.
    #[error("not an s3 access log record: {0} fields, at least 18 expected")]
    TooFewFields(usize),
    /// A bracketed or quoted field is not closed.
    #[error("not an s3 access log record: unterminated {0} field")]
    Unterminated(&'static str),
    /// A field does not hold what the format says.
    #[error("not an s3 access log record: {field} {value:?} is not {expected}")]
    BadField {
        /// The field.
        field: &'static str,
        /// Its text.
        value: String,
        /// What it should be.
        expected: &'static str,
    },
}

/// Splits a line into its fields (brackets and quotes removed from the fields that have them).
fn fields(line: &str) -> Result<Vec<&str>, LineError> {
    let mut out = Vec::with_capacity(27);
    let mut rest = line.trim_end_matches(['\r', '\n']);
    while !rest.is_empty() {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        let (field, tail) = match rest.as_bytes()[0] {
            b'[' => {
                let end = rest.find(']').ok_or(LineError::Unterminated("bracketed"))?;
                (&rest[1..end], &rest[end + 1..])
            }
            // The user agent (field 17) may hold quotes: it runs to the line's last quote.
            b'"' if out.len() == 16 => {
                let end = rest.rfind('"').filter(|&e| e > 0).ok_or(LineError::Unterminated("quoted"))?;
                (&rest[1..end], &rest[end + 1..])
            }
            b'"' => {
                let end = rest[1..].find('"').map(|e| e + 1).ok_or(LineError::Unterminated("quoted"))?;
                (&rest[1..end], &rest[end + 1..])
            }
            _ => match rest.find(' ') {
                Some(end) => (&rest[..end], &rest[end..]),
                None => (rest, ""),
            },
        };
        out.push(field);
        rest = tail;
    }
    Ok(out)
}

fn text(v: &str) -> Option<&str> {
    (v != "-" && !v.is_empty()).then_some(v)
}

fn number<T: std::str::FromStr>(field: &'static str, v: &str) -> Result<Option<T>, LineError> {
    match text(v) {
        None => Ok(None),
        Some(t) => {
            t.parse().map(Some).map_err(|_| LineError::BadField { field, value: t.into(), expected: "a number" })
        }
    }
}

/// `06/Feb/2019:00:00:38 +0000` → RFC 3339 UTC and the day.
fn time(v: &str) -> Result<(String, [u8; 10]), LineError> {
    utc_time(v.as_bytes()).map_or_else(|| any_time(v), Ok)
}

/// The form S3 writes (always UTC), without a general time parser: `None` for anything else.
fn utc_time(b: &[u8]) -> Option<(String, [u8; 10])> {
    const MONTHS: [&[u8; 3]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    if b.len() != 26 || &b[20..] != b" +0000" || b[2] != b'/' || b[6] != b'/' || b[11] != b':' {
        return None;
    }
    if b[14] != b':' || b[17] != b':' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, d| d.is_ascii_digit().then(|| n * 10 + u32::from(d - b'0')))
    };
    let (day, year, hour, minute, second) =
        (digits(0..2)?, digits(7..11)?, digits(12..14)?, digits(15..17)?, digits(18..20)?);
    let month = MONTHS.iter().position(|m| &b[3..6] == *m)? as u32 + 1;
    chrono::NaiveDate::from_ymd_opt(year as i32, month, day)?;
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let text = |r: std::ops::Range<usize>| std::str::from_utf8(&b[r]).expect("ascii digits");
    let stamp =
        format!("{}-{month:02}-{}T{}:{}:{}Z", text(7..11), text(0..2), text(12..14), text(15..17), text(18..20));
    let mut index_day = *b"0000.00.00";
    index_day[..4].copy_from_slice(&b[7..11]);
    index_day[5..7].copy_from_slice(format!("{month:02}").as_bytes());
    index_day[8..].copy_from_slice(&b[0..2]);
    Some((stamp, index_day))
}

/// Any offset chrono reads (`%d/%b/%Y:%H:%M:%S %z`), converted to UTC.
fn any_time(v: &str) -> Result<(String, [u8; 10]), LineError> {
    let bad =
        || LineError::BadField { field: "time", value: v.into(), expected: "a time like 06/Feb/2019:00:00:38 +0000" };
    let t = chrono::DateTime::parse_from_str(v, "%d/%b/%Y:%H:%M:%S %z").map_err(|_| bad())?.to_utc();
    let day: [u8; 10] = t.format("%Y.%m.%d").to_string().into_bytes().try_into().map_err(|_| bad())?;
    Ok((t.format("%Y-%m-%dT%H:%M:%SZ").to_string(), day))
}

/// Parses one line.
pub fn parse_line(line: &str) -> Result<AccessRecord<'_>, LineError> {
    let f = fields(line)?;
    if f.len() < 18 {
        return Err(LineError::TooFewFields(f.len()));
    }
    let get = |i: usize| f.get(i).copied().and_then(text);
    let (timestamp, day) = time(f[2])?;
    let remote_ip = match text(f[3]) {
        None => None,
        Some(ip) => Some(ip.parse().map_err(|_| LineError::BadField {
            field: "remote_ip",
            value: ip.into(),
            expected: "an ip address",
        })?),
    };
    Ok(AccessRecord {
        bucket_owner: get(0),
        bucket: get(1),
        timestamp,
        day,
        remote_ip,
        requester: get(4),
        request_id: get(5),
        operation: get(6),
        key: get(7),
        request_uri: get(8),
        http_status: number("http_status", f[9])?,
        error_code: get(10),
        bytes_sent: number("bytes_sent", f[11])?,
        object_size: number("object_size", f[12])?,
        total_time: number("total_time", f[13])?,
        turn_around_time: number("turn_around_time", f[14])?,
        referrer: get(15),
        user_agent: get(16),
        version_id: get(17),
        host_id: get(18),
        signature_version: get(19),
        cipher_suite: get(20),
        authentication_type: get(21),
        host_header: get(22),
        tls_version: get(23),
        access_point_arn: get(24),
        acl_required: get(25),
        extra: f.get(26..).map(<[&str]>::to_vec).unwrap_or_default(),
    })
}

#[cfg(test)]
#[path = "line_tests.rs"]
mod tests;
