#!/usr/bin/env python3
"""A registry front for tests, on 127.0.0.1: serves what a real registry (the upstream docker-registry)
holds, but the way public registries behave and Debian's docker-registry cannot be made to:

- bearer tokens: /v2/ answers 401 with a Bearer challenge whose realm is this server's /token;
  every other request needs `Authorization: Bearer <token>` (anonymous tokens, scoped);
- blobs are redirected (307) to a second port standing for blob storage, which refuses requests that
  carry an Authorization header (credentials must not follow a redirect to another host);
- repositories named `limited/...` answer 429 with Retry-After, as Docker Hub's rate limit does;
- blobs of repositories named `flaky/...` break off halfway the first time they are fetched whole;
- repositories named `private/...` need a token got with the identity (refresh) token
  `valid-refresh` (a POST to /token with grant_type=refresh_token, as docker's OAuth2 flow does).

Usage: fake-registry.py UPSTREAM_PORT PORT_FILE
Writes "<api port> <storage port>" to PORT_FILE once listening. Logs requests to stderr.
"""
import http.client
import http.server
import signal
import socketserver
import sys
import threading

# A parent may have left SIGTERM blocked; be stoppable.
signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])

UPSTREAM = int(sys.argv[1])
TOKEN = "tok-123"
PRIVATE_TOKEN = "tok-private"


def forward(handler, method, path, send_auth=False):
    conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=30)
    headers = {k: v for k, v in handler.headers.items() if k.lower() not in ("host", "authorization")}
    length = int(handler.headers.get("Content-Length") or 0)
    body = handler.rfile.read(length) if length else None
    conn.request(method, path, body=body, headers=headers)
    resp = conn.getresponse()
    data = resp.read()
    handler.send_response(resp.status)
    for k, v in resp.getheaders():
        if k.lower() in ("content-length", "transfer-encoding", "connection"):
            continue
        handler.send_header(k, v)
    handler.send_header("Content-Length", str(len(data)))
    handler.end_headers()
    if method != "HEAD":
        handler.wfile.write(data)


broken = set()


class Storage(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.headers.get("Authorization"):
            sys.stderr.write("storage: refused a request carrying Authorization\n")
            self.send_response(400)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if "/flaky/" in self.path and self.path not in broken and not self.headers.get("Range"):
            broken.add(self.path)
            conn = http.client.HTTPConnection("127.0.0.1", UPSTREAM, timeout=30)
            conn.request("GET", self.path)
            data = conn.getresponse().read()
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            sys.stderr.write("storage: broke off %s after %d of %d bytes\n" % (self.path, len(data) // 2, len(data)))
            self.close_connection = True
            self.connection.shutdown(2)
            return
        forward(self, "GET", self.path)

    def log_message(self, fmt, *args):
        sys.stderr.write("storage: " + (fmt % args) + "\n")


class API(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    storage_port = 0
    api_port = 0

    def reply(self, status, body=b"", headers=None):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def challenge(self, scope=""):
        realm = "http://127.0.0.1:%d/token" % API.api_port
        value = 'Bearer realm="%s",service="fake-registry"' % realm
        if scope:
            value += ',scope="%s"' % scope
        self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                   {"WWW-Authenticate": value, "Content-Type": "application/json"})

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = self.rfile.read(length).decode()
        fields = dict(kv.split("=", 1) for kv in form.split("&") if "=" in kv)
        if self.path.startswith("/token") and fields.get("grant_type") == "refresh_token" \
                and fields.get("refresh_token") == "valid-refresh" and fields.get("service") == "fake-registry":
            self.reply(200, ('{"access_token":"%s","expires_in":300}' % PRIVATE_TOKEN).encode(), {"Content-Type": "application/json"})
            return
        self.reply(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"invalid refresh token"}]}', {"Content-Type": "application/json"})

    def handle_any(self, method):
        if self.path.startswith("/token"):
            if "service=fake-registry" not in self.path or "scope=repository" not in self.path:
                self.reply(400, b'{"details":"bad token request"}')
                return
            self.reply(200, ('{"token":"%s","expires_in":300}' % TOKEN).encode(), {"Content-Type": "application/json"})
            return
        wanted = PRIVATE_TOKEN if self.path.startswith("/v2/private/") else TOKEN
        if self.headers.get("Authorization") not in ("Bearer " + wanted, "Bearer " + PRIVATE_TOKEN):
            parts = self.path.split("/")
            scope = "repository:%s:pull" % "/".join(parts[2:-2]) if len(parts) > 4 else ""
            self.challenge(scope)
            return
        if self.path == "/v2/":
            self.reply(200, b"{}")
            return
        if self.path.startswith("/v2/limited/"):
            self.reply(429, b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your pull rate limit."}]}',
                       {"Retry-After": "42", "Content-Type": "application/json"})
            return
        if "/blobs/sha256:" in self.path and method == "GET":
            self.reply(307, b"", {"Location": "http://127.0.0.1:%d%s" % (API.storage_port, self.path)})
            return
        forward(self, method, self.path)

    def do_GET(self):
        self.handle_any("GET")

    def do_HEAD(self):
        self.handle_any("HEAD")

    def log_message(self, fmt, *args):
        sys.stderr.write("api: " + (fmt % args) + "\n")


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


storage = Server(("127.0.0.1", 0), Storage)
api = Server(("127.0.0.1", 0), API)
API.storage_port = storage.server_address[1]
API.api_port = api.server_address[1]
threading.Thread(target=storage.serve_forever, daemon=True).start()
with open(sys.argv[2] + ".tmp", "w") as f:
    f.write("%d %d\n" % (API.api_port, API.storage_port))
import os
os.rename(sys.argv[2] + ".tmp", sys.argv[2])
api.serve_forever()
