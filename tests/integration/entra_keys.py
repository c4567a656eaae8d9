#!/usr/bin/env python3
"""Keys, key sets and tokens for test_report_entra.sh: a stand-in for Entra ID's signing.

    entra_keys.py make DIR --tenant T --audience A --issuer I < SPEC.jsonl
        Makes three RSA keys (a and b are published, c never is), DIR/jwks-a.json (a,
        plus keys tally-report must skip: EC, encryption, 1024-bit RSA, symmetric),
        DIR/jwks-ab.json (a and b: the rotation), DIR/pub-a.pem, and one token per spec
        line in DIR/NAME.jwt. A spec line is a JSON object:
          name    the file name
          key     a | b | c (default a), signs the token
          kid     the header's kid (default "kid-" + key)
          alg     RS256 (default) | none (no signature) | HS256-pub (HMAC keyed with
                  the PEM of key a's public key: the key confusion attack)
          claims  merged over a valid developer token's; "now+N" / "now-N" are times
          drop    claims to leave out
          tamper  true: the payload is changed after signing
    entra_keys.py serve --keys FILE --port-file F --log L [--hang-file H]
        Serves FILE (re-read per request) at GET /keys on 127.0.0.1; one line per request
        in L; the free port in F once listening. While H exists a request is accepted and
        not answered (an IdP that hangs): "open" is appended to H.state on arrival, then
        "answered" once H is gone and the reply is sent ("gone" if the client left).
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa


def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def uint(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def jwk(key, kid, **extra):
    pub = key.public_key().public_numbers()
    return dict(kty="RSA", use="sig", kid=kid, x5t=kid, n=uint(pub.n), e=uint(pub.e), **extra)


def sign(header, claims, alg, key, pub_pem, tamper):
    head = b64u(json.dumps(header, separators=(",", ":")).encode())
    body = b64u(json.dumps(claims, separators=(",", ":")).encode())
    data = (head + "." + body).encode()
    if alg == "none":
        sig = ""
    elif alg == "HS256-pub":
        sig = b64u(hmac.new(pub_pem, data, hashlib.sha256).digest())
    else:
        sig = b64u(key.sign(data, padding.PKCS1v15(), hashes.SHA256()))
    if tamper:
        claims = dict(claims, oid="oid-carol")
        body = b64u(json.dumps(claims, separators=(",", ":")).encode())
    return head + "." + body + "." + sig


def when(v, now):
    if isinstance(v, str) and v.startswith("now"):
        return now + int(v[3:] or 0)
    return v


def make(args):
    os.makedirs(args.dir, exist_ok=True)
    keys = {k: rsa.generate_private_key(public_exponent=65537, key_size=2048) for k in "abc"}
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    curve = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers()
    pub_pem = keys["a"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    with open(os.path.join(args.dir, "pub-a.pem"), "wb") as f:
        f.write(pub_pem)
    skipped = [
        dict(kty="EC", use="sig", kid="kid-ec", crv="P-256", x=uint(curve.x), y=uint(curve.y)),
        jwk(keys["c"], "kid-enc")
        | {"use": "enc"},
        jwk(small, "kid-small"),
        dict(kty="oct", kid="kid-oct", k=b64u(pub_pem)),
    ]
    issuer = {"issuer": "https://login.microsoftonline.com/{tenantid}/v2.0"}
    sets = {"jwks-a.json": [jwk(keys["a"], "kid-a", **issuer)] + skipped,
            "jwks-ab.json": [jwk(keys["a"], "kid-a", **issuer), jwk(keys["b"], "kid-b", **issuer)]}
    for name, ks in sets.items():
        with open(os.path.join(args.dir, name), "w") as f:
            json.dump({"keys": ks}, f)
    now = int(time.time())
    for line in sys.stdin:
        if not line.strip():
            continue
        spec = json.loads(line)
        key = spec.get("key", "a")
        claims = {"aud": args.audience, "iss": args.issuer, "tid": args.tenant,
                  "oid": "oid-alice", "roles": ["Tally.Developer"], "ver": "2.0",
                  "iat": now - 60, "nbf": now - 60, "exp": now + 3600}
        claims.update(spec.get("claims", {}))
        for c in spec.get("drop", []):
            claims.pop(c, None)
        claims = {k: when(v, now) for k, v in claims.items()}
        alg = spec.get("alg", "RS256")
        header = {"typ": "JWT", "alg": "HS256" if alg == "HS256-pub" else alg,
                  "kid": spec.get("kid", "kid-" + key)}
        with open(os.path.join(args.dir, spec["name"] + ".jwt"), "w") as f:
            f.write(sign(header, claims, alg, keys[key], pub_pem, spec.get("tamper")))


def serve(args):
    lock = threading.Lock()

    def state(word):
        with lock:
            with open(args.hang_file + ".state", "a") as f:
                f.write(word + "\n")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            with lock:
                with open(args.log, "a") as f:
                    f.write(json.dumps({"path": self.path, "time": time.time()}) + "\n")
            if self.path != "/keys":
                self.send_error(404)
                return
            hang = args.hang_file and os.path.exists(args.hang_file)
            if hang:
                state("open")
                while os.path.exists(args.hang_file):
                    time.sleep(0.05)
            with open(args.keys, "rb") as f:
                data = f.read()
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                self.wfile.flush()
            except OSError:
                if hang:
                    state("gone")
                raise
            if hang:
                state("answered")

        def log_message(self, *a):
            pass

    serve_loopback(Handler, args.port_file)


def serve_loopback(handler, port_file):
    """Serves handler on a free loopback port, written to port_file once it listens
    (renamed into place, so a reader never sees half of it); never returns."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    tmp = port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(tmp, port_file)
    server.serve_forever()


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--tenant", required=True)
    m.add_argument("--audience", required=True)
    m.add_argument("--issuer", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--keys", required=True)
    s.add_argument("--port-file", required=True)
    s.add_argument("--log", required=True)
    s.add_argument("--hang-file")
    args = p.parse_args()
    make(args) if args.cmd == "make" else serve(args)


if __name__ == "__main__":
    main()
