//! One GeoIP database file: opened for its setting (a city `.mmdb`, or an ASN `.mmdb` or `.csv`
//! range list), checked to be of the kind the setting needs, remembered with the modification
//! time and length it had, and asked about an address.

use super::GeoError;
use super::ranges::Ranges;
use super::records::{AsnRecord, CityRecord};
use maxminddb::Reader;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

/// Which setting a file is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Setting {
    /// `geoip.city_db`: `source.geo.*`.
    City,
    /// `geoip.asn_db`: `source.as.*`.
    Asn,
}

impl Setting {
    /// The configuration key.
    pub fn key(self) -> &'static str {
        match self {
            Setting::City => "geoip.city_db",
            Setting::Asn => "geoip.asn_db",
        }
    }
}

/// What a loaded file is, for `doctor` and the logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Database {
    /// The setting it was loaded for.
    pub setting: Setting,
    /// The file.
    pub path: PathBuf,
    /// The `.mmdb` file's `database_type`, or `asn ranges` with their count for a `.csv`.
    pub kind: String,
    /// When the data was built, as Unix seconds: the `.mmdb` file's build time, a `.csv`
    /// file's modification time.
    pub built: i64,
}

enum Db {
    Mmdb(Reader<Vec<u8>>),
    Ranges(Ranges),
}

/// An opened file.
pub(super) struct Loaded {
    info: Database,
    stamp: Option<Stamp>,
    db: Db,
}

/// The file's modification time, length and inode, to tell a replaced file (a file renamed
/// into place is a new inode even when it kept its time and length).
fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

type Stamp = (SystemTime, u64, u64);

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Opens `path` for `setting`. A `.csv` file is read as address ranges (ASN only); anything
/// else as a MaxMind DB whose type must say city or country (`geoip.city_db`) or ASN or ISP.
pub(super) fn open(setting: Setting, path: &Path) -> Result<Loaded, GeoError> {
    let stamp = stamp(path);
    let is_csv = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let open_err = |reason: String| GeoError::Open { path: path.to_owned(), reason };
    if is_csv {
        if setting == Setting::City {
            return Err(GeoError::WrongKind {
                path: path.to_owned(),
                found: "csv".into(),
                expected: "a city or country .mmdb database",
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| open_err(e.to_string()))?;
        let ranges = Ranges::parse(&text).map_err(open_err)?;
        let info = Database {
            setting,
            path: path.to_owned(),
            kind: format!("{} asn ranges", ranges.len()),
            built: stamp.map_or(0, |(t, _, _)| unix(t)),
        };
        return Ok(Loaded { info, stamp, db: Db::Ranges(ranges) });
    }
    let reader = Reader::open_readfile(path).map_err(|e| open_err(e.to_string()))?;
    let found = reader.metadata().database_type.clone();
    let (expected, kinds): (&'static str, &[&str]) = match setting {
        Setting::City => ("a city or country database", &["city", "country"]),
        Setting::Asn => ("an asn database (.mmdb, or .csv address ranges)", &["asn", "isp"]),
    };
    if !kinds.iter().any(|k| found.to_ascii_lowercase().contains(k)) {
        return Err(GeoError::WrongKind { path: path.to_owned(), found, expected });
    }
    let info = Database { setting, path: path.to_owned(), kind: found, built: reader.metadata().build_epoch as i64 };
    Ok(Loaded { info, stamp, db: Db::Mmdb(reader) })
}

impl Loaded {
    pub(super) fn info(&self) -> &Database {
        &self.info
    }

    /// Whether the file on disk is no longer the one loaded (replaced, rewritten or removed).
    pub(super) fn changed(&self) -> bool {
        stamp(&self.info.path) != self.stamp
    }

    /// The `source.geo` members this file knows for `ip`; `None` when it knows nothing (or
    /// cannot hold that address family).
    pub(super) fn city(&self, ip: IpAddr) -> Option<Vec<(&'static str, String)>> {
        let Db::Mmdb(r) = &self.db else { return None };
        let fields = r.lookup(ip).ok()?.decode::<CityRecord<'_>>().ok()??.fields();
        (!fields.is_empty()).then_some(fields)
    }

    /// The AS number and organization this file knows for `ip`.
    pub(super) fn asn(&self, ip: IpAddr) -> Option<(Option<u32>, Option<String>)> {
        match &self.db {
            Db::Ranges(r) => r.lookup(ip).map(|(n, org)| (Some(n), org.map(str::to_owned))),
            Db::Mmdb(r) => {
                let rec = r.lookup(ip).ok()?.decode::<AsnRecord<'_>>().ok()??;
                let org = rec.autonomous_system_organization.filter(|o| !o.is_empty()).map(str::to_owned);
                (rec.autonomous_system_number.is_some() || org.is_some()).then_some((rec.autonomous_system_number, org))
            }
        }
    }
}
