//! `source.geo.*` and `source.as.*` from GeoIP databases: MaxMind-format city and ASN files
//! (GeoLite2/GeoIP2, DB-IP Lite, ip-location-db's flat city files) and ASN address ranges in
//! CSV, several files per setting (an IPv4 and an IPv6 file, say; the first that knows an
//! address answers). Files are read whole when opened; [`GeoIp::reload_changed`] reads again
//! those replaced on disk. Lookups are cached per address as ready-to-write JSON. Pure but for
//! reading the files. Every log source's documents use it; [`addr`] reads the addresses they
//! hold.

pub mod addr;
mod countries;
mod files;
mod ranges;
mod records;

pub use files::{Database, Setting};
use files::{Loaded, open};
use quick_cache::sync::Cache;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Distinct addresses kept looked up.
const CACHE_ENTRIES: usize = 100_000;

/// A database that cannot be used: fatal at start-up, a warning (keeping the loaded one) when
/// a replaced file is read again.
#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    /// The file is missing, unreadable or not a database of a known format.
    #[error("cannot open geoip database {path}: {reason}")]
    Open {
        /// The configured path.
        path: PathBuf,
        /// What went wrong.
        reason: String,
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

/// The files of both settings, in the configured order.
#[derive(Clone)]
struct Databases {
    city: Vec<Arc<Loaded>>,
    asn: Vec<Arc<Loaded>>,
}

/// Open GeoIP databases and their lookup cache.
pub struct GeoIp {
    databases: RwLock<Arc<Databases>>,
    /// Raised at each reload: cached answers from before it are looked up again.
    generation: AtomicU64,
    cache: Cache<IpAddr, (u64, Arc<[u8]>)>,
}

impl std::fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let files: Vec<String> =
            self.databases().into_iter().map(|d| format!("{} ({})", d.path.display(), d.kind)).collect();
        f.debug_struct("GeoIp").field("databases", &files).finish()
    }
}

impl GeoIp {
    /// Opens the configured databases; `None` when neither setting names a file.
    pub fn open(city: &[PathBuf], asn: &[PathBuf]) -> Result<Option<GeoIp>, GeoError> {
        if city.is_empty() && asn.is_empty() {
            return Ok(None);
        }
        let load = |setting, paths: &[PathBuf]| -> Result<Vec<Arc<Loaded>>, GeoError> {
            paths.iter().map(|p| open(setting, p).map(Arc::new)).collect()
        };
        let databases = Databases { city: load(Setting::City, city)?, asn: load(Setting::Asn, asn)? };
        Ok(Some(GeoIp {
            databases: RwLock::new(Arc::new(databases)),
            generation: AtomicU64::new(0),
            cache: Cache::new(CACHE_ENTRIES),
        }))
    }

    fn current(&self) -> Arc<Databases> {
        self.databases.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The files loaded, city files first.
    pub fn databases(&self) -> Vec<Database> {
        let dbs = self.current();
        dbs.city.iter().chain(&dbs.asn).map(|l| l.info().clone()).collect()
    }

    /// Reads again every file whose modification time, length or inode changed since it was loaded,
    /// and answers from the new ones from then on. Files are replaced one at a time, so at most
    /// one file is held twice meanwhile. A file that cannot be read (being written, removed,
    /// broken) keeps the one loaded and is tried again at the next call. Returns what was
    /// reloaded and what failed; nothing when no file changed.
    pub fn reload_changed(&self) -> Vec<Result<Database, GeoError>> {
        let mut outcomes = Vec::new();
        for setting in [Setting::City, Setting::Asn] {
            for i in 0..self.current().files(setting).len() {
                let file = self.current().files(setting)[i].clone();
                if !file.changed() {
                    continue;
                }
                match open(setting, &file.info().path) {
                    Ok(loaded) => {
                        outcomes.push(Ok(loaded.info().clone()));
                        let mut current = self.databases.write().unwrap_or_else(|e| e.into_inner());
                        let mut next = (**current).clone();
                        next.files_mut(setting)[i] = Arc::new(loaded);
                        *current = Arc::new(next);
                        drop(current);
                        // Answers cached before the swap are looked up again.
                        self.generation.fetch_add(1, Ordering::Release);
                        self.cache.clear();
                    }
                    Err(e) => outcomes.push(Err(e)),
                }
            }
        }
        outcomes
    }

    /// `,"geo":{…},"as":{…}` for `ip` (each part only when known), empty for private and
    /// reserved addresses and addresses the databases do not know. Cached.
    pub fn json(&self, ip: IpAddr) -> Arc<[u8]> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Some((g, hit)) = self.cache.get(&ip)
            && g == generation
        {
            return hit;
        }
        let json: Arc<[u8]> = if addr::is_public(ip) { self.current().lookup(ip) } else { Vec::new() }.into();
        self.cache.insert(ip, (generation, json.clone()));
        json
    }
}

impl Databases {
    fn files(&self, setting: Setting) -> &[Arc<Loaded>] {
        match setting {
            Setting::City => &self.city,
            Setting::Asn => &self.asn,
        }
    }

    fn files_mut(&mut self, setting: Setting) -> &mut [Arc<Loaded>] {
        match setting {
            Setting::City => &mut self.city,
            Setting::Asn => &mut self.asn,
        }
    }

    fn lookup(&self, ip: IpAddr) -> Vec<u8> {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let mut out = Vec::new();
        if let Some(fields) = self.city.iter().find_map(|db| db.city(ip)) {
            write_object(&mut out, "geo", &fields);
        }
        if let Some((number, org)) = self.asn.iter().find_map(|db| db.asn(ip)) {
            let mut fields = Vec::new();
            fields.extend(number.map(|n| ("number", n.to_string())));
            fields.extend(org.map(|o| ("organization", format!("{{\"name\":{}}}", records::json_str(&o)))));
            write_object(&mut out, "as", &fields);
        }
        out
    }
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

    fn json(geo: &GeoIp, ip: &str) -> String {
        String::from_utf8(geo.json(ip.parse().unwrap()).to_vec()).unwrap()
    }

    #[test]
    fn nothing_configured_means_no_geoip() {
        assert!(GeoIp::open(&[], &[]).unwrap().is_none());
    }

    #[test]
    fn a_missing_or_bogus_file_is_a_clear_error() {
        let err = GeoIp::open(&["/nonexistent/GeoLite2-City.mmdb".into()], &[]).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/GeoLite2-City.mmdb"), "{err}");
        let dir = tempfile::tempdir().unwrap();
        let bogus = dir.path().join("asn.mmdb");
        std::fs::write(&bogus, b"not a database").unwrap();
        let err = GeoIp::open(&[], &[bogus]).unwrap_err();
        assert!(matches!(err, GeoError::Open { .. }) && err.to_string().contains("asn.mmdb"), "{err}");
        let csv = dir.path().join("asn-ipv4.csv");
        std::fs::write(&csv, b"1.0.0.0,1.0.0.255,13335,x\n16777216,16777471,13335,y\n").unwrap();
        let err = GeoIp::open(&[], std::slice::from_ref(&csv)).unwrap_err();
        assert!(err.to_string().contains("asn-ipv4.csv") && err.to_string().contains("line 2: expected"), "{err}");
        let err = GeoIp::open(&[csv], &[]).unwrap_err();
        assert!(matches!(err, GeoError::WrongKind { .. }), "a csv is no city database: {err}");
    }

    #[test]
    fn the_first_file_that_knows_an_address_answers() {
        let dir = tempfile::tempdir().unwrap();
        let (v4, v6) = (dir.path().join("asn-ipv4.csv"), dir.path().join("asn-ipv6.csv"));
        std::fs::write(&v4, "18.0.0.0,18.255.255.255,16509,AMAZON-02\n").unwrap();
        std::fs::write(&v6, "2a00::,2a0f:ffff:ffff:ffff:ffff:ffff:ffff:ffff,3320,Deutsche Telekom AG\n").unwrap();
        let geo = GeoIp::open(&[], &[v4, v6]).unwrap().unwrap();
        assert_eq!(json(&geo, "18.1.2.3"), r#","as":{"number":16509,"organization":{"name":"AMAZON-02"}}"#);
        assert_eq!(json(&geo, "::ffff:18.1.2.3"), json(&geo, "18.1.2.3"), "ipv4-mapped");
        assert_eq!(json(&geo, "2a01::1"), r#","as":{"number":3320,"organization":{"name":"Deutsche Telekom AG"}}"#);
        assert_eq!(json(&geo, "19.0.0.1"), "");
        assert_eq!(json(&geo, "10.0.0.1"), "", "private addresses are not looked up");
        let kinds: Vec<String> = geo.databases().into_iter().map(|d| d.kind).collect();
        assert_eq!(kinds, ["1 asn ranges", "1 asn ranges"]);
    }

    #[test]
    fn a_replaced_file_is_read_again_and_a_broken_one_keeps_the_last() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("asn.csv");
        std::fs::write(&file, "18.0.0.0,18.255.255.255,16509,AMAZON-02\n").unwrap();
        let geo = GeoIp::open(&[], std::slice::from_ref(&file)).unwrap().unwrap();
        assert!(json(&geo, "18.1.2.3").contains("16509"));
        assert!(geo.reload_changed().is_empty(), "nothing changed");

        // Written elsewhere and renamed over, as geoipupdate and the install script do.
        let next = dir.path().join("asn.csv.new");
        std::fs::write(&next, "18.0.0.0,18.255.255.255,64500,Example Renumbered Networks\n").unwrap();
        std::fs::rename(&next, &file).unwrap();
        let outcomes = geo.reload_changed();
        assert!(matches!(outcomes.as_slice(), [Ok(d)] if d.path == file), "{outcomes:?}");
        assert!(json(&geo, "18.1.2.3").contains("64500"), "the cached answer is not kept");

        std::fs::write(&file, "garbage that is longer than the ranges before\n").unwrap();
        let outcomes = geo.reload_changed();
        assert!(matches!(outcomes.as_slice(), [Err(GeoError::Open { .. })]), "{outcomes:?}");
        assert!(json(&geo, "18.1.2.3").contains("64500"), "the loaded ranges stay");
        assert_eq!(geo.reload_changed().len(), 1, "tried again at the next call");
    }
}
