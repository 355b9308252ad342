//! An ASN database read from CSV address ranges, one per line:
//! `first address,last address,AS number,organization` (the ip-location-db `asn` package's
//! `asn-ipv4.csv` and `asn-ipv6.csv`; the organization may be quoted, with `""` for a quote).
//! Held as sorted ranges with the organizations stored once; looked up by binary search. Pure.

use std::collections::HashMap;
use std::net::IpAddr;

/// The shape a line must have, for error messages.
const SHAPE: &str = "first address,last address,as number,organization";

/// Address ranges → (AS number, organization).
#[derive(Debug, Default)]
pub(super) struct Ranges {
    v4: Vec<Range<u32>>,
    v6: Vec<Range<u128>>,
    orgs: Vec<Box<str>>,
}

#[derive(Debug, Clone, Copy)]
struct Range<T> {
    first: T,
    last: T,
    asn: u32,
    /// Index into `orgs`; `u32::MAX` when the line had none.
    org: u32,
}

impl Ranges {
    /// Reads `text`; an error names the line (1-based) and what it should look like.
    pub(super) fn parse(text: &str) -> Result<Ranges, String> {
        let mut out = Ranges::default();
        let mut orgs: HashMap<&str, u32> = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() {
                continue;
            }
            let bad = || format!("line {}: expected {SHAPE}, got {:?}", n + 1, truncate(line));
            let mut parts = line.splitn(4, ',');
            let (Some(first), Some(last), Some(asn), org) = (parts.next(), parts.next(), parts.next(), parts.next())
            else {
                return Err(bad());
            };
            let asn: u32 = asn.trim().parse().map_err(|_| bad())?;
            let org = match org.map(unquote) {
                Some(Some(o)) if !o.is_empty() => {
                    let next = out.orgs.len() as u32;
                    let id = *orgs.entry(o).or_insert(next);
                    if id == next {
                        out.orgs.push(o.replace("\"\"", "\"").into());
                    }
                    id
                }
                Some(None) => return Err(bad()),
                _ => u32::MAX,
            };
            match (first.trim().parse::<IpAddr>(), last.trim().parse::<IpAddr>()) {
                (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) if a <= b => {
                    out.v4.push(Range { first: a.into(), last: b.into(), asn, org })
                }
                (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) if a <= b => {
                    out.v6.push(Range { first: a.into(), last: b.into(), asn, org })
                }
                _ => return Err(bad()),
            }
        }
        if out.v4.is_empty() && out.v6.is_empty() {
            return Err(format!("no ranges: expected lines of {SHAPE}"));
        }
        out.v4.sort_unstable_by_key(|r| r.first);
        out.v6.sort_unstable_by_key(|r| r.first);
        Ok(out)
    }

    /// How many ranges were read.
    pub(super) fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// The AS number and organization of the range holding `ip`.
    pub(super) fn lookup(&self, ip: IpAddr) -> Option<(u32, Option<&str>)> {
        let (asn, org) = match ip {
            IpAddr::V4(v4) => find(&self.v4, u32::from(v4))?,
            IpAddr::V6(v6) => find(&self.v6, u128::from(v6))?,
        };
        Some((asn, self.orgs.get(org as usize).map(|o| &**o)))
    }
}

fn find<T: Ord + Copy>(ranges: &[Range<T>], ip: T) -> Option<(u32, u32)> {
    let at = ranges.partition_point(|r| r.first <= ip).checked_sub(1)?;
    let r = ranges[at];
    (ip <= r.last).then_some((r.asn, r.org))
}

/// The organization column: as written, or between quotes (`None` when a quote is not closed).
/// Doubled quotes inside stay doubled here (the caller undoes them once per organization).
fn unquote(field: &str) -> Option<&str> {
    match field.strip_prefix('"') {
        None => Some(field.trim()),
        Some(rest) => rest.strip_suffix('"'),
    }
}

fn truncate(line: &str) -> &str {
    let mut end = line.len().min(80);
    while !line.is_char_boundary(end) {
        end -= 1;
    }
    &line[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "1.0.0.0,1.0.0.255,13335,\"Cloudflare, Inc.\"\n\
        1.0.4.0,1.0.7.255,38803,Gtelecom Pty Ltd\n\
        18.0.0.0,18.255.255.255,16509,AMAZON-02\n\
        2001:200::,2001:200:1b9:ffff:ffff:ffff:ffff:ffff,2500,WIDE Project\n\
        9.9.9.0,9.9.9.255,19281,\"Quad9 \"\"Foundation\"\"\"\n\
        20.0.0.0,20.0.0.255,8075,\n";

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn finds_the_range_holding_an_address_and_only_that() {
        let r = Ranges::parse(SAMPLE).unwrap();
        assert_eq!(r.len(), 6);
        assert_eq!(r.lookup(ip("1.0.0.0")), Some((13335, Some("Cloudflare, Inc."))));
        assert_eq!(r.lookup(ip("1.0.0.255")), Some((13335, Some("Cloudflare, Inc."))));
        assert_eq!(r.lookup(ip("1.0.1.0")), None, "between ranges");
        assert_eq!(r.lookup(ip("1.0.5.9")), Some((38803, Some("Gtelecom Pty Ltd"))));
        assert_eq!(r.lookup(ip("18.7.7.7")), Some((16509, Some("AMAZON-02"))));
        assert_eq!(r.lookup(ip("0.255.255.255")), None, "before the first");
        assert_eq!(r.lookup(ip("200.0.0.1")), None, "after the last");
        assert_eq!(r.lookup(ip("2001:200:1::1")), Some((2500, Some("WIDE Project"))));
        assert_eq!(r.lookup(ip("2001:201::1")), None);
        assert_eq!(r.lookup(ip("9.9.9.9")), Some((19281, Some("Quad9 \"Foundation\""))), "quotes undone");
        assert_eq!(r.lookup(ip("20.0.0.1")), Some((8075, None)), "no organization");
    }

    #[test]
    fn organizations_are_stored_once() {
        let text = "1.0.0.0,1.0.0.255,1,Same\n2.0.0.0,2.0.0.255,1,Same\n3.0.0.0,3.0.0.255,2,Other\n";
        let r = Ranges::parse(text).unwrap();
        assert_eq!(r.orgs.len(), 2);
        assert_eq!(r.lookup(ip("2.0.0.9")), Some((1, Some("Same"))));
    }

    #[test]
    fn a_line_of_another_shape_is_named_with_the_expected_one() {
        for (text, line) in [
            ("1.0.0.0,1.0.0.255,13335,x\nnot,a,line\n", "line 2"),
            ("16777216,16777471,13335,Cloudflare\n", "line 1"),
            ("1.0.0.0,1.0.0.255,AS13335,x\n", "line 1"),
            ("1.0.0.9,1.0.0.0,1,x\n", "line 1"),
            ("1.0.0.0,::1,1,x\n", "line 1"),
            ("1.0.0.0,1.0.0.255,1,\"open\n", "line 1"),
        ] {
            let e = Ranges::parse(text).unwrap_err();
            assert!(e.starts_with(line) && e.contains(SHAPE), "{text:?}: {e}");
        }
        assert!(Ranges::parse("\n\n").unwrap_err().contains("no ranges"));
    }
}
