//! `sourceIPAddress` → an IP address OpenSearch's `ip` type accepts, and whether it is a public
//! address worth a GeoIP lookup. Pure.
//!
//! CloudTrail writes service names (`AWS Internal`, `lambda.amazonaws.com`) in the same field,
//! and some logs carry dotted quads with leading zeros (`035.249.253.232`), which OpenSearch
//! refuses and Rust's parser too. Those are read as decimal, the way CloudTrail means them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address in `s`, if it is one.
pub fn parse(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(v4) = leading_zero_v4(s) {
        return Some(IpAddr::V4(v4));
    }
    // An IPv6 address with a zone (`fe80::1%eth0`): the zone is not part of the address.
    let (addr, zone) = s.split_once('%')?;
    (!zone.is_empty()).then_some(())?;
    addr.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
}

/// Writes `ip` in its canonical text form (IPv4 without `fmt`: it is on every document).
pub fn write(out: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push(b'.');
                }
                if octet >= 100 {
                    out.push(b'0' + octet / 100);
                }
                if octet >= 10 {
                    out.push(b'0' + octet / 10 % 10);
                }
                out.push(b'0' + octet % 10);
            }
        }
        IpAddr::V6(v6) => {
            use std::io::Write;
            // Writing to a Vec cannot fail.
            let _ = write!(out, "{v6}");
        }
    }
}

/// `035.249.253.232` → `35.249.253.232`: four decimal octets of up to three digits each.
fn leading_zero_v4(s: &str) -> Option<Ipv4Addr> {
    let mut octets = [0u8; 4];
    let mut parts = s.split('.');
    for octet in &mut octets {
        let part = parts.next()?;
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *octet = part.parse().ok()?;
    }
    parts.next().is_none().then_some(Ipv4Addr::from(octets))
}

/// Whether `ip` is globally routable: private, loopback, link-local, shared (CGNAT),
/// documentation, multicast and reserved ranges have no place on a map.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])
        || (s[0] == 0x0064 && s[1] == 0xff9b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_not_addresses() {
        assert_eq!(parse("198.51.100.7"), Some("198.51.100.7".parse().unwrap()));
        assert_eq!(parse("2001:db8::1"), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(parse("035.249.253.232"), Some("35.249.253.232".parse().unwrap()));
        assert_eq!(parse("010.000.000.001"), Some("10.0.0.1".parse().unwrap()));
        assert_eq!(parse("fe80::1%eth0"), Some("fe80::1".parse().unwrap()));
        for not in
            ["AWS Internal", "lambda.amazonaws.com", "", "256.1.1.1", "1.2.3", "1.2.3.4.5", "0x7f.1.1.1", "1.2.3.4%"]
        {
            assert_eq!(parse(not), None, "{not}");
        }
    }

    #[test]
    fn written_addresses_are_what_display_writes() {
        for text in
            ["0.0.0.0", "1.2.3.4", "10.100.9.255", "255.255.255.255", "99.0.100.7", "2600:1f18::1", "::ffff:1.2.3.4"]
        {
            let ip: IpAddr = text.parse().unwrap();
            let mut out = Vec::new();
            write(&mut out, ip);
            assert_eq!(String::from_utf8(out).unwrap(), ip.to_string());
        }
    }

    #[test]
    fn only_public_addresses_are_public() {
        for public in ["8.8.8.8", "35.249.253.232", "2a00:1450:4001:82a::200e", "::ffff:8.8.4.4"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "240.0.0.1",
            "224.0.0.1",
            "203.0.113.9",
            "198.18.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "ff02::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }
}
