#!/usr/bin/env python3
"""A fault-injecting HTTP proxy for trailship's integration tests.

Sits in front of a real OpenSearch-compatible server (osmem) and forwards every request to it,
except where the test has asked for faults. Started by the test harness on a free loopback
port; prints one JSON line {"url": ...} when ready. Exits when its parent process goes away.

Control (not forwarded):
  POST /_fault  {"rules": [RULE, ...]}  replaces the rules; an empty list clears them.
  GET  /_fault                          {"requests": {path: count}, "faults": {kind: count},
                                         "log": [[method, path with query,
                                                  x-amz-expected-bucket-owner or null], ...]}
A RULE applies to requests whose path starts with "path" (default "/_bulk") and, when the rule
has a "target", whose X-Amz-Target header is that (an AWS JSON call: "AmazonSQS.ReceiveMessage"),
for the next "count" matching requests (default: without end), and is one of:
  {"kind": "status", "status": 503}                      answer the whole request with it
  {"kind": "items", "status": 429, "error_type": "...",  answer every item with that status
   "errors_flag": false}                                 (and this top-level "errors")
  {"kind": "max_bytes", "limit": 65536}                  413 for a body over the limit
  {"kind": "reset"}                                      close the connection, no answer
  {"kind": "delay", "seconds": 1.5}                      wait, then forward
  {"kind": "answer", "status": 403, "body": "...",        answer with that body (an S3 XML
   "content_type": "application/xml"}                    error, for the S3 client; an SQS JSON
                                                         error with its content type)
The first rule that applies (in order) decides; a rule whose count is spent is dropped.

With --tls CERT KEY it serves HTTPS (for the opensearch.ca_file test).
"""
import http.server
import json
import socket
import sys
import threading
import time
import urllib.parse

from common import forward, read_body, reply, serve

upstream = urllib.parse.urlsplit(sys.argv[1])
lock = threading.Lock()
rules = []
stats = {"requests": {}, "faults": {}, "log": []}


def pick(path, length, target):
    with lock:
        stats["requests"][path] = stats["requests"].get(path, 0) + 1
        for rule in list(rules):
            if not path.startswith(rule.get("path", "/_bulk")):
                continue
            if "target" in rule and rule["target"] != target:
                continue
            if rule["kind"] == "max_bytes" and length <= rule["limit"]:
                continue
            if "count" in rule:
                rule["count"] -= 1
                if rule["count"] <= 0:
                    rules.remove(rule)
            stats["faults"][rule["kind"]] = stats["faults"].get(rule["kind"], 0) + 1
            return dict(rule)
    return None


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, content_type="application/json"):
        reply(self, status, body, content_type)

    def handle_any(self):
        body = read_body(self)
        path = urllib.parse.urlsplit(self.path).path
        if path == "/_fault":
            global rules
            if self.command == "POST":
                with lock:
                    rules = json.loads(body or b"{}").get("rules", [])
            with lock:
                return self.reply(200, stats)
        with lock:
            stats["log"].append([self.command, self.path, self.headers.get("x-amz-expected-bucket-owner")])
        rule = pick(path, len(body), self.headers.get("X-Amz-Target"))
        if rule is not None:
            kind = rule["kind"]
            if kind == "status":
                return self.reply(rule["status"], {"error": {"type": "injected", "reason": "fault proxy"}, "status": rule["status"]})
            if kind == "max_bytes":
                return self.reply(413, b"", "text/plain")
            if kind == "reset":
                self.close_connection = True
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                self.connection.close()
                return
            if kind == "items":
                items = []
                lines = [l for l in body.split(b"\n") if l.strip()]
                for action in lines[0::2]:
                    meta = next(iter(json.loads(action).values()))
                    item = {"_index": meta.get("_index"), "_id": meta.get("_id"), "status": rule["status"]}
                    if rule.get("error_type"):
                        item["error"] = {"type": rule["error_type"], "reason": "fault proxy"}
                    items.append({"create": item})
                return self.reply(200, {"took": 1, "errors": rule.get("errors_flag", True), "items": items})
            if kind == "answer":
                return self.reply(rule["status"], rule["body"].encode(), rule.get("content_type", "application/xml"))
            if kind == "delay":
                time.sleep(rule["seconds"])
        forward(self, upstream, body)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any


if __name__ == "__main__":
    tls = sys.argv[sys.argv.index("--tls") + 1:][:2] if "--tls" in sys.argv else [None, None]
    serve(Handler, *tls)
