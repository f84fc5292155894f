"""Bucket CORS as a browser meets it: the configuration kept and validated with boto3, then
preflight `OPTIONS` requests (unsigned, as browsers send them) and actual requests with an
`Origin` header, over raw HTTP."""

from helpers import http_request
from s3_support import bucket, expect_error, s3  # noqa: F401 (module fixtures)

VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the evalution of "
    "Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers "
    "are not whitelisted by the resource's CORS spec."
)

RULES = [
    {
        "ID": "app",
        "AllowedOrigins": ["https://app.example.com", "https://*.preview.example.com"],
        "AllowedMethods": ["GET", "PUT"],
        "AllowedHeaders": ["Content-Type", "x-amz-*"],
        "ExposeHeaders": ["ETag", "x-amz-request-id"],
        "MaxAgeSeconds": 3000,
    },
    {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "HEAD"]},
]


class Response:
    """A raw response: status, headers (case-insensitive), body."""

    def __init__(self, status, headers, body):
        self.status_code, self.headers, self.content = status, headers, body
        self.text = body.decode(errors="replace")


def send(method, url, headers=None):
    return Response(*http_request(method, url, headers=headers))


def cors_headers(resp):
    return [h for h in resp.headers.keys() if h.lower().startswith("access-control-")]


def preflight(server, path, origin=None, method=None, headers=None):
    h = {}
    if origin:
        h["Origin"] = origin
    if method:
        h["Access-Control-Request-Method"] = method
    if headers:
        h["Access-Control-Request-Headers"] = headers
    return send("OPTIONS", f"{server.url}{path}", h)


def error_of(resp):
    import xml.etree.ElementTree as ET

    root = ET.fromstring(resp.content)
    return {child.tag: child.text for child in root}


def test_configuration_round_trip_and_delete(s3, bucket):
    expect_error(s3.get_bucket_cors, "NoSuchCORSConfiguration", 404, Bucket=bucket)
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    expect_error(s3.get_bucket_cors, "NoSuchCORSConfiguration", 404, Bucket=bucket)
    expect_error(
        s3.put_bucket_cors, "NoSuchBucket", 404, Bucket="no-such-bucket-here-x",
        CORSConfiguration={"CORSRules": RULES},
    )


def test_invalid_configurations_are_refused_and_change_nothing(s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    e = expect_error(
        s3.put_bucket_cors, "InvalidRequest", 400, Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["PATCH"]}]},
    )
    assert e["Error"]["Message"] == "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"
    e = expect_error(
        s3.put_bucket_cors, "InvalidRequest", 400, Bucket=bucket,
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["https://*.*.com"], "AllowedMethods": ["GET"]}]},
    )
    assert e["Error"]["Message"] == 'AllowedOrigin "https://*.*.com" can not have more than one wildcard.'
    many = [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}] * 101
    expect_error(s3.put_bucket_cors, "MalformedXML", 400, Bucket=bucket,
                 CORSConfiguration={"CORSRules": many})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": many[:100]})
    assert len(s3.get_bucket_cors(Bucket=bucket)["CORSRules"]) == 100


def test_preflight_answered_from_the_first_matching_rule(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    r = preflight(server, f"/{bucket}/photo.jpg", "https://app.example.com", "PUT",
                  "Content-Type, X-Amz-Date")
    assert r.status_code == 200, r.text
    assert r.content == b""
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert r.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert r.headers["Access-Control-Max-Age"] == "3000"
    assert r.headers["Vary"] == VARY
    assert r.headers["x-amz-request-id"]
    # A wildcard origin pattern matches a subdomain; the second rule (origin `*`) answers `*`.
    r = preflight(server, f"/{bucket}", "https://pr-7.preview.example.com", "GET")
    assert r.headers["Access-Control-Allow-Origin"] == "https://pr-7.preview.example.com"
    r = preflight(server, f"/{bucket}/k", "https://elsewhere.test", "HEAD")
    assert r.status_code == 200
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert r.headers["Access-Control-Allow-Methods"] == "GET, HEAD"
    assert "Access-Control-Max-Age" not in r.headers


def test_preflight_refusals(server, s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    cases = [
        # An origin no rule allows for PUT.
        ("https://elsewhere.test", "PUT", None),
        # A header the matching origin's rule does not allow (and the `*` rule allows none).
        ("https://app.example.com", "GET", "authorization"),
        # A method no rule allows.
        ("https://app.example.com", "DELETE", None),
    ]
    for origin, method, headers in cases:
        r = preflight(server, f"/{bucket}/k", origin, method, headers)
        assert r.status_code == 403, (origin, method, headers)
        assert "Access-Control-Allow-Origin" not in r.headers
        err = error_of(r)
        assert (err["Code"], err["Message"], err["Method"], err["ResourceType"]) == (
            "AccessForbidden", NOT_ALLOWED, method, "OBJECT")
        assert err["RequestId"] == r.headers["x-amz-request-id"]
    r = preflight(server, f"/{bucket}", "https://elsewhere.test", "PUT")
    assert error_of(r)["ResourceType"] == "BUCKET"
    r = preflight(server, f"/{bucket}/k", None, "GET")
    assert r.status_code == 400
    assert (error_of(r)["Code"], error_of(r)["Message"]) == (
        "BadRequest", "Insufficient information. Origin request header needed.")


def test_preflight_without_configuration_or_bucket(server, bucket):
    r = preflight(server, f"/{bucket}/k", "https://app.example.com", "PUT")
    assert r.status_code == 403
    err = error_of(r)
    assert (err["Code"], err["Message"], err["Method"], err["ResourceType"]) == (
        "AccessForbidden", "CORSResponse: CORS is not enabled for this bucket.", "PUT", "BUCKET")
    r = preflight(server, "/no-such-bucket-here-x/k", "https://app.example.com")
    assert r.status_code == 403
    err = error_of(r)
    assert (err["Message"], err["Method"]) == ("CORSResponse: Bucket not found", "OPTIONS")


def test_actual_requests_get_the_matching_rules_headers(server, s3, bucket):
    # A browser's actual request is signed by a presigned URL and carries its page's Origin.
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"})
    r = send("GET", url, {"Origin": "https://app.example.com"})
    assert r.status_code == 200 and r.content == b"hello"
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert r.headers["Access-Control-Allow-Credentials"] == "true"
    assert r.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert r.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert r.headers["Access-Control-Max-Age"] == "3000"
    assert r.headers["Vary"] == VARY
    assert "Access-Control-Allow-Headers" not in r.headers
    # Errors carry them too, as on S3.
    missing = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "nope"})
    r = send("GET", missing, {"Origin": "https://app.example.com"})
    assert r.status_code == 404
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    # The `*` rule allows any origin to GET.
    r = send("GET", url, {"Origin": "https://elsewhere.test"})
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    # No rule allows DELETE: the request is served as without an Origin, with no CORS headers.
    delete = s3.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "k"})
    r = send("DELETE", delete, {"Origin": "https://app.example.com"})
    assert r.status_code == 204
    assert cors_headers(r) == []
    # Without Origin, no CORS headers at all.
    r = send("GET", missing)
    assert r.status_code == 404
    assert cors_headers(r) == []


def test_preflight_does_not_bypass_authorization(server, s3, bucket):
    # A preflight is answered, but the unsigned request it announces is still refused.
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": ["*"], "AllowedMethods": ["GET", "PUT", "DELETE"]}]})
    assert preflight(server, f"/{bucket}/k", "https://a.test", "DELETE").status_code == 200
    r = send("DELETE", f"{server.url}/{bucket}/k", {"Origin": "https://a.test"})
    assert r.status_code == 403
    assert r.headers["Access-Control-Allow-Origin"] == "*"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"
