"""What trailship's loopback test servers share: forwarding a request to the real upstream
(osmem), answering JSON, serving on a free port (plain or TLS) until the parent test process
goes away, and announcing the URL as one JSON line on stdout.
"""
import http.client
import http.server
import json
import os
import ssl
import threading
import time


def reply(handler, status, body, content_type="application/json"):
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    handler.wfile.write(data)


def forward(handler, upstream, body, drop=()):
    """Sends the handler's request to `upstream` (a urlsplit result) and relays the answer;
    headers named in `drop` (lowercase) are not passed on."""
    conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
    skip = {"host", "connection", "content-length", *drop}
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in skip}
    conn.request(handler.command, handler.path, body=body if body else None, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    reply(handler, resp.status, data, resp.getheader("Content-Type") or "application/json")
    conn.close()


def read_body(handler):
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


def _watch_parent(pid):
    while True:
        try:
            os.kill(pid, 0)
        except OSError:
            os._exit(0)
        time.sleep(1)


def serve(handler_class, tls_cert=None, tls_key=None):
    """Serves on a free loopback port (HTTPS with `tls_cert`/`tls_key`), prints {"url": ...}."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    scheme = "http"
    if tls_cert:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(tls_cert, tls_key)
        server.socket = context.wrap_socket(server.socket, server_side=True)
        scheme = "https"
    threading.Thread(target=_watch_parent, args=(os.getppid(),), daemon=True).start()
    print(json.dumps({"url": f"{scheme}://127.0.0.1:{server.server_address[1]}"}), flush=True)
    server.serve_forever()
