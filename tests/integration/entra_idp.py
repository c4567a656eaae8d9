#!/usr/bin/env python3
"""A stand-in for Entra ID's sign-in endpoints, for test_overview_entra.sh.

    entra_idp.py --port-file F --dir D --tenant T --audience A --client-id C --secret S \\
                 --redirect R
        Makes an RSA key and serves, on 127.0.0.1:
          GET  /keys       its JWKS (kid "kid-idp")
          GET  /authorize  checks response_type=code, client_id = C, redirect_uri = R, a scope
                           with openid and A, a state, a nonce and an S256 code_challenge (else
                           400 with the reason); then 302 to R?code=…&state=…&session_state=…
                           for the user of D/user.json (claims merged over a developer's; read
                           per request), or with error=access_denied while D/deny exists
          POST /token      grant_type=authorization_code, client_id = C, client_secret = S,
                           redirect_uri as at /authorize, and code_verifier whose S256 is the
                           code's challenge; a code is good once (a second use, a wrong
                           verifier: 400 invalid_grant). Returns an RS256 access token (aud A)
                           and an id_token (aud C, the authorize request's nonce, or another
                           while D/bad-nonce exists); each access token is also written to
                           D/access-N.jwt, N counting from 1
        One JSON line per request in D/requests.log (method, path without its query, status);
        the free port in F once listening.
"""
import argparse
import hashlib
import json
import os
import secrets
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

from cryptography.hazmat.primitives.asymmetric import rsa

# the key and token helpers of the key-set server beside it
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from entra_keys import b64u, jwk, serve_loopback, sign as jwt_sign  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    for a in ("port-file", "dir", "tenant", "audience", "client-id", "secret", "redirect"):
        p.add_argument("--" + a, required=True)
    args = p.parse_args()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwks = json.dumps({"keys": [jwk(key, "kid-idp")]}).encode()
    issuer = "https://login.microsoftonline.com/%s/v2.0" % args.tenant
    codes, lock, issued = {}, threading.Lock(), [0]

    def sign(claims):
        return jwt_sign({"typ": "JWT", "alg": "RS256", "kid": "kid-idp"}, claims, "RS256", key, None, False)

    def flag(name):
        return os.path.exists(os.path.join(args.dir, name))

    class Handler(BaseHTTPRequestHandler):
        def reply(self, status, body, ctype="text/plain", headers=()):
            data = body if isinstance(body, bytes) else body.encode()
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            with lock, open(os.path.join(args.dir, "requests.log"), "a") as f:
                f.write(json.dumps({"method": self.command, "path": self.path.split("?")[0],
                                    "status": status}) + "\n")

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path == "/keys":
                return self.reply(200, jwks, "application/json")
            if url.path != "/authorize":
                return self.reply(404, "not found")
            q = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
            scope = q.get("scope", "").split(" ")
            for bad, why in ((q.get("response_type") != "code", "response_type"),
                             (q.get("client_id") != args.client_id, "client_id"),
                             (q.get("redirect_uri") != args.redirect, "redirect_uri"),
                             ("openid" not in scope or not any(s.startswith(args.audience) for s in scope), "scope"),
                             (not q.get("state") or not q.get("nonce"), "state or nonce"),
                             (q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) != 43,
                              "code_challenge")):
                if bad:
                    return self.reply(400, "bad " + why)
            back = {"state": q["state"]}
            if flag("deny"):
                back.update(error="access_denied", error_description="AADSTS50105: not assigned")
            else:
                code = "code-" + secrets.token_urlsafe(48)
                with open(os.path.join(args.dir, "user.json")) as f:
                    user = json.load(f)
                with lock:
                    codes[code] = dict(challenge=q["code_challenge"], nonce=q["nonce"],
                                       redirect=q["redirect_uri"], user=user, used=False)
                back.update(code=code, session_state=secrets.token_hex(8))
            self.reply(302, "", headers=[("Location", args.redirect + "?" + urllib.parse.urlencode(back))])

        def do_POST(self):
            if self.path != "/token":
                return self.reply(404, "not found")
            n = int(self.headers.get("Content-Length", 0))
            f = dict(urllib.parse.parse_qsl(self.rfile.read(n).decode()))
            err = lambda e: self.reply(400 if e != "invalid_client" else 401,
                                       json.dumps({"error": e, "error_description": "AADSTS: " + e}),
                                       "application/json")
            if f.get("client_id") != args.client_id or f.get("client_secret") != args.secret:
                return err("invalid_client")
            if f.get("grant_type") != "authorization_code":
                return err("unsupported_grant_type")
            with lock:
                c = codes.get(f.get("code", ""))
                first = c is not None and not c["used"]
                if c:
                    c["used"] = True  # a code is good once, whatever happens to it
            verifier = f.get("code_verifier", "")
            if not first or f.get("redirect_uri") != c["redirect"] or \
                    b64u(hashlib.sha256(verifier.encode()).digest()) != c["challenge"]:
                return err("invalid_grant")
            now = int(time.time())
            claims = {"aud": args.audience, "iss": issuer, "tid": args.tenant, "oid": "oid-alice",
                      "roles": ["Tally.Developer"], "ver": "2.0", "iat": now, "nbf": now,
                      "exp": now + 3600}
            claims.update(c["user"])
            access = sign(claims)
            ident = {"aud": args.client_id, "iss": issuer, "tid": args.tenant, "oid": claims["oid"],
                     "iat": now, "nbf": now, "exp": now + 3600,
                     "nonce": "other" if flag("bad-nonce") else c["nonce"]}
            with lock:
                issued[0] += 1
                with open(os.path.join(args.dir, "access-%d.jwt" % issued[0]), "w") as out:
                    out.write(access)
            self.reply(200, json.dumps({"token_type": "Bearer", "expires_in": 3600,
                                        "access_token": access, "id_token": sign(ident)}),
                       "application/json")

        def log_message(self, *a):
            pass

    serve_loopback(Handler, args.port_file)


if __name__ == "__main__":
    main()
