#!/usr/bin/env python3
"""A SigV4-verifying proxy for trailship's integration tests: what Amazon OpenSearch Service
(`es`) or OpenSearch Serverless (`aoss`) checks before a request reaches the cluster.

    sigv4proxy.py UPSTREAM --service es|aoss --region R --access-key AK --secret-key SK
                  [--session-token T]
    sigv4proxy.py --golden

For every request it recomputes the signature with botocore's SigV4Auth from the request as
received (method, path, query, the headers the client signed, the body) and the credentials it
was given, and answers 403 in AWS's words when anything is off: no or malformed Authorization,
an unknown access key, the wrong service or region in the scope, a date more than 5 minutes
away, a missing or wrong session token, an x-amz-content-sha256 that is not the body's hash
(required for aoss), or a signature that differs. A request that passes is forwarded to
UPSTREAM (osmem) without the signing headers.

    GET /_sigv4   {"verified": n, "rejected": n, "reasons": [...]}   (not forwarded, not signed)

--golden prints the Authorization header botocore computes for the fixed requests of trailship's
golden-vector unit tests (src/index/client_tests.rs).
"""
import argparse
import datetime
import hashlib
import hmac
import http.server
import re
import sys
import threading
import urllib.parse

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from common import forward, read_body, reply, serve

AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[a-z0-9;-]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)
SIGNING = {"authorization", "x-amz-date", "x-amz-security-token", "x-amz-content-sha256"}


def signature(method, url, headers, body, credentials, service, region, timestamp):
    """botocore's signature of the request, for `timestamp` (x-amz-date)."""
    request = AWSRequest(method=method, url=url, headers=headers, data=body)
    request.context["timestamp"] = timestamp
    auth = SigV4Auth(credentials, service, region)
    canonical = auth.canonical_request(request)
    return auth.signature(auth.string_to_sign(request, canonical), request)


def verify(method, path, headers, body, opts):
    """None when the request is signed right, else the reason it is refused."""
    match = AUTH.match(headers.get("authorization", ""))
    if not match:
        return "Missing Authentication Token" if "authorization" not in headers else "malformed Authorization header"
    if match["key"] != opts.access_key:
        return "The security token included in the request is invalid (unknown access key)"
    if match["service"] != opts.service or match["region"] != opts.region:
        return f"Credential should be scoped to a valid region/service, not {match['region']}/{match['service']}"
    signed = match["signed"].split(";")
    missing = [h for h in ("host", "x-amz-date") if h not in signed]
    if missing:
        return f"signed headers must include {missing}"
    stamp = headers.get("x-amz-date", "")
    try:
        when = datetime.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
    except ValueError:
        return "x-amz-date is missing or malformed"
    if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 300 or match["date"] != stamp[:8]:
        return "Signature expired: the request date is more than 5 minutes away"
    if opts.session_token is not None and (
        headers.get("x-amz-security-token") != opts.session_token or "x-amz-security-token" not in signed
    ):
        return "The security token included in the request is invalid (session token)"
    digest = hashlib.sha256(body).hexdigest()
    if "x-amz-content-sha256" in headers:
        if headers["x-amz-content-sha256"] != digest or "x-amz-content-sha256" not in signed:
            return "x-amz-content-sha256 is not the hash of the body, or not signed"
    elif opts.service == "aoss":
        return "OpenSearch Serverless requires the x-amz-content-sha256 header"
    if any(h not in headers for h in signed):
        return "a signed header is missing from the request"
    url = f"http://{headers['host']}{path}"
    credentials = Credentials(opts.access_key, opts.secret_key, opts.session_token)
    expected = signature(method, url, {h: headers[h] for h in signed}, body, credentials, opts.service, opts.region, stamp)
    if not hmac.compare_digest(expected, match["signature"]):
        return "The request signature we calculated does not match the signature you provided"
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    opts = None
    upstream = None
    lock = threading.Lock()
    stats = {"verified": 0, "rejected": 0, "reasons": []}

    def log_message(self, *args):
        pass

    def handle_any(self):
        body = read_body(self)
        if self.path == "/_sigv4":
            with self.lock:
                return reply(self, 200, self.stats)
        headers = {k.lower(): v.strip() for k, v in self.headers.items()}
        reason = verify(self.command, self.path, headers, body, self.opts)
        with self.lock:
            self.stats["rejected" if reason else "verified"] += 1
            if reason:
                self.stats["reasons"].append(reason)
        if reason:
            return reply(self, 403, {"message": reason})
        forward(self, self.upstream, body, drop=SIGNING)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


GOLDEN_CREDENTIALS = Credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "session-token-example")
GOLDEN_HOST = "search-trailship.us-east-1.es.amazonaws.com"
GOLDEN_BULK = b'{"create":{"_index":"cloudtrail-2023.11.14","_id":"abc"}}\n{"eventName":"DeleteTrail"}\n'


def golden():
    """The unit tests' requests, signed by botocore at 2023-11-14T22:13:20Z in us-east-1."""
    stamp = "20231114T221320Z"
    cases = [
        ("es", "POST", "/_bulk", GOLDEN_BULK, "application/x-ndjson"),
        ("aoss", "POST", "/_bulk", GOLDEN_BULK, "application/x-ndjson"),
        ("es", "GET", "/_index_template/cloudtrail", b"", "application/json"),
        ("aoss", "GET", "/cloudtrail-*/_search?size=0", b"", "application/json"),
    ]
    for service, method, path, body, content_type in cases:
        headers = {
            "accept": "application/json",
            "content-type": content_type,
            "host": GOLDEN_HOST,
            "x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
            "x-amz-date": stamp,
            "x-amz-security-token": GOLDEN_CREDENTIALS.token,
        }
        sig = signature(method, f"http://{GOLDEN_HOST}{path}", headers, body, GOLDEN_CREDENTIALS, service, "us-east-1", stamp)
        print(f"{service} {method} {path} sha256={headers['x-amz-content-sha256']}")
        print(
            f"  AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20231114/us-east-1/{service}/aws4_request, "
            f"SignedHeaders={';'.join(sorted(headers))}, Signature={sig}"
        )


if __name__ == "__main__":
    if "--golden" in sys.argv:
        golden()
        sys.exit(0)
    parser = argparse.ArgumentParser()
    parser.add_argument("upstream")
    parser.add_argument("--service", choices=["es", "aoss"], required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--access-key", required=True)
    parser.add_argument("--secret-key", required=True)
    parser.add_argument("--session-token")
    Handler.opts = parser.parse_args()
    Handler.upstream = urllib.parse.urlsplit(Handler.opts.upstream)
    serve(Handler)
