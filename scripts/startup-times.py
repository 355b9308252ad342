#!/usr/bin/env python3
"""Start-up figures of docs/performance.md: the whole-process wall time of
`trailship --version` and of a one-file `trailship ingest --output /dev/null` (100 events whose
user agents are AWS service principals, which need no user-agent regex, and 100 events with SDK
and CLI agents, which compile the regexes the prefilter picks). Runs each command RUNS times
(default 21) after one warm-up and prints the median and the range in milliseconds.

Usage: scripts/startup-times.py [BINARY] (default target/release/trailship; build it with
`cargo build --release`). Environment: RUNS.
"""
import json, os, statistics, subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "target", "release", "trailship")
RUNS = int(os.environ.get("RUNS", "21"))

SERVICE_AGENTS = ["cloudtrail.amazonaws.com", "ec2.amazonaws.com", "lambda.amazonaws.com", "AWS Internal"]
SDK_AGENTS = [
    "aws-cli/2.15.0 Python/3.11.6 Linux/6.5.0 exe/x86_64.ubuntu.22 prompt/off command/s3.ls",
    "Boto3/1.34.11 md/Botocore#1.34.11 ua/2.0 os/linux#6.5.0 md/arch#x86_64 lang/python#3.11.6 cfg/retry-mode#legacy Botocore/1.34.11",
    "aws-sdk-go-v2/1.24.0 os/linux lang/go#1.21.5 md/GOOS#linux md/GOARCH#amd64 api/sts#1.26.6",
    "aws-sdk-java/2.21.29 Linux/6.5.0 OpenJDK_64-Bit_Server_VM/17.0.9+9 Java/17.0.9 vendor/Eclipse_Adoptium io/sync http/Apache",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
]


def events(agents):
    out = []
    for n in range(100):
        out.append({
            "eventVersion": "1.09", "eventTime": f"2024-08-01T00:{n // 60:02d}:{n % 60:02d}Z",
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRole", "awsRegion": "us-east-1",
            "sourceIPAddress": agents[n % len(agents)] if "amazonaws" in agents[0] else "198.51.100.7",
            "userAgent": agents[n % len(agents)], "eventID": f"00000000-0000-4000-8000-{n:012d}",
            "userIdentity": {"type": "AWSService", "invokedBy": "ec2.amazonaws.com"},
            "readOnly": True, "eventType": "AwsApiCall", "managementEvent": True,
            "recipientAccountId": "123456789012", "eventCategory": "Management",
        })
    return {"Records": out}


def times(argv):
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ms = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        ms.append((time.perf_counter() - start) * 1000)
    return ms


def main():
    if not os.access(BINARY, os.X_OK):
        sys.exit(f"no binary at {BINARY}: run `cargo build --release` first")
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name, agents in (("service principals", SERVICE_AGENTS), ("SDK and CLI agents", SDK_AGENTS)):
            path = os.path.join(tmp, name.split()[0] + ".json")
            with open(path, "w") as f:
                json.dump(events(agents), f)
            files[name] = path
        rows = [("trailship --version", [BINARY, "--version"])]
        for name, path in files.items():
            rows.append((f"ingest of one file, 100 events, {name}", [BINARY, "ingest", "--output", "/dev/null", path]))
        print(f"whole-process wall time, median (min-max) of {RUNS} runs after a warm-up:")
        for label, argv in rows:
            ms = times(argv)
            print(f"  {label}: {statistics.median(ms):.1f} ms ({min(ms):.1f}-{max(ms):.1f})")


if __name__ == "__main__":
    main()
