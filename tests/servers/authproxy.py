#!/usr/bin/env python3
"""A basic-authentication proxy for trailship's integration tests: what an OpenSearch cluster
with the security plugin checks before a request reaches it (osmem has no security).

    authproxy.py UPSTREAM USERNAME    (the password is read from the environment, AUTHPROXY_PASSWORD)

A request whose Authorization header is not `Basic base64(USERNAME:PASSWORD)` is answered 401
with `WWW-Authenticate: Basic realm="OpenSearch Security"` and the security plugin's body; any
other is forwarded to UPSTREAM (osmem) without the Authorization header.

    GET /_auth   {"accepted": n, "refused": n, "refused_paths": [...]}   (not forwarded)
"""
import base64
import http.server
import os
import sys
import threading
import urllib.parse

from common import forward, read_body, reply, serve

upstream = urllib.parse.urlsplit(sys.argv[1])
expected = "Basic " + base64.b64encode(f"{sys.argv[2]}:{os.environ['AUTHPROXY_PASSWORD']}".encode()).decode()
lock = threading.Lock()
stats = {"accepted": 0, "refused": 0, "refused_paths": []}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        body = read_body(self)
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_auth":
            with lock:
                return reply(self, 200, stats)
        if self.headers.get("Authorization") != expected:
            with lock:
                stats["refused"] += 1
                stats["refused_paths"].append(path)
            data = b'{"error":{"root_cause":[{"type":"security_exception","reason":"Unauthorized"}],' \
                   b'"type":"security_exception","reason":"Unauthorized"},"status":401}'
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="OpenSearch Security"')
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        with lock:
            stats["accepted"] += 1
        forward(self, upstream, body, drop=("authorization",))

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


if __name__ == "__main__":
    serve(Handler)
