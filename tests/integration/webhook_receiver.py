#!/usr/bin/env python3
"""A webhook receiver for the alert tests.

  webhook_receiver.py PORT_FILE LOG_FILE [--fail-first N] [--status CODE] [--secret-env NAME]

Listens on a free loopback port (written to PORT_FILE), answers 503 to the first N POSTs
and CODE (200) afterwards, and appends one JSON line per request to LOG_FILE: the attempt number,
the status it answered, the time, the path, the X-Tally-Delivery header, whether the
X-Tally-Signature header is a valid HMAC-SHA256 of the body under the key in the
environment variable NAME, and the body.
"""
import argparse
import hashlib
import hmac
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ap = argparse.ArgumentParser()
ap.add_argument("port_file")
ap.add_argument("log_file")
ap.add_argument("--fail-first", type=int, default=0)
ap.add_argument("--status", type=int, default=200)
ap.add_argument("--secret-env")
args = ap.parse_args()
key = os.environ[args.secret_env].encode() if args.secret_env else None
lock = threading.Lock()
count = 0


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        global count
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        with lock:
            count += 1
            n = count
            status = 503 if n <= args.fail_first else args.status
            sig = self.headers.get("X-Tally-Signature")
            sig_ok = None
            if key is not None:
                want = "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()
                sig_ok = sig is not None and hmac.compare_digest(sig, want)
            rec = {"n": n, "status": status, "t": time.time(), "path": self.path,
                   "delivery": self.headers.get("X-Tally-Delivery"), "signed": sig is not None,
                   "sig_ok": sig_ok, "content_type": self.headers.get("Content-Type"),
                   "body": body.decode("utf-8", "replace")}
            with open(args.log_file, "a") as f:
                f.write(json.dumps(rec) + "\n")
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(args.port_file + ".tmp", args.port_file)
srv.serve_forever()
