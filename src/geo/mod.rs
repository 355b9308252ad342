//! `source.geo.*` and `source.as.*` from MaxMind-format databases (GeoLite2/GeoIP2 City and
//! ASN, DB-IP lite: they share the schema). Both files are optional and read whole at start-up;
//! lookups are cached per address as ready-to-write JSON. Pure after [`GeoIp::open`]. Every log
//! source's documents use it; [`addr`] reads the addresses they hold.

pub mod addr;

use maxminddb::Reader;
use quick_cache::sync::Cache;
use serde::Deserialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Distinct addresses kept looked up.
const CACHE_ENTRIES: usize = 100_000;

/// A database that cannot be used. Fatal at start-up.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file is missing, unreadable or not a MaxMind DB.
    #[error("cannot open geoip database {path}: {source}")]
    Open {
        /// The configured path.
        path: PathBuf,
        /// What went wrong.
        source: maxminddb::MaxMindDbError,
    },
    /// A readable database of the wrong kind (an ASN file given as the city database, …).
    #[error("geoip database {path} is a {found:?} database, expected {expected}")]
    WrongKind {
        /// The configured path.
        path: PathBuf,
        /// `database_type` from the file's metadata.
        found: String,
        /// What the setting needs.
        expected: &'static str,
    },
}

impl GeoError {
    /// The database the error is about.
    pub fn path(&self) -> &Path {
        match self {
            GeoError::Open { path, .. } | GeoError::WrongKind { path, .. } => path,
        }
    }
}

#[derive(Deserialize)]
struct CityRecord<'a> {
    #[serde(borrow)]
    country: Option<Place<'a>>,
    #[serde(borrow)]
    registered_country: Option<Place<'a>>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Place<'a>>>,
    #[serde(borrow)]
    city: Option<Place<'a>>,
    location: Option<Location>,
}

#[derive(Deserialize)]
struct Place<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

/// Only the English name is decoded; the other languages are skipped without allocating.
#[derive(Deserialize)]
struct Names<'a> {
    #[serde(borrow)]
    en: Option<&'a str>,
}

impl<'a> Place<'a> {
    fn name(&self) -> Option<&'a str> {
        self.names.as_ref()?.en
    }
}

#[derive(Deserialize)]
struct Location {
    latitude: Option<f64>,
    longitude: Option<f64>,
}

#[derive(Deserialize)]
struct AsnRecord<'a> {
    autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    autonomous_system_organization: Option<&'a str>,
}

/// Open GeoIP databases and their lookup cache.
pub struct GeoIp {
    city: Option<Reader<Vec<u8>>>,
    asn: Option<Reader<Vec<u8>>>,
    cache: Cache<IpAddr, Arc<[u8]>>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoIp")
            .field("city", &self.city.as_ref().map(|r| &r.metadata().database_type))
            .field("asn", &self.asn.as_ref().map(|r| &r.metadata().database_type))
            .finish()
    }
}

fn open(path: &Path, expected: &'static str, kinds: &[&str]) -> Result<Reader<Vec<u8>>, GeoError> {
    let reader = Reader::open_readfile(path).map_err(|source| GeoError::Open { path: path.to_owned(), source })?;
    let found = &reader.metadata().database_type;
    if !kinds.iter().any(|k| found.contains(k)) {
        return Err(GeoError::WrongKind { path: path.to_owned(), found: found.clone(), expected });
    }
    Ok(reader)
}

impl GeoIp {
    /// Opens the configured databases; `None` when neither is configured.
    pub fn open(city: Option<&Path>, asn: Option<&Path>) -> Result<Option<GeoIp>, GeoError> {
        if city.is_none() && asn.is_none() {
            return Ok(None);
        }
        let city = city.map(|p| open(p, "a city or country database", &["City", "Country"])).transpose()?;
        let asn = asn.map(|p| open(p, "an asn database", &["ASN", "ISP"])).transpose()?;
        Ok(Some(GeoIp { city, asn, cache: Cache::new(CACHE_ENTRIES) }))
    }

    /// The databases opened: (`city` or `asn`, their `database_type`, when they were built as
    /// Unix seconds).
    pub fn databases(&self) -> Vec<(&'static str, String, u64)> {
        [("city", &self.city), ("asn", &self.asn)]
            .into_iter()
            .filter_map(|(what, r)| {
                r.as_ref().map(|r| (what, r.metadata().database_type.clone(), r.metadata().build_epoch))
            })
            .collect()
    }

    /// `,"geo":{…},"as":{…}` for `ip` (each part only when known), empty for private and
    /// reserved addresses and addresses the databases do not know. Cached.
    pub fn json(&self, ip: IpAddr) -> Arc<[u8]> {
        if let Some(hit) = self.cache.get(&ip) {
            return hit;
        }
        let json: Arc<[u8]> = if addr::is_public(ip) { self.lookup(ip) } else { Vec::new() }.into();
        self.cache.insert(ip, json.clone());
        json
    }

    fn lookup(&self, ip: IpAddr) -> Vec<u8> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let mut out = Vec::new();
        if let Some(rec) = self.city.as_ref().and_then(|r| r.lookup(ip).ok()?.decode::<CityRecord<'_>>().ok()?) {
            let country = rec.country.as_ref().or(rec.registered_country.as_ref());
            let mut fields = Vec::new();
            if let Some(c) = country {
                fields.extend(c.iso_code.map(|v| ("country_iso_code", json_str(v))));
                fields.extend(c.name().map(|v| ("country_name", json_str(v))));
            }
            let region = rec.subdivisions.as_ref().and_then(|s| s.first()).and_then(Place::name);
            fields.extend(region.map(|v| ("region_name", json_str(v))));
            fields.extend(rec.city.as_ref().and_then(Place::name).map(|v| ("city_name", json_str(v))));
            if let Some(Location { latitude: Some(lat), longitude: Some(lon) }) = rec.location {
                fields.push(("location", format!("{{\"lat\":{lat},\"lon\":{lon}}}")));
            }
            write_object(&mut out, "geo", &fields);
        }
        if let Some(rec) = self.asn.as_ref().and_then(|r| r.lookup(ip).ok()?.decode::<AsnRecord<'_>>().ok()?) {
            let mut fields = Vec::new();
            fields.extend(rec.autonomous_system_number.map(|n| ("number", n.to_string())));
            fields.extend(
                rec.autonomous_system_organization.map(|o| ("organization", format!("{{\"name\":{}}}", json_str(o)))),
            );
            write_object(&mut out, "as", &fields);
        }
        out
    }
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

fn write_object(out: &mut Vec<u8>, name: &str, fields: &[(&str, String)]) {
    if fields.is_empty() {
        return;
    }
    out.extend_from_slice(format!(",\"{name}\":{{").as_bytes());
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(format!("\"{k}\":{v}").as_bytes());
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_configured_means_no_geoip() {
        assert!(GeoIp::open(None, None).unwrap().is_none());
    }

    #[test]
    fn a_missing_or_bogus_file_is_a_clear_error() {
        let err = GeoIp::open(Some(Path::new("/nonexistent/GeoLite2-City.mmdb")), None).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/GeoLite2-City.mmdb"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("asn.mmdb");
        std::fs::write(&bogus, b"not a database").unwrap();
        let err = GeoIp::open(None, Some(&bogus)).unwrap_err();
        assert!(matches!(err, GeoError::Open { .. }) && err.to_string().contains("asn.mmdb"), "{err}");
    }
}
