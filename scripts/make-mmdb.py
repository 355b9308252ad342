#!/usr/bin/env python3
"""Writes small MaxMind-format GeoIP databases for tests and the benchmark.

Usage: make-mmdb.py OUTDIR   ->  OUTDIR/city.mmdb (GeoLite2-City schema)
                                 OUTDIR/asn.mmdb  (GeoLite2-ASN schema)

Built with PyPI mmdb-writer (in the test venv, see scripts/requirements-test.txt), as IPv6
trees holding IPv4 too, like the real GeoLite2 files. The networks and places are invented for
tests; the integration tests assert on exactly these values (tests/integration/fieldmodel.rs).
"""
import os
import sys

from mmdb_writer import MMDBWriter, MmdbF64, MmdbU32
from netaddr import IPSet

# network -> (iso code, country, region, city, lat, lon, asn, as organisation)
NETWORKS = {
    "1.2.3.0/24": ("AU", "Australia", "Queensland", "Brisbane", -27.47, 153.02, 13335, "Example Pacific"),
    "18.0.0.0/8": ("US", "United States", "Oregon", "Boardman", 45.84, -119.70, 16509, "AMAZON-02"),
    "35.0.0.0/8": ("US", "United States", "Iowa", "Council Bluffs", 41.26, -95.86, 15169, "GOOGLE"),
    "81.2.69.0/24": ("GB", "United Kingdom", "England", "London", 51.51, -0.13, 20712, "Andrews & Arnold Ltd"),
    "88.0.0.0/8": ("ES", "Spain", "Madrid", "Madrid", 40.42, -3.70, 3352, "TELEFONICA DE ESPANA"),
    "2a00::/12": ("DE", "Germany", "Hesse", "Frankfurt am Main", 50.11, 8.68, 3320, "Deutsche Telekom AG"),
}


def main(out):
    os.makedirs(out, exist_ok=True)
    city = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"],
                      description="trailship test city database")
    asn = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN", languages=["en"],
                     description="trailship test asn database")
    for net, (iso, country, region, town, lat, lon, number, org) in NETWORKS.items():
        city.insert_network(IPSet([net]), {
            "country": {"iso_code": iso, "names": {"en": country}},
            "subdivisions": [{"names": {"en": region}}],
            "city": {"names": {"en": town}},
            "location": {"latitude": MmdbF64(lat), "longitude": MmdbF64(lon)},
        })
        asn.insert_network(IPSet([net]), {
            "autonomous_system_number": MmdbU32(number),
            "autonomous_system_organization": org,
        })
    city.to_db_file(os.path.join(out, "city.mmdb"))
    asn.to_db_file(os.path.join(out, "asn.mmdb"))


if __name__ == "__main__":
    main(sys.argv[1])
