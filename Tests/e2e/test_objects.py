"""Objects: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, ranges,
content headers and user metadata, S3 checksums, Content-MD5."""

import base64
import datetime
import hashlib
import os
import zlib

import pytest


def md5_hex(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# --- S3's checksum algorithms, computed locally (botocore needs awscrt for two) ---


def _reflected_table(poly: int) -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C_TABLE = _reflected_table(0x82F63B78)
_CRC64NVME_TABLE = _reflected_table(0x9A6C9329AC4BC9B5)


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def crc64nvme(data: bytes) -> int:
    crc = 0xFFFFFFFFFFFFFFFF
    for byte in data:
        crc = _CRC64NVME_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFFFFFFFFFF


CHECKSUMS = {
    "CRC32": lambda d: b64(zlib.crc32(d).to_bytes(4, "big")),
    "CRC32C": lambda d: b64(crc32c(d).to_bytes(4, "big")),
    "CRC64NVME": lambda d: b64(crc64nvme(d).to_bytes(8, "big")),
    "SHA1": lambda d: b64(hashlib.sha1(d).digest()),
    "SHA256": lambda d: b64(hashlib.sha256(d).digest()),
}


def test_checksum_implementations_match_check_values():
    # The standard check values of "123456789" (CRC RevEng catalogue).
    assert crc32c(b"123456789") == 0xE3069283
    assert crc64nvme(b"123456789") == 0xAE8B14860A799888
    assert zlib.crc32(b"123456789") == 0xCBF43926


# --- put / get / head / delete ---


def test_put_get_head_round_trip(s3, bucket):
    body = os.urandom(4096)
    put = s3.put_object(Bucket=bucket, Key="blob.bin", Body=body)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert put["ETag"] == f'"{md5_hex(body)}"'

    got = s3.get_object(Bucket=bucket, Key="blob.bin")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert got["Body"].read() == body
    assert got["ETag"] == put["ETag"]
    assert got["ContentLength"] == len(body)

    head = s3.head_object(Bucket=bucket, Key="blob.bin")
    assert head["ETag"] == put["ETag"]
    assert head["ContentLength"] == len(body)
    assert head["LastModified"] == got["LastModified"]
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - head["LastModified"]).total_seconds()) < 600


def test_empty_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    assert put["ETag"] == '"d41d8cd98f00b204e9800998ecf8427e"'
    got = s3.get_object(Bucket=bucket, Key="empty")
    assert got["ContentLength"] == 0
    assert got["Body"].read() == b""


def test_overwrite_replaces_content_and_etag(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"first", Metadata={"gen": "1"})
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"second version")
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["Body"].read() == b"second version"
    assert got["ETag"] == put["ETag"] == f'"{md5_hex(b"second version")}"'
    assert got["Metadata"] == {}


def test_get_and_head_missing_key(s3, s3_error, bucket):
    with s3_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="absent")
    with s3_error(404, "404"):
        s3.head_object(Bucket=bucket, Key="absent")


def test_delete_object_and_delete_is_idempotent(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="doomed", Body=b"x")
    first = s3.delete_object(Bucket=bucket, Key="doomed")
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="doomed")
    again = s3.delete_object(Bucket=bucket, Key="doomed")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 204
    never = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert never["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_object_missing_bucket(s3, s3_error, bucket_name_factory):
    with s3_error(404, "NoSuchBucket"):
        s3.delete_object(Bucket=bucket_name_factory("missing"), Key="k")


def test_delete_objects_verbose(s3, bucket):
    for key in ("a", "b", "dir/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.put_object(Bucket=bucket, Key="survivor", Body=b"s")
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": k} for k in ("a", "b", "dir/c", "not-there")]},
    )
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert sorted(d["Key"] for d in result["Deleted"]) == ["a", "b", "dir/c", "not-there"]
    assert result.get("Errors", []) == []
    remaining = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert remaining == ["survivor"]


def test_delete_objects_quiet(s3, bucket):
    for key in ("q1", "q2", "q3"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    result = s3.delete_objects(
        Bucket=bucket,
        Delete={"Objects": [{"Key": "q1"}, {"Key": "q2"}, {"Key": "q3"}], "Quiet": True},
    )
    assert result["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert result.get("Deleted", []) == []
    assert result.get("Errors", []) == []
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# --- ranges ---

RANGE_BODY = bytes(range(256)) * 4  # 1024 bytes


@pytest.mark.parametrize(
    "header, first, last",
    [
        ("bytes=0-9", 0, 9),
        ("bytes=100-199", 100, 199),
        ("bytes=1000-", 1000, 1023),
        ("bytes=-24", 1000, 1023),
        ("bytes=1020-5000", 1020, 1023),
        ("bytes=0-0", 0, 0),
        ("bytes=1023-1023", 1023, 1023),
    ],
)
def test_range_get(s3, bucket, header, first, last):
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_BODY)
    got = s3.get_object(Bucket=bucket, Key="r", Range=header)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {first}-{last}/{len(RANGE_BODY)}"
    assert got["ContentLength"] == last - first + 1
    assert got["Body"].read() == RANGE_BODY[first : last + 1]


@pytest.mark.parametrize("header", ["bytes=1024-", "bytes=5000-6000"])
def test_unsatisfiable_range_is_416(s3, s3_error, bucket, header):
    s3.put_object(Bucket=bucket, Key="r", Body=RANGE_BODY)
    with s3_error(416, "InvalidRange"):
        s3.get_object(Bucket=bucket, Key="r", Range=header)


# --- content headers, metadata, storage class, encryption ---

EXPIRES = datetime.datetime(2031, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc)


def put_with_attributes(s3, bucket, key, body=b"attributes"):
    return s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=body,
        ContentType="application/x-stowage-test",
        ContentEncoding="identity",
        ContentDisposition='attachment; filename="report.txt"',
        ContentLanguage="en-GB",
        CacheControl="max-age=3600, must-revalidate",
        Expires=EXPIRES,
        Metadata={"color": "blue", "multi-word": "Hello, World", "empty": ""},
        StorageClass="STANDARD_IA",
    )


def assert_attributes(response):
    assert response["ContentType"] == "application/x-stowage-test"
    assert response["ContentEncoding"] == "identity"
    assert response["ContentDisposition"] == 'attachment; filename="report.txt"'
    assert response["ContentLanguage"] == "en-GB"
    assert response["CacheControl"] == "max-age=3600, must-revalidate"
    assert response["Expires"] == EXPIRES
    assert response["Metadata"] == {"color": "blue", "multi-word": "Hello, World", "empty": ""}
    assert response["StorageClass"] == "STANDARD_IA"
    assert "ServerSideEncryption" not in response  # never claimed: nothing is encrypted yet


def test_content_headers_metadata_storage_class_preserved(s3, bucket):
    put_with_attributes(s3, bucket, "attrs")
    assert_attributes(s3.head_object(Bucket=bucket, Key="attrs"))
    got = s3.get_object(Bucket=bucket, Key="attrs")
    assert_attributes(got)
    assert got["Body"].read() == b"attributes"
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert listed[0]["StorageClass"] == "STANDARD_IA"


def test_default_content_type_and_storage_class(s3, raw, bucket):
    raw_put = raw.request("PUT", f"/{bucket}/plain", body=b"no type given")
    assert raw_put.status_code == 200, raw_put.text
    head = s3.head_object(Bucket=bucket, Key="plain")
    assert head["ContentType"] in ("binary/octet-stream", "application/octet-stream")
    assert head.get("StorageClass", "STANDARD") == "STANDARD"
    assert head["Metadata"] == {}


def test_response_header_overrides(s3, bucket):
    put_with_attributes(s3, bucket, "over")
    expires = "Thu, 01 Dec 2033 16:00:00 GMT"
    got = s3.get_object(
        Bucket=bucket,
        Key="over",
        ResponseContentType="text/csv",
        ResponseContentDisposition="inline",
        ResponseContentLanguage="fr",
        ResponseCacheControl="no-cache",
        ResponseContentEncoding="x-custom",
        ResponseExpires=datetime.datetime(2033, 12, 1, 16, 0, tzinfo=datetime.timezone.utc),
    )
    headers = got["ResponseMetadata"]["HTTPHeaders"]
    assert headers["content-type"] == "text/csv"
    assert headers["content-disposition"] == "inline"
    assert headers["content-language"] == "fr"
    assert headers["cache-control"] == "no-cache"
    assert headers["content-encoding"] == "x-custom"
    assert headers["expires"] == expires
    assert got["Body"].read() == b"attributes"
    # Overrides change the response only, never the stored object.
    assert_attributes(s3.head_object(Bucket=bucket, Key="over"))


# --- Content-MD5 ---


def test_content_md5_correct_is_accepted(s3, bucket):
    body = b"checked by md5"
    put = s3.put_object(
        Bucket=bucket, Key="md5", Body=body, ContentMD5=b64(hashlib.md5(body).digest())
    )
    assert put["ETag"] == f'"{md5_hex(body)}"'
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == body


def test_content_md5_mismatch_is_bad_digest(s3, s3_error, bucket):
    with s3_error(400, "BadDigest"):
        s3.put_object(
            Bucket=bucket, Key="md5", Body=b"actual", ContentMD5=b64(hashlib.md5(b"other").digest())
        )
    with s3_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="md5")


def test_content_md5_mismatch_keeps_previous_version(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="md5", Body=b"previous")
    with s3_error(400, "BadDigest"):
        s3.put_object(
            Bucket=bucket, Key="md5", Body=b"next", ContentMD5=b64(hashlib.md5(b"nope").digest())
        )
    assert s3.get_object(Bucket=bucket, Key="md5")["Body"].read() == b"previous"


# --- S3 checksums ---

CHECKSUM_BODY = b"The quick brown fox jumps over the lazy dog\n" * 23


@pytest.mark.parametrize("algorithm", sorted(CHECKSUMS))
def test_checksum_verified_stored_and_returned(s3, bucket, algorithm):
    value = CHECKSUMS[algorithm](CHECKSUM_BODY)
    s3.put_object(
        Bucket=bucket, Key="sum", Body=CHECKSUM_BODY,
        ChecksumAlgorithm=algorithm, **{f"Checksum{algorithm}": value},
    )
    head = s3.head_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert head.get(f"Checksum{algorithm}") == value, head["ResponseMetadata"]["HTTPHeaders"]
    got = s3.get_object(Bucket=bucket, Key="sum", ChecksumMode="ENABLED")
    assert got.get(f"Checksum{algorithm}") == value
    assert got["Body"].read() == CHECKSUM_BODY


@pytest.mark.parametrize("algorithm", sorted(CHECKSUMS))
def test_checksum_mismatch_is_bad_digest(s3, s3_error, bucket, algorithm):
    wrong = CHECKSUMS[algorithm](CHECKSUM_BODY + b"!")
    with s3_error(400, "BadDigest"):
        s3.put_object(
            Bucket=bucket, Key="sum", Body=CHECKSUM_BODY,
            ChecksumAlgorithm=algorithm, **{f"Checksum{algorithm}": wrong},
        )
    with s3_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="sum")


def test_sdk_default_crc32_is_returned(s3, bucket):
    # boto3 sends x-amz-checksum-crc32 on every PutObject by itself.
    s3.put_object(Bucket=bucket, Key="default", Body=CHECKSUM_BODY)
    head = s3.head_object(Bucket=bucket, Key="default", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") == CHECKSUMS["CRC32"](CHECKSUM_BODY)


# --- keys ---

ODD_KEYS = [
    "with space.txt",
    "plus+sign+",
    "unicode-ü-日本語-😀.txt",
    "deep/dir/tree/leaf",
    "percent%41literal",
    "tilde~and'quote\"",
    "punct;:,=&$@!*()[]{}",
    "hash#question?",
    "back\\slash",
    "trailing-space ",
]


@pytest.mark.parametrize("key", ODD_KEYS)
def test_odd_keys_round_trip(s3, bucket, key):
    body = key.encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == [key]
    s3.delete_object(Bucket=bucket, Key=key)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_key_of_1024_bytes_is_allowed_and_1025_is_too_long(s3, s3_error, bucket):
    longest = "k" * 1022 + "é"  # 1024 bytes of UTF-8
    assert len(longest.encode()) == 1024
    s3.put_object(Bucket=bucket, Key=longest, Body=b"edge")
    assert s3.get_object(Bucket=bucket, Key=longest)["Body"].read() == b"edge"
    with s3_error(400, "KeyTooLongError"):
        s3.put_object(Bucket=bucket, Key="k" * 1025, Body=b"over")

