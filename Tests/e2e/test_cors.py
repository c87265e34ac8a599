"""CORS (issue 16, point 8): Put/Get/DeleteBucketCors with boto3, the unauthenticated
preflight (`OPTIONS`) answered from the bucket's rules, and the CORS headers on answers to
actual requests that carry an `Origin` — with S3's status, code and message for each
refusal (as recorded against S3: LocalStack's AWS-validated CORS tests, ceph s3-tests).
CORS lets a browser read an answer; it grants no access."""

from __future__ import annotations

import requests
import pytest

APP = "https://app.example.com"
VARY = "Origin, Access-Control-Request-Headers, Access-Control-Request-Method"
NOT_ALLOWED = ("CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, "
               "request method / Access-Control-Request-Method or Access-Control-Request-Headers are not "
               "whitelisted by the resource's CORS spec.")

RULES = [
    {"ID": "app", "AllowedOrigins": [APP], "AllowedMethods": ["GET", "PUT"],
     "AllowedHeaders": ["content-type", "x-amz-*"], "ExposeHeaders": ["ETag", "x-amz-request-id"],
     "MaxAgeSeconds": 600},
    {"ID": "docs", "AllowedOrigins": ["https://*.docs.example.org"], "AllowedMethods": ["GET"]},
    {"ID": "anyone", "AllowedOrigins": ["*"], "AllowedMethods": ["HEAD"]},
]

CORS_HEADERS = ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers",
                "access-control-expose-headers", "access-control-max-age", "access-control-allow-credentials"]


def preflight(endpoint, path, origin=None, method=None, headers=None):
    """An OPTIONS as a browser sends it: unsigned, no credentials."""
    sent = {}
    if origin is not None:
        sent["Origin"] = origin
    if method is not None:
        sent["Access-Control-Request-Method"] = method
    if headers is not None:
        sent["Access-Control-Request-Headers"] = headers
    return requests.options(endpoint.url + path, headers=sent, timeout=30)


def assert_refused(response, error_xml, status, code, message, **elements):
    assert response.status_code == status, response.content
    error = error_xml(response.content)
    assert (error["Code"], error["Message"]) == (code, message), error
    for name, value in elements.items():
        assert error[name] == value, error
    assert not any(name in response.headers for name in CORS_HEADERS), dict(response.headers)


@pytest.fixture
def cors_bucket(s3, bucket):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    s3.put_object(Bucket=bucket, Key="page.json", Body=b"{}")
    return bucket


# --- the configuration ---


def test_put_get_delete_bucket_cors(s3, s3_error, bucket):
    with s3_error(404, "NoSuchCORSConfiguration") as missing:
        s3.get_bucket_cors(Bucket=bucket)
    assert missing.response["Error"]["Message"] == "The CORS configuration does not exist"
    assert missing.response["Error"]["BucketName"] == bucket
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES
    replaced = [{"AllowedOrigins": ["http://test.com:80", ""], "AllowedMethods": ["DELETE", "POST"]}]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": replaced})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == replaced, "kept as sent, in order, unnormalized"
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error(404, "NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=bucket)
    assert s3.delete_bucket_cors(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error(404, "NoSuchBucket"):
        s3.get_bucket_cors(Bucket=bucket + "-missing")


def rule_xml(body: str) -> bytes:
    return f'<CORSConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{body}</CORSConfiguration>'.encode()


GOOD_RULE = "<CORSRule><AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod></CORSRule>"


@pytest.mark.parametrize("body, status, code, message", [
    (rule_xml(GOOD_RULE.replace("GET", "OPTIONS")), 400, "InvalidRequest",
     "Found unsupported HTTP method in CORS config. Unsupported method is OPTIONS"),
    (rule_xml(GOOD_RULE.replace("GET", "PATCH")), 400, "InvalidRequest",
     "Found unsupported HTTP method in CORS config. Unsupported method is PATCH"),
    (rule_xml(GOOD_RULE.replace("<AllowedOrigin>*", "<AllowedOrigin>*example*.com")), 400, "InvalidRequest",
     'AllowedOrigin "*example*.com" can not have more than one wildcard.'),
    (rule_xml(GOOD_RULE.replace("</AllowedMethod>", "</AllowedMethod><AllowedHeader>x-*-*</AllowedHeader>")),
     400, "InvalidRequest", 'AllowedHeader "x-*-*" can not have more than one wildcard.'),
    (rule_xml(""), 400, "MalformedXML", None),
    (rule_xml("<CORSRule><AllowedMethod>GET</AllowedMethod></CORSRule>"), 400, "MalformedXML", None),
    (rule_xml("<CORSRule><AllowedOrigin>*</AllowedOrigin></CORSRule>"), 400, "MalformedXML", None),
    (rule_xml(GOOD_RULE.replace("</CORSRule>", "<MaxAgeSeconds>soon</MaxAgeSeconds></CORSRule>")), 400, "MalformedXML", None),
    (rule_xml(GOOD_RULE * 101), 400, "MalformedXML", None),
    (b"<CORSConfiguration><CORSRule>", 400, "MalformedXML", None),
    (rule_xml(GOOD_RULE.replace("*", "https://" + "a" * 70_000 + ".test")), 400, "MaxMessageLengthExceeded", None),
])
def test_refused_configurations_change_nothing(s3, raw, error_xml, bucket, body, status, code, message):
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    response = raw.request("PUT", f"/{bucket}", query="cors", body=body)
    assert response.status_code == status, response.content
    error = error_xml(response.content)
    assert error["Code"] == code, error
    if message is not None:
        assert error["Message"] == message, error
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == RULES


def test_a_hundred_rules_are_taken(s3, bucket):
    rules = [{"ID": f"r{n}", "AllowedOrigins": [f"https://{n}.example.com"], "AllowedMethods": ["GET"]} for n in range(100)]
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == rules


# --- the preflight ---


def test_preflight_from_an_allowed_origin(s3_endpoint, cors_bucket):
    response = preflight(s3_endpoint, f"/{cors_bucket}/page.json", APP, "PUT", "Content-Type, X-Amz-Date")
    assert response.status_code == 200, response.content
    assert response.content == b""
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Access-Control-Allow-Methods"] == "GET, PUT"
    assert response.headers["Access-Control-Allow-Headers"] == "content-type, x-amz-date"
    assert response.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert response.headers["Access-Control-Max-Age"] == "600"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Vary"] == VARY
    # On the bucket, and for a key that does not exist: a preflight looks up no key.
    assert preflight(s3_endpoint, f"/{cors_bucket}", APP, "GET").status_code == 200
    assert preflight(s3_endpoint, f"/{cors_bucket}/missing/key", APP, "GET").status_code == 200


def test_preflight_from_a_disallowed_origin(s3_endpoint, error_xml, cors_bucket):
    for origin in ["https://evil.example.com", "http://app.example.com", APP + "/", APP + ":443"]:
        assert_refused(preflight(s3_endpoint, f"/{cors_bucket}/page.json", origin, "PUT"), error_xml,
                       403, "AccessForbidden", NOT_ALLOWED, Method="PUT", ResourceType="OBJECT")
    assert_refused(preflight(s3_endpoint, f"/{cors_bucket}", "https://evil.example.com", "GET"), error_xml,
                   403, "AccessForbidden", NOT_ALLOWED, Method="GET", ResourceType="BUCKET")


def test_preflight_for_a_disallowed_method_or_header(s3_endpoint, error_xml, cors_bucket):
    path = f"/{cors_bucket}/page.json"
    assert_refused(preflight(s3_endpoint, path, APP, "DELETE"), error_xml, 403, "AccessForbidden", NOT_ALLOWED,
                   Method="DELETE")
    assert_refused(preflight(s3_endpoint, path, APP, "PUT", "content-type, x-custom"), error_xml,
                   403, "AccessForbidden", NOT_ALLOWED)
    # A rule without AllowedHeader allows no requested header.
    assert preflight(s3_endpoint, path, "https://a.docs.example.org", "GET").status_code == 200
    assert_refused(preflight(s3_endpoint, path, "https://a.docs.example.org", "GET", "content-type"), error_xml,
                   403, "AccessForbidden", NOT_ALLOWED)
    assert_refused(preflight(s3_endpoint, path, APP, "PATCH"), error_xml,
                   400, "BadRequest", "Invalid Access-Control-Request-Method: PATCH")
    assert_refused(preflight(s3_endpoint, path, APP), error_xml,
                   400, "BadRequest", "Invalid Access-Control-Request-Method: null")
    assert_refused(preflight(s3_endpoint, path, None, "GET"), error_xml,
                   400, "BadRequest", "Insufficient information. Origin request header needed.")


def test_wildcard_origins(s3_endpoint, cors_bucket):
    response = preflight(s3_endpoint, f"/{cors_bucket}/page.json", "https://a.b.docs.example.org", "GET")
    assert response.status_code == 200, response.content
    assert response.headers["Access-Control-Allow-Origin"] == "https://a.b.docs.example.org"
    assert "Access-Control-Max-Age" not in response.headers
    response = preflight(s3_endpoint, f"/{cors_bucket}/page.json", "http://localhost:4566", "HEAD")
    assert response.status_code == 200, response.content
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert response.headers["Access-Control-Allow-Methods"] == "HEAD"
    assert "Access-Control-Allow-Credentials" not in response.headers, "never with *"
    assert response.headers["Vary"] == VARY


def test_preflight_without_a_configuration(s3, s3_endpoint, error_xml, bucket):
    not_enabled = "CORSResponse: CORS is not enabled for this bucket."
    assert_refused(preflight(s3_endpoint, f"/{bucket}/k", APP, "GET"), error_xml, 403, "AccessForbidden",
                   not_enabled, Method="GET", ResourceType="BUCKET")
    assert_refused(preflight(s3_endpoint, f"/{bucket}/k", APP), error_xml, 403, "AccessForbidden",
                   not_enabled, Method="OPTIONS")
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": RULES})
    assert preflight(s3_endpoint, f"/{bucket}/k", APP, "GET").status_code == 200
    s3.delete_bucket_cors(Bucket=bucket)
    assert_refused(preflight(s3_endpoint, f"/{bucket}/k", APP, "GET"), error_xml, 403, "AccessForbidden", not_enabled)


def test_preflight_to_a_missing_bucket(s3_endpoint, error_xml, bucket_name_factory):
    for path in [f"/{bucket_name_factory()}/k", f"/{bucket_name_factory()}", "/Not_A_Bucket/k", "/"]:
        assert_refused(preflight(s3_endpoint, path, APP, "GET"), error_xml, 403, "AccessForbidden",
                       "CORSResponse: Bucket not found", Method="GET", ResourceType="BUCKET")


def test_configuration_goes_with_the_bucket(s3, s3_endpoint, s3_error, bucket_name_factory):
    name = bucket_name_factory()
    s3.create_bucket(Bucket=name)
    s3.put_bucket_cors(Bucket=name, CORSConfiguration={"CORSRules": RULES})
    s3.delete_bucket(Bucket=name)
    assert preflight(s3_endpoint, f"/{name}/k", APP, "GET").status_code == 403
    s3.create_bucket(Bucket=name)
    with s3_error(404, "NoSuchCORSConfiguration"):
        s3.get_bucket_cors(Bucket=name)
    assert preflight(s3_endpoint, f"/{name}/k", APP, "GET").status_code == 403


# --- actual requests ---


def test_actual_requests_with_an_origin_get_the_headers(raw, cors_bucket):
    response = raw.request("GET", f"/{cors_bucket}/page.json", headers={"Origin": APP})
    assert response.status_code == 200 and response.content == b"{}"
    assert response.headers["Access-Control-Allow-Origin"] == APP
    assert response.headers["Access-Control-Expose-Headers"] == "ETag, x-amz-request-id"
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert response.headers["Vary"] == VARY
    head = raw.request("HEAD", f"/{cors_bucket}/page.json", headers={"Origin": "https://x.test"})
    assert head.status_code == 200 and head.headers["Access-Control-Allow-Origin"] == "*"
    # Errors carry them too, as S3's do.
    missing = raw.request("GET", f"/{cors_bucket}/missing", headers={"Origin": APP})
    assert missing.status_code == 404 and missing.headers["Access-Control-Allow-Origin"] == APP
    put = raw.request("PUT", f"/{cors_bucket}/new", headers={"Origin": APP}, body=b"x")
    assert put.status_code == 200 and put.headers["Access-Control-Allow-Origin"] == APP


def test_actual_requests_without_a_match_are_untouched(raw, cors_bucket):
    for headers in [{}, {"Origin": "https://evil.example.com"}]:
        response = raw.request("GET", f"/{cors_bucket}/page.json", headers=headers)
        assert response.status_code == 200
        assert not any(name in response.headers for name in CORS_HEADERS + ["vary"]), dict(response.headers)
    # A method no rule of the origin allows: served, without CORS headers (S3 refuses only preflights).
    deleted = raw.request("DELETE", f"/{cors_bucket}/page.json", headers={"Origin": APP})
    assert deleted.status_code == 204
    assert "Access-Control-Allow-Origin" not in deleted.headers


def test_cors_grants_no_access(raw, error_xml, s3, cors_bucket):
    """An unsigned request from an allowed origin is refused exactly as without one; only
    the preflight goes unauthenticated."""
    for method, body in [("GET", b""), ("PUT", b"overwritten")]:
        response = raw.request(method, f"/{cors_bucket}/page.json", headers={"Origin": APP}, body=body, sign=False)
        assert response.status_code == 403, response.content
        assert error_xml(response.content)["Code"] == "AccessDenied"
    assert s3.get_object(Bucket=cors_bucket, Key="page.json")["Body"].read() == b"{}"
    response = raw.request("PUT", f"/{cors_bucket}", query="cors", headers={"Origin": APP}, body=rule_xml(GOOD_RULE),
                           sign=False)
    assert response.status_code == 403
    assert s3.get_bucket_cors(Bucket=cors_bucket)["CORSRules"] == RULES
