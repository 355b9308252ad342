//! The `[geoip]` section: the MaxMind-format databases for `source.geo.*` and `source.as.*`
//! (opened, and a bad file reported under its key, when the decoder is built).

use super::values::non_empty;
use serde::Deserialize;
use std::path::PathBuf;

/// MaxMind-format databases for `source.geo.*` and `source.as.*`; both optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GeoIpConfig {
    /// A GeoLite2/GeoIP2 City (or Country) or DB-IP City Lite `.mmdb` file.
    pub city_db: Option<PathBuf>,
    /// A GeoLite2/GeoIP2 ASN or DB-IP ASN Lite `.mmdb` file.
    pub asn_db: Option<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawGeoIp {
    city_db: Option<String>,
    asn_db: Option<String>,
}

impl RawGeoIp {
    pub(super) fn validate(self) -> GeoIpConfig {
        GeoIpConfig {
            city_db: non_empty(self.city_db).map(PathBuf::from),
            asn_db: non_empty(self.asn_db).map(PathBuf::from),
        }
    }
}
