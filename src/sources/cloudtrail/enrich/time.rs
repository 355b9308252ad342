//! `eventTime` → `@timestamp` and the daily index date, both in UTC. Pure.
//!
//! CloudTrail writes `YYYY-MM-DDTHH:MM:SSZ`; that form (with or without fractional seconds) is
//! validated and passed through without allocating. Any other RFC 3339 form (an offset instead
//! of `Z`) is parsed and converted to UTC, so the daily index is always the UTC day.

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use std::borrow::Cow;

/// Returns (`@timestamp`, `YYYY.MM.DD`) for an event time, or the input back as the error.
pub fn normalise(time: Cow<'_, str>) -> Result<(Cow<'_, str>, [u8; 10]), String> {
    if let Some(date) = fast_utc_date(time.as_bytes()) {
        return Ok((time, date));
    }
    let parsed = DateTime::parse_from_rfc3339(&time).map_err(|_| time.to_string())?.with_timezone(&Utc);
    let stamp = parsed.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let date = index_date(parsed.year(), parsed.month(), parsed.day()).ok_or_else(|| time.to_string())?;
    Ok((Cow::Owned(stamp), date))
}

/// The index date of a canonical UTC timestamp, or `None` if it is not in canonical form.
fn fast_utc_date(b: &[u8]) -> Option<[u8; 10]> {
    if b.len() < 20 || b[b.len() - 1] != b'Z' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        b[r].iter().try_fold(0u32, |acc, &c| c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0')))
    };
    let shape_ok = b[4] == b'-' && b[7] == b'-' && b[10] == b'T' && b[13] == b':' && b[16] == b':';
    if !shape_ok {
        return None;
    }
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    match &b[19..b.len() - 1] {
        [] => {}
        [b'.', frac @ ..] if !frac.is_empty() && frac.len() <= 9 && frac.iter().all(u8::is_ascii_digit) => {}
        _ => return None,
    }
    index_date(year as i32, month, day)
}

fn index_date(year: i32, month: u32, day: u32) -> Option<[u8; 10]> {
    if !(0..=9999).contains(&year) {
        return None;
    }
    NaiveDate::from_ymd_opt(year, month, day)?;
    let mut out = *b"0000.00.00";
    let y = year as u32;
    for (i, v) in [
        (0, y / 1000),
        (1, y / 100 % 10),
        (2, y / 10 % 10),
        (3, y % 10),
        (5, month / 10),
        (6, month % 10),
        (8, day / 10),
        (9, day % 10),
    ] {
        out[i] = b'0' + v as u8;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(t: &str) -> (String, String) {
        let (s, d) = normalise(Cow::Borrowed(t)).unwrap();
        (s.into_owned(), String::from_utf8(d.to_vec()).unwrap())
    }

    #[test]
    fn canonical_times_pass_through_without_allocating() {
        let (s, d) = normalise(Cow::Borrowed("2024-08-01T13:33:28Z")).unwrap();
        assert!(matches!(s, Cow::Borrowed("2024-08-01T13:33:28Z")));
        assert_eq!(&d, b"2024.08.01");
        assert_eq!(ok("2020-09-14T00:44:23.123Z"), ("2020-09-14T00:44:23.123Z".into(), "2020.09.14".into()));
    }

    #[test]
    fn offsets_are_converted_to_the_utc_day() {
        assert_eq!(ok("2024-03-01T01:00:00+02:00"), ("2024-02-29T23:00:00.000Z".into(), "2024.02.29".into()));
    }

    #[test]
    fn invalid_times_are_errors() {
        for t in [
            "",
            "2024-08-01",
            "2024-02-30T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-08-01T24:00:00Z",
            "2024-08-01T13:33:28.Z",
            "yesterday",
            "2024-08-01T13:33:28",
        ] {
            assert!(normalise(Cow::Borrowed(t)).is_err(), "{t}");
        }
    }

    #[test]
    fn the_fast_path_checks_every_separator_and_field_itself() {
        let good = "2024-12-31T13:33:28Z";
        assert_eq!(fast_utc_date(good.as_bytes()), Some(*b"2024.12.31"));
        for at in [4, 7, 10, 13, 16] {
            let mut wrong = good.as_bytes().to_vec();
            wrong[at] = b'/';
            assert_eq!(fast_utc_date(&wrong), None, "{}", String::from_utf8_lossy(&wrong));
            assert!(normalise(Cow::Owned(String::from_utf8(wrong).unwrap())).is_err());
        }
        for wrong in [
            "2024-12-31T24:33:28Z",
            "2024-12-31T13:60:28Z",
            "2024-12-31T13:33:60Z",
            "2024-12-31T13:33:2Z",
            "2024-12-31T13:33:28+",
            "2024-12-31T13:33:28.1234567890Z",
            "2024-12-31T13:33:28.12a4Z",
        ] {
            assert_eq!(fast_utc_date(wrong.as_bytes()), None, "{wrong}");
        }
        assert_eq!(fast_utc_date(b"2024-12-31T13:33:28.123456789Z"), Some(*b"2024.12.31"));
        assert_eq!(fast_utc_date(b"0987-06-05T00:00:00Z"), Some(*b"0987.06.05"));
        // The last second of a day is the fast path's too: kept as written, not rewritten.
        let (stamp, _) = normalise(Cow::Borrowed("2024-12-31T23:59:59Z")).unwrap();
        assert!(matches!(stamp, Cow::Borrowed("2024-12-31T23:59:59Z")), "{stamp}");
    }
}
