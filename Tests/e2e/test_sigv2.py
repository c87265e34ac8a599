"""SigV2 (issue 16, point 6): the `Authorization: AWS key:signature` header and the
presigned query form (`AWSAccessKeyId`, `Signature`, `Expires`), driven by the clients that
produce it — boto3's *default* `generate_presigned_url` against a custom endpoint, `aws s3
presign` (CLI v1), boto3 with `signature_version="s3"`, s3cmd with `signature_v2 = True` —
and by hand where a client will not send it (x-amz-date, skewed clocks, aws-chunked).
Every refusal is checked to have stored nothing."""

import base64
import email.utils
import hashlib
import hmac
import time
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import boto3
import pytest
import requests
from botocore.auth import HmacV1Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import s3cmd_command, REGION, Command, clean_environment

BODY = b"signed the old way\n" * 50


@pytest.fixture
def default_client(s3_endpoint):
    """boto3 as a user writes it: an endpoint and keys, no signature_version."""
    return boto3.session.Session().client(
        "s3", endpoint_url=s3_endpoint.url, aws_access_key_id=s3_endpoint.access_key,
        aws_secret_access_key=s3_endpoint.secret_key, region_name=REGION)


@pytest.fixture
def v2_client(s3_endpoint):
    """boto3 signing every request with SigV2 in the Authorization header; the headers of
    each request sent are kept in `client.sent_authorizations`."""
    client = boto3.session.Session().client(
        "s3", endpoint_url=s3_endpoint.url, aws_access_key_id=s3_endpoint.access_key,
        aws_secret_access_key=s3_endpoint.secret_key, region_name=REGION,
        config=Config(signature_version="s3", s3={"addressing_style": "path"},
                      retries={"mode": "standard", "max_attempts": 1}))
    sent = []
    def record(request, **_):
        value = request.headers.get("Authorization")
        sent.append(value.decode() if isinstance(value, bytes) else value)

    client.meta.events.register("before-send.s3", record)
    client.sent_authorizations = sent
    return client


def query_of(url: str) -> dict:
    return dict(parse_qsl(urlsplit(url).query))


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query.update(changes)
    return urlunsplit(parts._replace(query=urlencode(query)))


def stored_keys(s3, bucket) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def sign_v2(secret: str, string_to_sign: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()).decode()


def http_date(offset_seconds: float = 0) -> str:
    return email.utils.formatdate(time.time() + offset_seconds, usegmt=True)


def botocore_v2_headers(endpoint, method, path, headers=None, date=None, auth_path=None, access_key=None):
    """Headers signed by botocore's HmacV1Auth (the Date it adds pinned to `date`)."""
    request = AWSRequest(method=method, url=f"{endpoint.url}{path}", headers=dict(headers or {}))
    request.auth_path = auth_path
    signer = HmacV1Auth(Credentials(access_key or endpoint.access_key, endpoint.secret_key))
    if date is not None:
        signer._get_date = lambda: date
    signer.add_auth(request)
    return dict(request.headers.items())


# ---------------------------------------------------------------------------
# Presigned URLs: boto3's default and the aws CLI's
# ---------------------------------------------------------------------------


def test_boto3_default_presigned_get_and_put_are_sigv2_and_work(default_client, s3, bucket):
    put_url = default_client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "by-url"})
    get_url = default_client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "by-url"})
    for url in (put_url, get_url):
        assert {"AWSAccessKeyId", "Signature", "Expires"} <= set(query_of(url)), url
        assert "X-Amz-Signature" not in url
    put = requests.put(put_url, data=BODY, timeout=30)
    assert put.status_code == 200, put.text
    assert put.headers["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    got = requests.get(get_url, timeout=30)
    assert got.status_code == 200, got.text
    assert got.content == BODY
    assert s3.get_object(Bucket=bucket, Key="by-url")["Body"].read() == BODY


def test_presigned_get_with_response_overrides(default_client, s3, bucket):
    """response-* overrides are signed sub-resources: honoured, and refused once altered."""
    s3.put_object(Bucket=bucket, Key="doc", Body=BODY)
    url = default_client.generate_presigned_url("get_object", Params={
        "Bucket": bucket, "Key": "doc", "ResponseContentType": "text/x-overridden",
        "ResponseContentDisposition": 'attachment; filename="a b.txt"'})
    got = requests.get(url, timeout=30)
    assert got.status_code == 200, got.text
    assert got.headers["Content-Type"] == "text/x-overridden"
    assert got.headers["Content-Disposition"] == 'attachment; filename="a b.txt"'
    altered = requests.get(with_query(url, **{"response-content-type": "text/html"}), timeout=30)
    assert altered.status_code == 403
    assert "SignatureDoesNotMatch" in altered.text


def test_aws_cli_v1_presign_is_sigv2_and_works(aws_cli, s3, bucket):
    s3.put_object(Bucket=bucket, Key="cli/presigned", Body=BODY)
    url = aws_cli("s3", "presign", f"s3://{bucket}/cli/presigned", "--expires-in", "120").stdout.strip()
    assert "AWSAccessKeyId=" in url and "Signature=" in url, url
    got = requests.get(url, timeout=30)
    assert got.status_code == 200, got.text
    assert got.content == BODY


def test_expired_presigned_urls_are_refused_and_store_nothing(default_client, s3, error_xml, bucket):
    s3.put_object(Bucket=bucket, Key="kept", Body=BODY)
    put_url = default_client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "late"}, ExpiresIn=1)
    get_url = default_client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "kept"}, ExpiresIn=1)
    delete_url = default_client.generate_presigned_url("delete_object", Params={"Bucket": bucket, "Key": "kept"},
                                                       ExpiresIn=1)
    time.sleep(2.2)
    for method, url in (("PUT", put_url), ("GET", get_url), ("DELETE", delete_url)):
        response = requests.request(method, url, data=b"too late" if method == "PUT" else None, timeout=30)
        assert response.status_code == 403, (method, response.text)
        error = error_xml(response.content)
        assert error["Code"] == "AccessDenied", (method, error)
        assert "expired" in error["Message"].lower(), (method, error)
    assert stored_keys(s3, bucket) == ["kept"]
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == BODY


@pytest.mark.parametrize("tamper, code", [
    ("flip-signature", "SignatureDoesNotMatch"),
    ("other-key", "SignatureDoesNotMatch"),
    ("later-expiry", "SignatureDoesNotMatch"),
    ("unknown-access-key", "InvalidAccessKeyId"),
    ("no-signature", "AccessDenied"),
])
def test_altered_presigned_put_is_refused_and_stores_nothing(default_client, s3, error_xml, bucket, tamper, code):
    url = default_client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "target"}, ExpiresIn=300)
    query = query_of(url)
    if tamper == "flip-signature":
        signature = query["Signature"]
        flipped = ("B" if signature[3] == "A" else "A")
        url = with_query(url, Signature=signature[:3] + flipped + signature[4:])
    elif tamper == "other-key":
        url = url.replace(f"/{bucket}/target?", f"/{bucket}/other?")
    elif tamper == "later-expiry":
        url = with_query(url, Expires=str(int(query["Expires"]) + 3600))
    elif tamper == "unknown-access-key":
        url = with_query(url, AWSAccessKeyId="AKIANOBODYKNOWSTHIS")
    else:
        parts = urlsplit(url)
        url = urlunsplit(parts._replace(query=urlencode({k: v for k, v in query.items() if k != "Signature"})))
    response = requests.put(url, data=b"tampered", timeout=30)
    assert response.status_code == 403, response.text
    assert error_xml(response.content)["Code"] == code
    assert stored_keys(s3, bucket) == []
    # The untouched URL still works: the refusal was the tampering.
    if tamper == "flip-signature":
        ok = requests.put(default_client.generate_presigned_url(
            "put_object", Params={"Bucket": bucket, "Key": "target"}, ExpiresIn=300), data=BODY, timeout=30)
        assert ok.status_code == 200, ok.text


# ---------------------------------------------------------------------------
# The Authorization header: boto3 with signature_version "s3"
# ---------------------------------------------------------------------------


def test_boto3_sigv2_client_objects_listing_copy_tagging(v2_client, s3, bucket):
    v2_client.put_object(Bucket=bucket, Key="dir/a", Body=BODY, ContentType="text/plain", Metadata={"who": "v2"},
                         Tagging="team=ml")
    head = v2_client.head_object(Bucket=bucket, Key="dir/a")
    assert head["ContentType"] == "text/plain" and head["Metadata"] == {"who": "v2"}
    assert v2_client.get_object(Bucket=bucket, Key="dir/a", Range="bytes=0-5")["Body"].read() == BODY[:6]
    v2_client.copy_object(Bucket=bucket, Key="dir/b", CopySource={"Bucket": bucket, "Key": "dir/a"})
    assert s3.get_object(Bucket=bucket, Key="dir/b")["Body"].read() == BODY
    listed = v2_client.list_objects_v2(Bucket=bucket, Prefix="dir/")
    assert [o["Key"] for o in listed["Contents"]] == ["dir/a", "dir/b"]
    assert [o["Key"] for o in v2_client.list_objects(Bucket=bucket)["Contents"]] == ["dir/a", "dir/b"]
    assert v2_client.get_object_tagging(Bucket=bucket, Key="dir/a")["TagSet"] == [{"Key": "team", "Value": "ml"}]
    v2_client.put_object_tagging(Bucket=bucket, Key="dir/a", Tagging={"TagSet": [{"Key": "k", "Value": "v"}]})
    assert s3.get_object_tagging(Bucket=bucket, Key="dir/a")["TagSet"] == [{"Key": "k", "Value": "v"}]
    assert v2_client.get_bucket_location(Bucket=bucket)["LocationConstraint"] in (None, "")
    deleted = v2_client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "dir/a"}, {"Key": "dir/b"}]})
    assert sorted(d["Key"] for d in deleted["Deleted"]) == ["dir/a", "dir/b"]
    assert stored_keys(s3, bucket) == []
    assert v2_client.sent_authorizations and all(a.startswith("AWS ") for a in v2_client.sent_authorizations)


def test_boto3_sigv2_client_multipart_and_versions(v2_client, s3, bucket_name_factory):
    bucket = bucket_name_factory("v2")
    v2_client.create_bucket(Bucket=bucket)
    v2_client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert v2_client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    upload = v2_client.create_multipart_upload(Bucket=bucket, Key="big")["UploadId"]
    first = b"1" * (5 * 1024 * 1024)
    parts = [v2_client.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=n, Body=data)["ETag"]
             for n, data in ((1, first), (2, b"tail"))]
    assert [p["PartNumber"] for p in v2_client.list_parts(Bucket=bucket, Key="big", UploadId=upload)["Parts"]] == [1, 2]
    assert [u["UploadId"] for u in v2_client.list_multipart_uploads(Bucket=bucket)["Uploads"]] == [upload]
    v2_client.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": etag} for n, etag in enumerate(parts)]})
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == first + b"tail"
    # A second version, then each read by versionId (a signed sub-resource).
    v2_client.put_object(Bucket=bucket, Key="big", Body=b"second")
    versions = v2_client.list_object_versions(Bucket=bucket)["Versions"]
    assert len(versions) == 2
    for version in versions:
        body = v2_client.get_object(Bucket=bucket, Key="big", VersionId=version["VersionId"])["Body"].read()
        assert body == (b"second" if version["IsLatest"] else first + b"tail")
    aborted = v2_client.create_multipart_upload(Bucket=bucket, Key="gone")["UploadId"]
    v2_client.abort_multipart_upload(Bucket=bucket, Key="gone", UploadId=aborted)
    for version in versions:
        v2_client.delete_object(Bucket=bucket, Key="big", VersionId=version["VersionId"])
    assert "Versions" not in v2_client.list_object_versions(Bucket=bucket)
    assert all(a.startswith("AWS ") for a in v2_client.sent_authorizations)


def test_wrong_secret_and_unknown_key_under_sigv2(s3_endpoint, s3, bucket):
    wrong = boto3.session.Session().client(
        "s3", endpoint_url=s3_endpoint.url, aws_access_key_id=s3_endpoint.access_key,
        aws_secret_access_key=s3_endpoint.secret_key + "x", region_name=REGION,
        config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as refused:
        wrong.put_object(Bucket=bucket, Key="nope", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    unknown = boto3.session.Session().client(
        "s3", endpoint_url=s3_endpoint.url, aws_access_key_id="AKIANOBODYKNOWSTHIS",
        aws_secret_access_key=s3_endpoint.secret_key, region_name=REGION,
        config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
    with pytest.raises(ClientError) as refused:
        unknown.put_object(Bucket=bucket, Key="nope", Body=b"x")
    assert refused.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert stored_keys(s3, bucket) == []


# ---------------------------------------------------------------------------
# By hand: x-amz-date, the clock, the body's integrity, aws-chunked, virtual hosts
# ---------------------------------------------------------------------------


def test_x_amz_date_replaces_date(s3_endpoint, s3, bucket):
    """AWS's rule: with x-amz-date, the Date line is empty and x-amz-date is signed among
    the x-amz-* headers (what s3cmd sends)."""
    amz_date = http_date()
    path = f"/{bucket}/dated"
    string_to_sign = f"PUT\n\ntext/plain\n\nx-amz-date:{amz_date}\n{path}"
    headers = {"x-amz-date": amz_date, "Content-Type": "text/plain",
               "Authorization": f"AWS {s3_endpoint.access_key}:{sign_v2(s3_endpoint.secret_key, string_to_sign)}"}
    response = requests.put(f"{s3_endpoint.url}{path}", data=BODY, headers=headers, timeout=30)
    assert response.status_code == 200, response.text
    assert s3.get_object(Bucket=bucket, Key="dated")["Body"].read() == BODY
    # The same signature over a Date line is another string: refused.
    headers["Date"] = amz_date
    del headers["x-amz-date"]
    response = requests.put(f"{s3_endpoint.url}{path}", data=b"other", headers=headers, timeout=30)
    assert response.status_code == 403 and "SignatureDoesNotMatch" in response.text


@pytest.mark.parametrize("header", ["Date", "x-amz-date"])
@pytest.mark.parametrize("offset", [-20 * 60, 20 * 60])
def test_skewed_date_is_refused(s3_endpoint, s3, error_xml, bucket, header, offset):
    date = http_date(offset)
    path = f"/{bucket}/skewed"
    string_to_sign = f"PUT\n\n\n{date}\n{path}" if header == "Date" else f"PUT\n\n\n\nx-amz-date:{date}\n{path}"
    response = requests.put(f"{s3_endpoint.url}{path}", data=BODY, timeout=30, headers={
        header: date, "Authorization": f"AWS {s3_endpoint.access_key}:{sign_v2(s3_endpoint.secret_key, string_to_sign)}"})
    assert response.status_code == 403, response.text
    assert error_xml(response.content)["Code"] == "RequestTimeTooSkewed"
    assert stored_keys(s3, bucket) == []


def test_missing_date_and_malformed_header(s3_endpoint, s3, error_xml, bucket):
    path = f"/{bucket}/x"
    signature = sign_v2(s3_endpoint.secret_key, f"PUT\n\n\n\n{path}")
    no_date = requests.put(f"{s3_endpoint.url}{path}", data=b"x", timeout=30,
                           headers={"Authorization": f"AWS {s3_endpoint.access_key}:{signature}"})
    assert no_date.status_code == 403
    assert error_xml(no_date.content)["Code"] == "AccessDenied"
    malformed = requests.put(f"{s3_endpoint.url}{path}", data=b"x", timeout=30,
                             headers={"Date": http_date(), "Authorization": f"AWS {s3_endpoint.access_key}"})
    assert malformed.status_code == 400
    assert error_xml(malformed.content)["Code"] == "InvalidArgument"
    assert stored_keys(s3, bucket) == []


def test_body_is_unsigned_but_content_md5_is_checked(s3_endpoint, s3, error_xml, bucket):
    """SigV2 signs no body: the same signed headers carry any body, and only a Content-MD5
    (signed) ties one to the request."""
    path = f"/{bucket}/md5"
    md5 = base64.b64encode(hashlib.md5(BODY).digest()).decode()
    signed = botocore_v2_headers(s3_endpoint, "PUT", path, headers={"Content-MD5": md5}, date=http_date())
    wrong = requests.put(f"{s3_endpoint.url}{path}", data=b"another body", headers=signed, timeout=30)
    assert wrong.status_code == 400, wrong.text
    assert error_xml(wrong.content)["Code"] == "BadDigest"
    assert stored_keys(s3, bucket) == []
    right = requests.put(f"{s3_endpoint.url}{path}", data=BODY, headers=signed, timeout=30)
    assert right.status_code == 200, right.text
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == BODY


def test_aws_chunked_is_refused_under_sigv2(s3_endpoint, s3, error_xml, bucket):
    path = f"/{bucket}/chunked"
    body = b"5\r\nhello\r\n0\r\n\r\n"
    signed = botocore_v2_headers(s3_endpoint, "PUT", path, date=http_date(), headers={
        "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": "5",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER"})
    response = requests.put(f"{s3_endpoint.url}{path}", data=body, headers=signed, timeout=30)
    assert response.status_code == 400, response.text
    assert error_xml(response.content)["Code"] == "InvalidRequest"
    assert stored_keys(s3, bucket) == []


@pytest.mark.parametrize("resource", ["/{bucket}/", "/{bucket}"])
def test_virtual_hosted_bucket_root_either_reading(s3_endpoint, s3, bucket, resource):
    """A virtual-hosted ListObjects signed over `/bucket/` (AWS's documentation, and
    boto3's auth_path) or `/bucket`: both accepted."""
    s3.put_object(Bucket=bucket, Key="listed", Body=b"x")
    host = f"{bucket}.localhost:{s3_endpoint.port}"
    date = http_date()
    signature = sign_v2(s3_endpoint.secret_key, f"GET\n\n\n{date}\n{resource.format(bucket=bucket)}")
    response = requests.get(f"{s3_endpoint.url}/", timeout=30, headers={
        "Host": host, "Date": date, "Authorization": f"AWS {s3_endpoint.access_key}:{signature}"})
    assert response.status_code == 200, response.text
    assert b"<Key>listed</Key>" in response.content


# ---------------------------------------------------------------------------
# s3cmd with signature_v2 = True
# ---------------------------------------------------------------------------


@pytest.fixture
def s3cmd_v2(s3_endpoint, tmp_path):
    return s3cmd_command(s3_endpoint, tmp_path, signature_v2=True, chunk_mb=5, extra=("--debug",))


def test_s3cmd_signature_v2(s3cmd_v2, s3, bucket, tmp_path):
    small = tmp_path / "small.txt"
    small.write_bytes(BODY)
    large = tmp_path / "large.bin"
    large_data = uuid.uuid4().bytes * (7 * 1024 * 1024 // 16)
    large.write_bytes(large_data)
    put = s3cmd_v2("put", small, f"s3://{bucket}/v2/small.txt")
    # --debug shows what it signed: SigV2's string to sign, never a SigV4 one.
    assert "SignHeaders:" in put.stderr, put.stderr[-2000:]
    assert "AWS4-HMAC-SHA256" not in put.stderr
    s3cmd_v2("put", large, f"s3://{bucket}/v2/large.bin")  # multipart: 5 MB parts
    assert s3.get_object(Bucket=bucket, Key="v2/small.txt")["Body"].read() == BODY
    assert s3.get_object(Bucket=bucket, Key="v2/large.bin")["Body"].read() == large_data
    listing = s3cmd_v2("ls", f"s3://{bucket}/v2/").stdout
    assert f"s3://{bucket}/v2/small.txt" in listing and f"s3://{bucket}/v2/large.bin" in listing
    copy = tmp_path / "copy.txt"
    s3cmd_v2("get", f"s3://{bucket}/v2/small.txt", copy)
    assert copy.read_bytes() == BODY
    s3cmd_v2("del", f"s3://{bucket}/v2/small.txt")
    s3cmd_v2("del", f"s3://{bucket}/v2/large.bin")
    assert stored_keys(s3, bucket) == []
