//! The records of MaxMind-format databases, read into the `source.geo.*` and `source.as.*`
//! members. Two city layouts are read: MaxMind's (GeoLite2/GeoIP2 City or Country, DB-IP's
//! own Lite files: `country.iso_code`, `country.names.en`, `subdivisions`, `city.names.en`,
//! `location`) and ip-location-db's flat one (`country_code`, `state1`, `city`, `latitude`,
//! `longitude`; the country's name from [`super::countries`]). Pure; nothing is allocated for the
//! names of other languages.

use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, de::value::MapAccessDeserializer};
use std::fmt;

/// A city (or country) record of either layout.
#[derive(Deserialize)]
pub(super) struct CityRecord<'a> {
    #[serde(borrow)]
    country: Option<Place<'a>>,
    #[serde(borrow)]
    registered_country: Option<Place<'a>>,
    #[serde(borrow)]
    subdivisions: Option<Vec<Place<'a>>>,
    #[serde(borrow)]
    city: Option<CityName<'a>>,
    location: Option<Location>,
    // The flat layout.
    #[serde(borrow)]
    country_code: Option<&'a str>,
    #[serde(borrow)]
    state1: Option<&'a str>,
    latitude: Option<Coord>,
    longitude: Option<Coord>,
}

#[derive(Deserialize)]
struct Place<'a> {
    #[serde(borrow)]
    iso_code: Option<&'a str>,
    #[serde(borrow)]
    names: Option<Names<'a>>,
}

/// Only the English name is decoded.
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
    latitude: Option<Coord>,
    longitude: Option<Coord>,
}

/// `city`: a place with names (MaxMind) or the name itself (flat).
struct CityName<'a>(Option<&'a str>);

impl<'de: 'a, 'a> Deserialize<'de> for CityName<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = CityName<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a city name or a place with names")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CityName(Some(v)))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
                Ok(CityName(None))
            }
            fn visit_map<M: MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
                Ok(CityName(Place::deserialize(MapAccessDeserializer::new(map))?.name()))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A latitude or longitude as the database stores it: MaxMind's are doubles, the flat layout's
/// floats, written back with the digits that precision holds (`37.422`, not `37.422000885…`).
#[derive(Clone, Copy)]
enum Coord {
    Single(f32),
    Double(f64),
}

impl fmt::Display for Coord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Coord::Single(v) => write!(f, "{v}"),
            Coord::Double(v) => write!(f, "{v}"),
        }
    }
}

impl<'de> Deserialize<'de> for Coord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Coord;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_f32<E: de::Error>(self, v: f32) -> Result<Coord, E> {
                Ok(Coord::Single(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Coord, E> {
                Ok(Coord::Double(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Coord, E> {
                Ok(Coord::Double(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Coord, E> {
                Ok(Coord::Double(v as f64))
            }
        }
        d.deserialize_any(V)
    }
}

/// A string value, `None` when empty (the flat layout writes `""` for what it does not know).
fn known(v: Option<&str>) -> Option<&str> {
    v.filter(|s| !s.is_empty())
}

impl CityRecord<'_> {
    /// `(name, JSON value)` for each `source.geo` member the record knows.
    pub(super) fn fields(&self) -> Vec<(&'static str, String)> {
        let mut fields = Vec::new();
        if let Some(c) = self.country.as_ref().or(self.registered_country.as_ref()) {
            fields.extend(known(c.iso_code).map(|v| ("country_iso_code", json_str(v))));
            fields.extend(known(c.name()).map(|v| ("country_name", json_str(v))));
        } else if let Some(code) = known(self.country_code) {
            fields.push(("country_iso_code", json_str(code)));
            fields.extend(super::countries::name(code).map(|v| ("country_name", json_str(v))));
        }
        let region = self.subdivisions.as_ref().and_then(|s| s.first()).and_then(Place::name);
        fields.extend(known(region.or(self.state1)).map(|v| ("region_name", json_str(v))));
        fields.extend(known(self.city.as_ref().and_then(|c| c.0)).map(|v| ("city_name", json_str(v))));
        let (lat, lon) = match &self.location {
            Some(l) => (l.latitude, l.longitude),
            None => (self.latitude, self.longitude),
        };
        if let (Some(lat), Some(lon)) = (lat, lon) {
            fields.push(("location", format!("{{\"lat\":{lat},\"lon\":{lon}}}")));
        }
        fields
    }
}

/// An ASN record (GeoLite2/GeoIP2 ASN, DB-IP ASN Lite).
#[derive(Deserialize)]
pub(super) struct AsnRecord<'a> {
    pub(super) autonomous_system_number: Option<u32>,
    #[serde(borrow)]
    pub(super) autonomous_system_organization: Option<&'a str>,
}

/// `s` as a JSON string.
pub(super) fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(json: &str) -> Vec<(&'static str, String)> {
        // serde_json stands in for the database's deserializer: the same visitor calls, except
        // that every float is a double.
        let rec: CityRecord<'_> = serde_json::from_str(json).unwrap();
        rec.fields()
    }

    #[test]
    fn maxmind_layout() {
        let f = record(
            r#"{"country":{"iso_code":"GB","names":{"en":"United Kingdom","de":"Vereinigtes Königreich"}},
                "subdivisions":[{"names":{"en":"England"}}],"city":{"names":{"en":"London"}},
                "location":{"latitude":51.51,"longitude":-0.13}}"#,
        );
        assert_eq!(
            f,
            [
                ("country_iso_code", "\"GB\"".into()),
                ("country_name", "\"United Kingdom\"".into()),
                ("region_name", "\"England\"".into()),
                ("city_name", "\"London\"".into()),
                ("location", "{\"lat\":51.51,\"lon\":-0.13}".into()),
            ]
        );
        let registered = record(r#"{"registered_country":{"iso_code":"US","names":{"en":"United States"}}}"#);
        assert_eq!(registered[1], ("country_name", "\"United States\"".into()));
    }

    #[test]
    fn flat_layout_names_the_country_from_its_code_and_skips_empty_values() {
        let f = record(
            r#"{"city":"Mountain View","country_code":"US","latitude":37.422,"longitude":-122.085,
                "postcode":"","state1":"California","state2":"","timezone":""}"#,
        );
        assert_eq!(
            f,
            [
                ("country_iso_code", "\"US\"".into()),
                ("country_name", "\"United States\"".into()),
                ("region_name", "\"California\"".into()),
                ("city_name", "\"Mountain View\"".into()),
                ("location", "{\"lat\":37.422,\"lon\":-122.085}".into()),
            ]
        );
        let bare = record(r#"{"city":"","country_code":"ZZ","state1":""}"#);
        assert_eq!(bare, [("country_iso_code", "\"ZZ\"".into())], "an unknown code keeps the code only");
    }

    #[test]
    fn single_precision_coordinates_keep_their_own_digits() {
        assert_eq!(Coord::Single(37.422_f32).to_string(), "37.422");
        assert_eq!(Coord::Double(f64::from(37.422_f32)).to_string(), "37.422000885009766");
    }
}
