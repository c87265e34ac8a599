"""Issue 17, points 6 and 7: multipart checksums of both types (COMPOSITE, FULL_OBJECT)
and the wire details clients trip on, each as AWS documents it.

CRC32C and CRC64NVME are computed here in Python (botocore needs awscrt for them): the
FULL_OBJECT value S3 answers must equal the CRC of the whole object's bytes."""

from __future__ import annotations

import base64
import datetime
import os
import socket
import zlib

import boto3
import botocore.auth
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from conftest import REGION, TEST_ACCESS_KEY, TEST_SECRET_KEY
from test_fsck import ServerOn
from test_objects import crc32c, crc64nvme

PART = 5 << 20   # the smallest part that may be followed by another

CRCS = {
    "CRC32": lambda d: base64.b64encode(zlib.crc32(d).to_bytes(4, "big")).decode(),
    "CRC32C": lambda d: base64.b64encode(crc32c(d).to_bytes(4, "big")).decode(),
    "CRC64NVME": lambda d: base64.b64encode(crc64nvme(d).to_bytes(8, "big")).decode(),
}


def pattern(size: int, seed: int) -> bytes:
    """Not all one byte, so that a CRC over the wrong bytes would differ."""
    block = bytes((i * 131 + seed) & 0xFF for i in range(4096))
    return (block * (size // 4096 + 1))[:size]


def multipart(s3, bucket, key, algorithm, parts, checksum_type=None, send_part_checksums=True):
    """Create + UploadPart with each part's checksum given; returns (upload id, listed parts)."""
    extra = {"ChecksumType": checksum_type} if checksum_type else {}
    created = s3.create_multipart_upload(Bucket=bucket, Key=key, ChecksumAlgorithm=algorithm, **extra)
    upload = created["UploadId"]
    listed = []
    for number, body in enumerate(parts, 1):
        value = CRCS[algorithm](body)
        answer = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body,
                                **{f"Checksum{algorithm}": value})
        assert answer.get(f"Checksum{algorithm}") == value
        part = {"PartNumber": number, "ETag": answer["ETag"]}
        if send_part_checksums:
            part[f"Checksum{algorithm}"] = value
        listed.append(part)
    return created, listed


# --- point 6: checksums ---


@pytest.mark.parametrize("algorithm", sorted(CRCS))
def test_full_object_multipart_checksum_is_the_crc_of_the_whole_object(s3, s3_error, bucket, algorithm):
    parts = [pattern(PART, 1), pattern(1000, 2)]
    whole = CRCS[algorithm](b"".join(parts))
    created, listed = multipart(s3, bucket, "full", algorithm, parts, checksum_type="FULL_OBJECT")
    assert created["ChecksumAlgorithm"] == algorithm and created["ChecksumType"] == "FULL_OBJECT"
    upload = created["UploadId"]
    # A whole-object value that is not the object's is refused, and the upload stays.
    with s3_error(400, "BadDigest"):
        s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=upload, MultipartUpload={"Parts": listed},
                                     ChecksumType="FULL_OBJECT", **{f"Checksum{algorithm}": CRCS[algorithm](b"other")})
    # So is a type other than the Create's (BadDigest, as botocore's model documents).
    with s3_error(400, "BadDigest"):
        s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=upload, MultipartUpload={"Parts": listed},
                                     ChecksumType="COMPOSITE")
    done = s3.complete_multipart_upload(Bucket=bucket, Key="full", UploadId=upload, MultipartUpload={"Parts": listed},
                                        ChecksumType="FULL_OBJECT", **{f"Checksum{algorithm}": whole})
    assert done[f"Checksum{algorithm}"] == whole, "FULL_OBJECT carries no -N suffix"
    assert done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == whole and head["ChecksumType"] == "FULL_OBJECT"
    got = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == whole and got["ChecksumType"] == "FULL_OBJECT"
    assert got["Body"].read() == b"".join(parts)
    attributes = s3.get_object_attributes(Bucket=bucket, Key="full", ObjectAttributes=["Checksum"])
    assert attributes["Checksum"] == {f"Checksum{algorithm}": whole, "ChecksumType": "FULL_OBJECT"}


def test_full_object_parts_may_leave_the_checksum_to_the_server(s3, bucket):
    created = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")
    body = pattern(3000, 7)
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=created["UploadId"], PartNumber=1, Body=body,
                          ChecksumAlgorithm="CRC32")["ETag"]
    done = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=created["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]})
    assert done["ChecksumCRC32"] == CRCS["CRC32"](body)


def test_crc64nvme_defaults_to_full_object_and_shas_refuse_it(s3, s3_error, bucket):
    created = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME")
    assert created["ChecksumType"] == "FULL_OBJECT"
    listed = s3.list_parts(Bucket=bucket, Key="k", UploadId=created["UploadId"])
    assert (listed["ChecksumAlgorithm"], listed["ChecksumType"]) == ("CRC64NVME", "FULL_OBJECT")
    for algorithm in ("SHA1", "SHA256"):
        with s3_error(400, "InvalidRequest"):
            s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm=algorithm, ChecksumType="FULL_OBJECT")
    with s3_error(400, "InvalidRequest"):
        s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME", ChecksumType="COMPOSITE")


def test_composite_is_still_the_checksum_of_the_part_checksums(s3, bucket):
    parts = [pattern(PART, 3), pattern(10, 4)]
    created, listed = multipart(s3, bucket, "comp", "CRC32", parts)
    assert created["ChecksumType"] == "COMPOSITE"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="comp", UploadId=created["UploadId"],
                                        MultipartUpload={"Parts": listed})
    digests = b"".join(zlib.crc32(p).to_bytes(4, "big") for p in parts)
    expected = CRCS["CRC32"](digests) + "-2"
    assert (done["ChecksumCRC32"], done["ChecksumType"]) == (expected, "COMPOSITE")
    head = s3.head_object(Bucket=bucket, Key="comp", ChecksumMode="ENABLED")
    assert (head["ChecksumCRC32"], head["ChecksumType"]) == (expected, "COMPOSITE")


def test_wrong_part_checksum_at_complete_is_invalid_part(s3, s3_error, bucket):
    created, listed = multipart(s3, bucket, "k", "CRC32", [pattern(100, 5)])
    listed[0]["ChecksumCRC32"] = CRCS["CRC32"](b"not the part")
    with s3_error(400, "InvalidPart"):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=created["UploadId"], MultipartUpload={"Parts": listed})
    # A COMPOSITE upload's Complete must list each part's checksum (S3's InvalidRequest).
    del listed[0]["ChecksumCRC32"]
    with s3_error(400, "InvalidRequest"):
        s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=created["UploadId"], MultipartUpload={"Parts": listed})


def test_part_in_another_algorithm_is_refused(s3, s3_error, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
    with s3_error(400, "InvalidRequest"):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"x", ChecksumAlgorithm="SHA256")
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)


def test_upload_part_checksum_mismatch_is_bad_digest(s3, s3_error, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
    with s3_error(400, "BadDigest"):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"body",
                       ChecksumCRC32=CRCS["CRC32"](b"other"))
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="k", UploadId=upload)


class _UnsignedPayload(botocore.auth.S3SigV4Auth):
    """SigV4 over the headers, the payload declared by `x-amz-content-sha256` (botocore
    would hash the body over plain http)."""

    def __init__(self, credentials, content_sha256):
        super().__init__(credentials, "s3", REGION)
        self.content_sha256 = content_sha256

    def payload(self, request):
        return self.content_sha256


def signed(endpoint, method, path, headers, content_sha256="UNSIGNED-PAYLOAD", secret=None):
    request = AWSRequest(method=method, url=f"{endpoint.url}{path}", headers=dict(headers))
    credentials = Credentials(endpoint.access_key, secret or endpoint.secret_key)
    _UnsignedPayload(credentials, content_sha256).add_auth(request)
    return dict(request.headers.items())


def raw_exchange(endpoint, head: bytes, body: bytes = b"", read_timeout=10) -> bytes:
    with socket.create_connection((endpoint.host, endpoint.port), timeout=read_timeout) as sock:
        sock.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        return answer


def request_head(method, path, headers, endpoint) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", f"Host: {endpoint.host}:{endpoint.port}"]
    lines += [f"{k}: {v}" for k, v in headers.items() if k.lower() != "host"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8")


@pytest.mark.parametrize("operation", ["put", "part"])
def test_trailer_checksum_mismatch_is_bad_digest(s3, s3_endpoint, error_xml, bucket, operation):
    body = b"trailing checksum body"
    path, query = f"/{bucket}/k", ""
    if operation == "part":
        upload = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")["UploadId"]
        query = f"?partNumber=1&uploadId={upload}"
    framed = (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n"
              + f"x-amz-checksum-crc32:{CRCS['CRC32'](b'not it')}\r\n\r\n".encode())
    headers = signed(s3_endpoint, "PUT", path + query, {
        "Content-Encoding": "aws-chunked", "x-amz-decoded-content-length": str(len(body)),
        "x-amz-trailer": "x-amz-checksum-crc32", "Content-Length": str(len(framed)),
    }, content_sha256="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    answer = requests.put(f"{s3_endpoint.url}{path}{query}", headers=headers, data=framed, timeout=30)
    assert answer.status_code == 400, answer.text
    assert error_xml(answer.content)["Code"] == "BadDigest"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


# --- point 7: wire details ---


def test_complete_retried_after_success_in_a_versioned_bucket(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"only")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
    first = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts)
    s3.put_object(Bucket=bucket, Key="k", Body=b"newer")
    again = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload=parts)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    for field in ("ETag", "VersionId", "Key", "Bucket"):
        assert again.get(field) == first.get(field), field
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=first["VersionId"])["Body"].read() == b"only"


def test_list_buckets_pages(s3, bucket_name_factory):
    tag = "lbp" + os.urandom(3).hex()
    prefix = f"e2e-{tag}-"
    names = sorted(bucket_name_factory(tag) for _ in range(3))
    for name in names:
        s3.create_bucket(Bucket=name)
    first = s3.list_buckets(Prefix=prefix, MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    assert first["Prefix"] == prefix and first["ContinuationToken"]
    rest = s3.list_buckets(Prefix=prefix, MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names[2:]
    assert "ContinuationToken" not in rest


def test_put_with_transfer_encoding_chunked_is_streamed_and_stored(s3, s3_endpoint, bucket):
    pieces = [b"first piece, ", os.urandom(100_000), b" last"]
    headers = signed(s3_endpoint, "PUT", f"/{bucket}/te", {})
    answer = requests.put(f"{s3_endpoint.url}/{bucket}/te", headers=headers, data=iter(pieces), timeout=30)
    assert answer.status_code == 200, answer.text
    assert "chunked" in answer.request.headers.get("Transfer-Encoding", "")
    assert "Content-Length" not in answer.request.headers
    assert s3.get_object(Bucket=bucket, Key="te")["Body"].read() == b"".join(pieces)


@pytest.mark.parametrize("value", ["café ☕ naïve", "=?UTF-8?B?Y2Fmw6k=?=", "plain ascii"])
def test_user_metadata_is_returned_byte_for_byte(s3_endpoint, bucket, value):
    headers = signed(s3_endpoint, "PUT", f"/{bucket}/meta", {"x-amz-meta-note": value, "Content-Length": "1"})
    answer = raw_exchange(s3_endpoint, request_head("PUT", f"/{bucket}/meta", headers, s3_endpoint), b"x")
    assert answer.startswith(b"HTTP/1.1 200"), answer
    headers = signed(s3_endpoint, "HEAD", f"/{bucket}/meta", {})
    answer = raw_exchange(s3_endpoint, request_head("HEAD", f"/{bucket}/meta", headers, s3_endpoint))
    returned = [line for line in answer.split(b"\r\n") if line.lower().startswith(b"x-amz-meta-note:")]
    assert returned == [b"x-amz-meta-note: " + value.encode("utf-8")]


@pytest.mark.parametrize("encoding", ["gzip, identity", "br", "x-custom ,  gzip"])
def test_content_encoding_is_returned_as_sent(s3, bucket, encoding):
    s3.put_object(Bucket=bucket, Key="enc", Body=b"x", ContentEncoding=encoding)
    assert s3.head_object(Bucket=bucket, Key="enc")["ContentEncoding"] == encoding


def test_content_encoding_loses_only_aws_chunked(s3, s3_endpoint, bucket):
    body = b"framed"
    framed = f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n"
    headers = signed(s3_endpoint, "PUT", f"/{bucket}/enc", {
        "Content-Encoding": "aws-chunked, gzip", "x-amz-decoded-content-length": str(len(body)),
        "Content-Length": str(len(framed)),
    }, content_sha256="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    answer = requests.put(f"{s3_endpoint.url}/{bucket}/enc", headers=headers, data=framed, timeout=30)
    assert answer.status_code == 200, answer.text
    assert s3.head_object(Bucket=bucket, Key="enc")["ContentEncoding"] == "gzip"


def test_range_on_an_empty_object_is_invalid_range(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    for ranged in ("bytes=0-0", "bytes=0-", "bytes=-1"):
        with s3_error(416, "InvalidRange"):
            s3.get_object(Bucket=bucket, Key="empty", Range=ranged)
    assert s3.get_object(Bucket=bucket, Key="empty")["Body"].read() == b""


def test_part_number_on_a_single_part_object(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="single", Body=b"0123456789")
    whole = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert whole["Body"].read() == b"0123456789"
    with s3_error(416, "InvalidPartNumber"):
        s3.get_object(Bucket=bucket, Key="single", PartNumber=2)
    with s3_error(416, "InvalidPartNumber"):
        s3.get_object(Bucket=bucket, Key="single", PartNumber=10000)


def test_part_number_outside_one_to_ten_thousand_is_invalid_argument(s3_endpoint, error_xml, bucket, s3):
    s3.put_object(Bucket=bucket, Key="single", Body=b"x")
    for number in ("0", "10001", "x"):
        headers = signed(s3_endpoint, "GET", f"/{bucket}/single?partNumber={number}", {})
        answer = requests.get(f"{s3_endpoint.url}/{bucket}/single?partNumber={number}", headers=headers, timeout=30)
        assert answer.status_code == 400, (number, answer.text)
        assert error_xml(answer.content)["Code"] == "InvalidArgument"


def test_max_keys_zero_is_an_empty_untruncated_page(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    v2 = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert (v2["KeyCount"], v2["IsTruncated"], v2.get("Contents")) == (0, False, None)
    v1 = s3.list_objects(Bucket=bucket, MaxKeys=0)
    assert (v1["IsTruncated"], v1.get("Contents")) == (False, None)


@pytest.mark.parametrize("expires, status", [(0, 400), (1, 200), (604800, 200), (604801, 400)])
def test_presigned_expiry_bounds(error_xml, bucket, s3, expires, status):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=expires)
    answer = requests.get(url, timeout=30)
    assert answer.status_code == status, answer.text
    if status == 400:
        assert error_xml(answer.content)["Code"] == "AuthorizationQueryParametersError"


def test_expect_continue_with_bad_credentials_is_refused_before_the_body(s3_endpoint, s3, bucket):
    headers = signed(s3_endpoint, "PUT", f"/{bucket}/refused", {"Content-Length": "5", "Expect": "100-continue"},
                     secret="not-the-secret")
    answer = raw_exchange(s3_endpoint, request_head("PUT", f"/{bucket}/refused", headers, s3_endpoint))
    assert answer.startswith(b"HTTP/1.1 403"), answer[:200]
    assert b"100 Continue" not in answer
    # With good credentials the server asks for the body, then stores it.
    headers = signed(s3_endpoint, "PUT", f"/{bucket}/accepted", {"Content-Length": "5", "Expect": "100-continue"})
    with socket.create_connection((s3_endpoint.host, s3_endpoint.port), timeout=10) as sock:
        sock.sendall(request_head("PUT", f"/{bucket}/accepted", headers, s3_endpoint))
        assert sock.recv(4096).startswith(b"HTTP/1.1 100 Continue")
        sock.sendall(b"hello")
        assert b"200 OK" in sock.recv(4096)
    assert s3.get_object(Bucket=bucket, Key="accepted")["Body"].read() == b"hello"
    assert "refused" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


@pytest.mark.parametrize("authorization", ["", None])
def test_empty_or_missing_authorization_is_403(s3_endpoint, error_xml, s3, bucket, authorization):
    s3.put_object(Bucket=bucket, Key="k", Body=b"secret")
    headers = {"x-amz-date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%dT%H%M%SZ"),
               "x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    if authorization is not None:
        headers["Authorization"] = authorization
    for method in ("GET", "PUT"):
        answer = requests.request(method, f"{s3_endpoint.url}/{bucket}/k", headers=headers, data=b"", timeout=30)
        assert answer.status_code == 403, (method, answer.text)
        assert error_xml(answer.content)["Code"] == "AccessDenied"
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"secret"


def test_create_owned_bucket_is_200_in_us_east_1(s3, bucket):
    again = s3.create_bucket(Bucket=bucket)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_create_owned_bucket_is_409_in_another_region(tmp_path):
    """Its own embedded server, started with --region (in cluster runs too)."""
    server = ServerOn(tmp_path / "server", tmp_path / "data", "--region", "eu-west-1")
    server.start()
    try:
        server.wait_ready()
        client = boto3.session.Session().client(
            "s3", endpoint_url=f"http://127.0.0.1:{server.port}", aws_access_key_id=TEST_ACCESS_KEY,
            aws_secret_access_key=TEST_SECRET_KEY, region_name="eu-west-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}))
        location = {"LocationConstraint": "eu-west-1"}
        client.create_bucket(Bucket="regional", CreateBucketConfiguration=location)
        with pytest.raises(Exception) as raised:
            client.create_bucket(Bucket="regional", CreateBucketConfiguration=location)
        error = raised.value.response
        assert (error["ResponseMetadata"]["HTTPStatusCode"], error["Error"]["Code"]) == (409, "BucketAlreadyOwnedByYou")
    finally:
        server.stop()


def test_key_that_is_not_utf8_is_refused_and_nothing_stored(s3_endpoint, error_xml, s3, bucket):
    headers = signed(s3_endpoint, "PUT", f"/{bucket}/bad%FFkey", {"Content-Length": "1"})
    answer = requests.put(f"{s3_endpoint.url}/{bucket}/bad%FFkey", headers=headers, data=b"x", timeout=30)
    assert answer.status_code == 400, answer.text
    document = error_xml(answer.content)
    assert document["Code"] == "InvalidArgument" and "UTF-8" in document["Message"]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
