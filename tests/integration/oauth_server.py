#!/usr/bin/env python3
"""A stand-in for Entra ID's token endpoint and the Azure IMDS, for test_oauth.sh.

    oauth_server.py --port-file F --log L [--expires-in S] [--secret S] [--assertion-file F]

Serves on 127.0.0.1 (a free port, written to --port-file once listening):
  POST /{tenant}/oauth2/v2.0/token   client credentials (client_secret must equal --secret)
                                     or federated token (client_assertion must equal the
                                     current contents of --assertion-file)
  GET  /metadata/identity/oauth2/token?api-version=2018-02-01&resource=…  (Metadata: true)
Every request is appended to --log as one JSON line: time, method, path, query, form,
headers. Tokens are "tok-N" and expire after --expires-in seconds (numbers as strings
for IMDS, as the real one sends them). A wrong credential gets Entra's 401 error.
"""
import argparse
import json
import os
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ARGS = None
LOCK = threading.Lock()
COUNT = [0]


def record(handler, form):
    entry = {
        "time": time.time(),
        "method": handler.command,
        "path": urllib.parse.urlsplit(handler.path).path,
        "query": dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query)),
        "form": form,
        "headers": {k.lower(): v for k, v in handler.headers.items()},
    }
    with LOCK:
        with open(ARGS.log, "a") as f:
            f.write(json.dumps(entry, sort_keys=True) + "\n")


def next_token():
    with LOCK:
        COUNT[0] += 1
        return "tok-%d" % COUNT[0]


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
        record(self, form)
        if not self.path.endswith("/oauth2/v2.0/token"):
            return self.reply(404, {"error": "not_found"})
        if form.get("grant_type") != "client_credentials":
            return self.reply(400, {"error": "unsupported_grant_type"})
        ok = False
        if "client_secret" in form:
            ok = ARGS.secret is not None and form["client_secret"] == ARGS.secret
        elif form.get("client_assertion_type") == \
                "urn:ietf:params:oauth:client-assertion-type:jwt-bearer":
            with open(ARGS.assertion_file) as f:
                ok = form.get("client_assertion") == f.read().strip()
        if not ok:
            return self.reply(401, {
                "error": "invalid_client",
                "error_description": "AADSTS7000215: Invalid client secret provided.\r\n"
                                     "Trace ID: 00000000-0000-0000-0000-000000000000",
            })
        self.reply(200, {"token_type": "Bearer", "expires_in": ARGS.expires_in,
                         "ext_expires_in": ARGS.expires_in, "access_token": next_token()})

    def do_GET(self):
        record(self, {})
        url = urllib.parse.urlsplit(self.path)
        query = dict(urllib.parse.parse_qsl(url.query))
        if url.path != "/metadata/identity/oauth2/token":
            return self.reply(404, {"error": "not_found"})
        if self.headers.get("Metadata") != "true":
            return self.reply(400, {"error": "invalid_request",
                                    "error_description": "Required metadata header not specified"})
        if query.get("api-version") != "2018-02-01" or not query.get("resource"):
            return self.reply(400, {"error": "invalid_request"})
        now = int(time.time())
        self.reply(200, {"access_token": next_token(), "client_id": query.get("client_id", ""),
                         "expires_in": str(ARGS.expires_in),
                         "expires_on": str(now + ARGS.expires_in),
                         "resource": query["resource"], "token_type": "Bearer"})

    def log_message(self, fmt, *args):
        pass


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--expires-in", type=int, default=6)
    p.add_argument("--secret")
    p.add_argument("--assertion-file")
    ARGS = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
