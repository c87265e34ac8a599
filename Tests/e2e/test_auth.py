"""Authentication: SigV4 headers and presigned URLs, wrong and unknown credentials,
anonymous requests, clock skew, and payload integrity."""

import datetime
import hashlib
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

BODY = b"secret payload"


def utc_now_naive():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def with_query_param(url: str, name: str, value: str) -> str:
    parts = urlsplit(url)
    query = [(k, value if k == name else v) for k, v in parse_qsl(parts.query)]
    return urlunsplit(parts._replace(query=urlencode(query)))


# ---------------------------------------------------------------------------
# Presigned URLs
# ---------------------------------------------------------------------------


def test_presigned_get(s3, bucket):
    s3.put_object(Bucket=bucket, Key="shared file.txt", Body=BODY)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared file.txt"}, ExpiresIn=300
    )
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.content == BODY
    assert response.headers["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'


def test_presigned_get_with_response_override(s3, bucket):
    s3.put_object(Bucket=bucket, Key="report", Body=BODY)
    url = s3.generate_presigned_url(
        "get_object",
        Params={"Bucket": bucket, "Key": "report",
                "ResponseContentDisposition": 'attachment; filename="r.txt"'},
        ExpiresIn=300,
    )
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Disposition"] == 'attachment; filename="r.txt"'


def test_presigned_get_of_missing_key_is_no_such_key(s3, error_xml, bucket):
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "nope"}, ExpiresIn=300
    )
    response = requests.get(url, timeout=30)
    assert response.status_code == 404
    assert error_xml(response.content)["Code"] == "NoSuchKey"


def test_presigned_put(s3, bucket):
    url = s3.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "uploaded/ü.bin"}, ExpiresIn=300
    )
    response = requests.put(url, data=BODY, timeout=30)
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="uploaded/ü.bin")["Body"].read() == BODY


def test_presigned_put_with_signed_content_type(s3, bucket):
    url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": "typed", "ContentType": "image/png"},
        ExpiresIn=300,
    )
    response = requests.put(url, data=BODY, headers={"Content-Type": "image/png"}, timeout=30)
    assert response.status_code == 200, response.text
    assert s3.head_object(Bucket=bucket, Key="typed")["ContentType"] == "image/png"


def test_expired_presigned_url_is_403(s3, error_xml, fake_signing_clock, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    with fake_signing_clock(utc_now_naive() - datetime.timedelta(hours=2)):
        url = s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=60
        )
    response = requests.get(url, timeout=30)
    assert response.status_code == 403
    assert error_xml(response.content)["Code"] == "AccessDenied"


def test_presigned_url_expiring_in_one_second(s3, error_xml, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1
    )
    time.sleep(2.5)
    response = requests.get(url, timeout=30)
    assert response.status_code == 403
    assert error_xml(response.content)["Code"] == "AccessDenied"


def test_tampered_presigned_signature_is_403(s3, error_xml, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300
    )
    signature = dict(parse_qsl(urlsplit(url).query))["X-Amz-Signature"]
    flipped = ("0" if signature[0] != "0" else "1") + signature[1:]
    response = requests.get(with_query_param(url, "X-Amz-Signature", flipped), timeout=30)
    assert response.status_code == 403
    assert error_xml(response.content)["Code"] == "SignatureDoesNotMatch"


def test_presigned_url_for_another_key_is_403(s3, error_xml, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=BODY)
    s3.put_object(Bucket=bucket, Key="b", Body=b"other")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "a"}, ExpiresIn=300
    )
    response = requests.get(url.replace(f"/{bucket}/a?", f"/{bucket}/b?"), timeout=30)
    assert response.status_code == 403
    assert error_xml(response.content)["Code"] == "SignatureDoesNotMatch"


def test_presigned_get_url_cannot_put(s3, error_xml, bucket):
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300
    )
    response = requests.put(url, data=BODY, timeout=30)
    assert response.status_code == 403
    assert error_xml(response.content)["Code"] == "SignatureDoesNotMatch"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_presigned_url_with_unknown_key_is_403(make_client, error_xml, s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    stranger = make_client(access_key="AKIDUNKNOWNSTRANGER0", secret_key="whatever")
    url = stranger.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300
    )
    response = requests.get(url, timeout=30)
    assert response.status_code == 403
    assert error_xml(response.content)["Code"] == "InvalidAccessKeyId"


# ---------------------------------------------------------------------------
# Credentials
# ---------------------------------------------------------------------------


def test_wrong_secret_is_signature_does_not_match(make_client, s3, s3_error, s3_endpoint, bucket):
    wrong = make_client(secret_key=s3_endpoint.secret_key + "x")
    with s3_error(403, "SignatureDoesNotMatch"):
        wrong.list_buckets()
    with s3_error(403, "SignatureDoesNotMatch"):
        wrong.put_object(Bucket=bucket, Key="intruder", Body=BODY)
    with s3_error(403, "SignatureDoesNotMatch"):
        wrong.list_objects_v2(Bucket=bucket)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_unknown_access_key_is_invalid_access_key_id(make_client, s3, s3_error, bucket):
    stranger = make_client(access_key="AKIDUNKNOWNSTRANGER0", secret_key="whatever")
    with s3_error(403, "InvalidAccessKeyId"):
        stranger.list_buckets()
    with s3_error(403, "InvalidAccessKeyId"):
        stranger.put_object(Bucket=bucket, Key="intruder", Body=BODY)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


@pytest.mark.parametrize(
    "method, target",
    [
        ("GET", "/"),
        ("GET", "/BUCKET"),
        ("GET", "/BUCKET/k"),
        ("PUT", "/BUCKET/anon"),
        ("DELETE", "/BUCKET/k"),
        ("PUT", "/e2e-anonymous-bucket-creation"),
    ],
)
def test_anonymous_requests_are_access_denied(s3, raw, error_xml, bucket, method, target):
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    body = b"x" if method == "PUT" else b""
    response = raw.request(method, target.replace("BUCKET", bucket), body=body, sign=False)
    assert response.status_code == 403
    assert error_xml(response.content)["Code"] == "AccessDenied"
    assert response.headers.get("x-amz-request-id")
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "e2e-anonymous-bucket-creation" not in buckets


def test_anonymous_head_is_403(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    response = raw.request("HEAD", f"/{bucket}/k", sign=False)
    assert response.status_code == 403


# ---------------------------------------------------------------------------
# Clock skew and payload integrity
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("minutes", [-20, 20, -24 * 60])
def test_skewed_clock_is_request_time_too_skewed(raw, error_xml, bucket, minutes):
    skewed = utc_now_naive() + datetime.timedelta(minutes=minutes)
    response = raw.request("GET", f"/{bucket}", query="list-type=2", now=skewed)
    assert response.status_code == 403
    assert error_xml(response.content)["Code"] == "RequestTimeTooSkewed"


def test_skewed_clock_through_boto3(s3, s3_error, fake_signing_clock, bucket):
    with fake_signing_clock(utc_now_naive() - datetime.timedelta(hours=1)):
        with s3_error(403, "RequestTimeTooSkewed"):
            s3.put_object(Bucket=bucket, Key="late", Body=BODY)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_small_clock_difference_is_accepted(raw, bucket):
    response = raw.request(
        "GET", f"/{bucket}", query="list-type=2",
        now=utc_now_naive() - datetime.timedelta(minutes=5),
    )
    assert response.status_code == 200, response.text


def test_body_not_matching_signed_payload_hash_is_rejected(s3, raw, bucket):
    signed = raw.signed_headers(
        "PUT", f"{raw.endpoint.url}/{bucket}/tampered", {}, b"original!",
        raw.endpoint.access_key, raw.endpoint.secret_key, None,
    )
    response = requests.put(
        f"{raw.endpoint.url}/{bucket}/tampered", data=b"tampered!", headers=signed, timeout=30
    )
    assert response.status_code in (400, 403), response.text
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
