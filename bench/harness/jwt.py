"""Workload `jwt`: what a JWT authorizer adds to an HTTP API request.

One HTTP API in front of the Rust no-op function with two routes on the same integration,
`GET /open` (no authorization) and `GET /jwt` (a JWT authorizer whose issuer this process
serves on 127.0.0.1, RS256). Unsigned keep-alive GETs at concurrency 1 through loadgen; the
overhead is the difference of the two p50s (the issuer's keys are cached after the first
request, which the warm-up sends). Needs python's `cryptography` (tests/requirements.txt).
"""

import base64
import http.server
import json
import threading
import time

from . import deploy, servers, workloads

AUDIENCE = "bench"


def _b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Issuer:
    def __init__(self):
        from cryptography.hazmat.primitives.asymmetric import rsa
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        nums = self.key.public_key().public_numbers()
        jwks = {"keys": [{"kty": "RSA", "kid": "k1", "use": "sig", "alg": "RS256",
                          "n": _b64(nums.n.to_bytes(256, "big")),
                          "e": _b64(nums.e.to_bytes(3, "big"))}]}
        issuer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                doc = jwks if self.path == "/jwks" else {"jwks_uri": issuer.url + "/jwks"}
                body = json.dumps(doc).encode()
                self.send_response(200)
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def token(self):
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding
        now = int(time.time())
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": "bench", "iat": now,
                  "exp": now + 3600, "scope": "read"}
        signed = (_b64(json.dumps({"alg": "RS256", "kid": "k1"}).encode()) + "."
                  + _b64(json.dumps(claims).encode())).encode()
        sig = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
        return signed.decode() + "." + _b64(sig)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def _api(s, function_arn, issuer_url):
    gw = deploy.client(s.url, "apigatewayv2")
    api = gw.create_api(Name="bench-jwt", ProtocolType="HTTP")["ApiId"]
    integ = gw.create_integration(ApiId=api, IntegrationType="AWS_PROXY",
                                  IntegrationUri=function_arn,
                                  PayloadFormatVersion="2.0")["IntegrationId"]
    auth = gw.create_authorizer(
        ApiId=api, Name="jwt", AuthorizerType="JWT",
        IdentitySource=["$request.header.Authorization"],
        JwtConfiguration={"Issuer": issuer_url, "Audience": [AUDIENCE]})["AuthorizerId"]
    target = f"integrations/{integ}"
    gw.create_route(ApiId=api, RouteKey="GET /open", Target=target)
    gw.create_route(ApiId=api, RouteKey="GET /jwt", Target=target,
                    AuthorizationType="JWT", AuthorizerId=auth)
    gw.create_stage(ApiId=api, StageName="$default", AutoDeploy=True)
    return api


def _run(ctx, s, api, route, headers):
    return workloads.brief(workloads.measured(ctx, [s.pid], False, lambda: workloads.loadgen(
        ctx, s.url, "unused", sign=False, method="GET", path=f"/_aws/execute-api/{api}{route}",
        concurrency=1, duration=ctx.plan.pinned_s, warmup=ctx.plan.warmup_s, header=headers)))


def jwt(ctx):
    issuer = _Issuer()
    try:
        with servers.Stratus(ctx.stratus_bin, ctx.work_dir, "jwt",
                             env={"STRATUS_IAM": "off"}) as s:
            lam = deploy.client(s.url)
            arn = deploy.create(lam, "noop", ctx.packages, "rust")["FunctionArn"]
            api = _api(s, arn, issuer.url)
            token = issuer.token()
            open_ = _run(ctx, s, api, "/open", [])
            authed = _run(ctx, s, api, "/jwt", [f"authorization: Bearer {token}"])
    finally:
        issuer.close()
    return {"open": open_, "jwt": authed,
            "overhead_p50_us": round(authed["p50_us"] - open_["p50_us"]),
            "overhead_p95_us": round(authed["p95_us"] - open_["p95_us"])}
