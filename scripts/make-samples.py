#!/usr/bin/env python3
"""Builds the bundled sample logs in tests/fixtures/samples/ from the public events in
tests/fixtures/cloudtrail/, in the form CloudTrail delivers them to S3:
AWSLogs/<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<account>_CloudTrail_<region>_<stamp>_<id>.json.gz
holding {"Records": [...]}. Deterministic (gzip mtime 0), so re-running changes nothing.
The OTRF file is a Logstash export: its @timestamp becomes eventTime again and Logstash's
fields are dropped. Used by scripts/demo.sh and the docker-compose uploader."""
import glob, gzip, io, json, os, shutil, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
src = os.path.join(root, "tests", "fixtures", "cloudtrail")
out = os.path.join(root, "tests", "fixtures", "samples")

def key(first, n):
    acct = first.get("recipientAccountId", "123456789012")
    region = first.get("awsRegion", "us-east-1")
    t = first["eventTime"]
    y, m, d = t[0:4], t[5:7], t[8:10]
    stamp = f"{y}{m}{d}T{t[11:13]}{t[14:16]}Z"
    return f"AWSLogs/{acct}/CloudTrail/{region}/{y}/{m}/{d}/{acct}_CloudTrail_{region}_{stamp}_sample{n:03d}.json.gz"

def write(path, events):
    full = os.path.join(out, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as g:
        g.write(json.dumps({"Records": events}, separators=(",", ":")).encode())
    with open(full, "wb") as f:
        f.write(buf.getvalue())

shutil.rmtree(os.path.join(out, "AWSLogs"), ignore_errors=True)
files = sorted(glob.glob(os.path.join(src, "stratus-red-team", "*.json")))
for n, path in enumerate(files):
    events = json.load(open(path))
    write(key(events[0], n), events)
otrf = []
for line in open(glob.glob(os.path.join(src, "otrf", "*.json"))[0]):
    if line.strip():
        e = json.loads(line)
        ts = e.pop("@timestamp")
        e.pop("@version", None)
        e["eventTime"] = ts[:19] + "Z"
        otrf.append(e)
write(key(otrf[0], len(files)), otrf)
print(f"wrote {len(files) + 1} files to {out}", file=sys.stderr)
