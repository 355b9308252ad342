#!/usr/bin/env python3
"""A webhook receiver for trailship's integration tests: takes JSON POSTs on any path, as a
Slack or Mattermost incoming webhook does, and answers 503 to the first N of them
(--fail-first N) so the sender's retries are exercised. Started by the test harness on a free
loopback port; prints one JSON line {"url": ...} when ready. Exits when its parent goes away.

  GET /_received   {"posts": [{"path": ..., "status": answered, "body": parsed JSON}, ...]}
"""
import argparse
import http.server
import json
import threading

from common import read_body, reply, serve

parser = argparse.ArgumentParser()
parser.add_argument("--fail-first", type=int, default=0)
args = parser.parse_args()
lock = threading.Lock()
posts = []


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path != "/_received":
            return reply(self, 404, {"error": "not found"})
        with lock:
            reply(self, 200, {"posts": list(posts)})

    def do_POST(self):
        raw = read_body(self)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        with lock:
            failing = len(posts) < args.fail_first
            status = 503 if failing or body is None else 200
            if body is None:
                status = 400
            posts.append({"path": self.path, "status": status, "body": body,
                          "content_type": self.headers.get("Content-Type")})
        reply(self, status, b"ok" if status == 200 else b"unavailable", "text/plain")


serve(Handler)
