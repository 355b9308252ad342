#!/usr/bin/env python3
"""Backfill throughput over many small objects against the local servers (moto for S3, osmem
for OpenSearch), for docs/performance.md: `trailship backfill --concurrency N` for N in 1, 4, 16.

    .venv/bin/python scripts/bench-backfill.py TRAILSHIP_BINARY [OBJECTS] [EVENTS_PER_OBJECT]

Each run gets a fresh osmem; the bucket (moto) is filled once: OBJECTS log files (default
2000) of EVENTS_PER_OBJECT events (default 20, about 1.3 KB gzipped), spread over 1 account,
2 regions and consecutive days, 48 files a day. Prints one line per concurrency.
"""
import gzip
import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import time

import boto3
import osmem_server


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait(url):
    import urllib.request

    for _ in range(600):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"{url} did not come up")


def start_osmem():
    port = free_port()
    proc = subprocess.Popen(
        [osmem_server.resolve_binary(), "-addr", f"127.0.0.1:{port}", "--no-ja", "--no-stdin-watch"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait(f"http://127.0.0.1:{port}/")
    return proc, f"http://127.0.0.1:{port}"


def main():
    binary = os.path.abspath(sys.argv[1])
    objects = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
    per_object = int(sys.argv[3]) if len(sys.argv) > 3 else 20
    moto_port = free_port()
    moto = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "moto_server"), "-H", "127.0.0.1", "-p", str(moto_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    moto_url = f"http://127.0.0.1:{moto_port}"
    wait(f"{moto_url}/moto-api/data.json")
    s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1", aws_access_key_id="bench",
                      aws_secret_access_key="bench-secret-key")
    s3.create_bucket(Bucket="bench-trail")
    total_bytes = 0
    for n in range(objects):
        region = ["us-east-1", "eu-west-1"][n % 2]
        day = 1 + (n // 2) // 48
        month, day = 1 + (day - 1) // 28, 1 + (day - 1) % 28
        records = [
            {
                "eventVersion": "1.09", "eventID": f"bench-{n}-{i}", "eventTime": f"2024-{month:02}-{day:02}T00:00:{i % 60:02}Z",
                "eventName": "DescribeInstances", "eventSource": "ec2.amazonaws.com", "awsRegion": region,
                "sourceIPAddress": "198.51.100.7", "userAgent": "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0",
                "requestID": f"req-{n}-{i}", "eventType": "AwsApiCall", "recipientAccountId": "111122223333",
                "userIdentity": {"type": "IAMUser", "arn": "arn:aws:iam::111122223333:user/ops", "accountId": "111122223333",
                                 "accessKeyId": "AKIAOPS", "userName": "ops"},
            }
            for i in range(per_object)
        ]
        body = gzip.compress(json.dumps({"Records": records}).encode())
        total_bytes += len(body)
        key = (f"AWSLogs/111122223333/CloudTrail/{region}/2024/{month:02}/{day:02}/"
               f"111122223333_CloudTrail_{region}_2024{month:02}{day:02}T0000Z_{n}.json.gz")
        s3.put_object(Bucket="bench-trail", Key=key, Body=body)
    print(f"{objects} objects of {per_object} events, {total_bytes / objects:.0f} bytes each on average")
    for concurrency in (1, 4, 16):
        osmem, os_url = start_osmem()
        env = {
            "PATH": os.environ["PATH"], "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret-key",
            "AWS_EC2_METADATA_DISABLED": "true", "TRAILSHIP__AWS__REGION": "us-east-1",
            "TRAILSHIP__AWS__ENDPOINT_URL": moto_url, "TRAILSHIP__OPENSEARCH__URL": os_url, "RUST_LOG": "warn",
        }
        with tempfile.TemporaryDirectory() as cwd:
            started = time.monotonic()
            run = subprocess.run([binary, "backfill", "--bucket", "bench-trail", "--concurrency", str(concurrency)],
                                 env=env, cwd=cwd, capture_output=True, text=True)
            wall = time.monotonic() - started
        osmem.terminate()
        summary = [l for l in run.stderr.splitlines() if l.startswith("trailship backfill")]
        if run.returncode != 0 or not summary:
            raise SystemExit(f"backfill failed: {run.stderr}")
        m = re.search(r"(\d+) of (\d+) objects, (\d+) events", summary[0])
        done, events = int(m.group(1)), int(m.group(3))
        print(f"--concurrency {concurrency:>2}: {done} objects, {events} events in {wall:.1f} s: "
              f"{done / wall:.0f} objects/s, {events / wall:.0f} events/s")
    moto.terminate()


if __name__ == "__main__":
    main()
