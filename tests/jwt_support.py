"""An OpenID issuer for the JWT authorizer tests: RSA and EC keys of its own, the discovery
document and JWKS served over plain HTTP on loopback, and tokens minted with those keys."""

import base64
import http.server
import json
import threading
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int_bytes(n, length=None):
    length = length or (n.bit_length() + 7) // 8
    return n.to_bytes(length, "big")


class Issuer:
    """Serves `/.well-known/openid-configuration` and `/jwks` on 127.0.0.1; `.url` is the
    issuer URL, `.fetches` counts JWKS downloads."""

    def __init__(self):
        self.rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.ec = ec.generate_private_key(ec.SECP256R1())
        self.fetches = 0
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/.well-known/openid-configuration":
                    doc = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks"}
                elif self.path == "/jwks":
                    issuer.fetches += 1
                    doc = issuer.jwks()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()

    def jwks(self):
        rn = self.rsa.public_key().public_numbers()
        en = self.ec.public_key().public_numbers()
        return {"keys": [
            {"kty": "RSA", "kid": "rsa1", "use": "sig", "alg": "RS256",
             "n": b64url(_int_bytes(rn.n)), "e": b64url(_int_bytes(rn.e))},
            {"kty": "EC", "kid": "ec1", "use": "sig", "crv": "P-256",
             "x": b64url(_int_bytes(en.x, 32)), "y": b64url(_int_bytes(en.y, 32))},
        ]}

    def claims(self, audience, **extra):
        now = int(time.time())
        c = {"iss": self.url, "aud": audience, "sub": "user-1", "iat": now - 5,
             "nbf": now - 5, "exp": now + 300}
        c.update(extra)
        return {k: v for k, v in c.items() if v is not None}

    def token(self, claims, alg="RS256", kid=None, key=None):
        kid = kid or ("rsa1" if alg == "RS256" else "ec1")
        header = {"alg": alg, "typ": "JWT", "kid": kid}
        signed = (b64url(json.dumps(header).encode()) + "." +
                  b64url(json.dumps(claims).encode())).encode()
        if alg == "RS256":
            sig = (key or self.rsa).sign(signed, padding.PKCS1v15(), hashes.SHA256())
        else:
            der = (key or self.ec).sign(signed, ec.ECDSA(hashes.SHA256()))
            r, s = decode_dss_signature(der)
            sig = _int_bytes(r, 32) + _int_bytes(s, 32)
        return signed.decode() + "." + b64url(sig)
