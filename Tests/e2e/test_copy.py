"""CopyObject, against issue 4 and S3-SEMANTICS.md: same bucket and across buckets, the
metadata directive, `x-amz-copy-source` forms, copy onto itself, the four
`x-amz-copy-source-if-*` conditions (412, never 304) with the two combination rows, the
destination's conditions, independence of the copies, and a copy writing no object data."""

import datetime
import hashlib
import os
import time
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError
from conftest import body_of, quoted_md5

MiB = 1024 * 1024
OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'
ONE_DAY = datetime.timedelta(days=1)
BODY = b"the copy source's body\n" * 100




def keys_of(s3, bucket):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


FULL_ATTRIBUTES = dict(
    ContentType="text/x-stowage-source",
    ContentEncoding="identity",
    ContentDisposition='attachment; filename="source.txt"',
    ContentLanguage="fr",
    CacheControl="max-age=60",
    Metadata={"origin": "copy-test", "n": "7"},
    StorageClass="STANDARD_IA",
)
ATTRIBUTE_FIELDS = [
    "ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl",
    "Metadata", "StorageClass",
]


# ---------------------------------------------------------------------------
# Success, COPY and REPLACE
# ---------------------------------------------------------------------------


def test_copy_within_a_bucket(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="src", Body=BODY)
    source_head = s3.head_object(Bucket=bucket, Key="src")
    time.sleep(1.1)  # the copy is a new object: its Last-Modified is a later second
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert copied["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert copied["CopyObjectResult"]["ETag"] == put["ETag"] == quoted_md5(BODY)
    assert copied["CopyObjectResult"]["LastModified"] > source_head["LastModified"]
    assert body_of(s3, bucket, "dst") == BODY
    assert body_of(s3, bucket, "src") == BODY
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ETag"] == put["ETag"]
    assert head["ContentLength"] == len(BODY)
    assert head["LastModified"] == copied["CopyObjectResult"]["LastModified"].replace(microsecond=0)
    assert keys_of(s3, bucket) == ["dst", "src"]


def test_copy_across_buckets(s3, bucket, bucket_name_factory):
    other = bucket_name_factory("dst")
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=bucket, Key="dir/src.bin", Body=BODY, **FULL_ATTRIBUTES)
    copied = s3.copy_object(
        Bucket=other, Key="elsewhere/dst.bin", CopySource=f"{bucket}/dir/src.bin"
    )
    assert copied["CopyObjectResult"]["ETag"] == quoted_md5(BODY)
    assert body_of(s3, other, "elsewhere/dst.bin") == BODY
    assert keys_of(s3, other) == ["elsewhere/dst.bin"]
    assert keys_of(s3, bucket) == ["dir/src.bin"]
    head = s3.head_object(Bucket=other, Key="elsewhere/dst.bin")
    for field in ATTRIBUTE_FIELDS:
        assert head.get(field) == FULL_ATTRIBUTES[field], field


def test_copy_directive_copy_preserves_attributes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=BODY, **FULL_ATTRIBUTES)
    # With COPY (the default, here explicit), content headers and metadata in the request
    # are ignored: the source's are kept.
    s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="COPY", ContentType="text/ignored", Metadata={"ignored": "yes"},
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    for field in ATTRIBUTE_FIELDS:
        assert head.get(field) == FULL_ATTRIBUTES[field], field
    assert head["ETag"] == quoted_md5(BODY)


def test_copy_directive_copy_with_a_new_storage_class(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=BODY, **FULL_ATTRIBUTES)
    s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
        StorageClass="GLACIER_IR",
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["StorageClass"] == "GLACIER_IR"
    assert head["Metadata"] == FULL_ATTRIBUTES["Metadata"]
    assert head["ContentType"] == FULL_ATTRIBUTES["ContentType"]
    assert s3.head_object(Bucket=bucket, Key="src")["StorageClass"] == "STANDARD_IA"


def test_copy_directive_replace_sets_new_attributes(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=BODY, **FULL_ATTRIBUTES)
    s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"},
        MetadataDirective="REPLACE", ContentType="application/x-replaced",
        Metadata={"fresh": "value"}, StorageClass="STANDARD",
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "application/x-replaced"
    assert head["Metadata"] == {"fresh": "value"}
    assert head.get("StorageClass", "STANDARD") == "STANDARD"
    for field in ("ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl"):
        assert field not in head, f"{field} survived a REPLACE copy: {head.get(field)!r}"
    assert head["ETag"] == quoted_md5(BODY)
    assert body_of(s3, bucket, "dst") == BODY
    source = s3.head_object(Bucket=bucket, Key="src")
    for field in ATTRIBUTE_FIELDS:
        assert source.get(field) == FULL_ATTRIBUTES[field], field


def test_copy_of_a_multipart_object_keeps_its_parts(s3, bucket):
    parts = [os.urandom(5 * MiB), b"tail part"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    listed = []
    for number, data in enumerate(parts, start=1):
        etag = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload_id, PartNumber=number,
                              Body=data)["ETag"]
        listed.append({"PartNumber": number, "ETag": etag})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload_id,
                                        MultipartUpload={"Parts": listed})
    copied = s3.copy_object(Bucket=bucket, Key="mp-copy", CopySource={"Bucket": bucket, "Key": "mp"})
    assert copied["CopyObjectResult"]["ETag"] == done["ETag"]
    assert body_of(s3, bucket, "mp-copy") == b"".join(parts)
    second = s3.get_object(Bucket=bucket, Key="mp-copy", PartNumber=2)
    assert second["PartsCount"] == 2
    assert second["Body"].read() == parts[1]


# ---------------------------------------------------------------------------
# x-amz-copy-source forms
# ---------------------------------------------------------------------------

ODD_KEYS = ["with space.txt", "dir/ünï cödé+plus&more.txt", "a+b", "100%.txt", "q?x=1#frag"]


@pytest.mark.parametrize("key", ODD_KEYS)
@pytest.mark.parametrize("form", ["/BUCKET/ENCODED", "BUCKET/ENCODED", "boto3-dict", "boto3-str"])
def test_copy_source_forms(s3, raw, bucket, form, key):
    body = f"body of {key}".encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    if form == "boto3-dict":
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": key})
    elif form == "boto3-str":
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=f"{bucket}/{key}")  # boto3 encodes it
    else:
        source = form.replace("BUCKET", bucket).replace("ENCODED", quote(key, safe="/"))
        response = raw.request("PUT", f"/{bucket}/dst", headers={"x-amz-copy-source": source})
        assert response.status_code == 200, response.text
        assert b"<CopyObjectResult" in response.content
    assert body_of(s3, bucket, "dst") == body
    assert body_of(s3, bucket, key) == body


def test_plus_in_copy_source_stays_a_plus(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="a+b", Body=b"the key with a plus")
    s3.put_object(Bucket=bucket, Key="a b", Body=b"the key with a space")
    response = raw.request("PUT", f"/{bucket}/dst", headers={"x-amz-copy-source": f"{bucket}/a+b"})
    assert response.status_code == 200, response.text
    assert body_of(s3, bucket, "dst") == b"the key with a plus"
    response = raw.request("PUT", f"/{bucket}/dst2", headers={"x-amz-copy-source": f"/{bucket}/a%20b"})
    assert response.status_code == 200, response.text
    assert body_of(s3, bucket, "dst2") == b"the key with a space"


def test_copy_to_a_key_with_unicode_and_spaces(s3, bucket):
    s3.put_object(Bucket=bucket, Key="plain", Body=BODY)
    s3.copy_object(Bucket=bucket, Key="to/ünï cödé+x.txt", CopySource={"Bucket": bucket, "Key": "plain"})
    assert body_of(s3, bucket, "to/ünï cödé+x.txt") == BODY
    assert keys_of(s3, bucket) == ["plain", "to/ünï cödé+x.txt"]


# ---------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------


def test_copy_onto_itself_without_changes_is_invalid(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=BODY, Metadata={"v": "1"})
    with s3_error(400, "InvalidRequest"):
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"})
    with s3_error(400, "InvalidRequest"):
        s3.copy_object(Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
                       MetadataDirective="COPY")
    assert s3.head_object(Bucket=bucket, Key="self")["Metadata"] == {"v": "1"}


def test_copy_onto_itself_with_replace_updates_metadata(s3, bucket):
    s3.put_object(Bucket=bucket, Key="self", Body=BODY, Metadata={"v": "1"}, ContentType="text/old")
    copied = s3.copy_object(
        Bucket=bucket, Key="self", CopySource={"Bucket": bucket, "Key": "self"},
        MetadataDirective="REPLACE", Metadata={"v": "2"}, ContentType="text/new",
    )
    assert copied["ResponseMetadata"]["HTTPStatusCode"] == 200
    head = s3.head_object(Bucket=bucket, Key="self")
    assert head["Metadata"] == {"v": "2"}
    assert head["ContentType"] == "text/new"
    assert head["ETag"] == quoted_md5(BODY)
    assert body_of(s3, bucket, "self") == BODY


def test_copy_from_a_missing_source(s3, s3_error, bucket, bucket_name_factory):
    with s3_error(404, "NoSuchKey"):
        s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "missing"})
    with s3_error(404, "NoSuchBucket"):
        s3.copy_object(Bucket=bucket, Key="dst",
                       CopySource={"Bucket": bucket_name_factory("gone"), "Key": "k"})
    assert keys_of(s3, bucket) == []


# ---------------------------------------------------------------------------
# x-amz-copy-source-if-* (S3-SEMANTICS.md: 412, never 304; two combination rows)
# ---------------------------------------------------------------------------

# (id, source conditions, copy proceeds)
SOURCE_CONDITION_ROWS = [
    ("if-match-equal", {"CopySourceIfMatch": "ETAG"}, True),
    ("if-match-bare", {"CopySourceIfMatch": "BARE"}, True),
    ("if-match-differs", {"CopySourceIfMatch": OTHER_ETAG}, False),
    ("if-none-match-differs", {"CopySourceIfNoneMatch": OTHER_ETAG}, True),
    ("if-none-match-equal", {"CopySourceIfNoneMatch": "ETAG"}, False),
    ("if-none-match-star", {"CopySourceIfNoneMatch": "*"}, False),
    ("if-modified-since-past", {"CopySourceIfModifiedSince": "PAST"}, True),
    ("if-modified-since-last-modified", {"CopySourceIfModifiedSince": "LM"}, False),
    ("if-unmodified-since-last-modified", {"CopySourceIfUnmodifiedSince": "LM"}, True),
    ("if-unmodified-since-past", {"CopySourceIfUnmodifiedSince": "PAST"}, False),
    # The two combination rows of S3-SEMANTICS.md:
    ("if-match-true-and-if-unmodified-since-false",
     {"CopySourceIfMatch": "ETAG", "CopySourceIfUnmodifiedSince": "PAST"}, True),
    ("if-none-match-false-and-if-modified-since-true",
     {"CopySourceIfNoneMatch": "ETAG", "CopySourceIfModifiedSince": "PAST"}, False),
    # And their counterparts with the ETag condition failing.
    ("if-match-false-and-if-unmodified-since-true",
     {"CopySourceIfMatch": OTHER_ETAG, "CopySourceIfUnmodifiedSince": "LM"}, False),
    ("if-none-match-true-and-if-modified-since-true",
     {"CopySourceIfNoneMatch": OTHER_ETAG, "CopySourceIfModifiedSince": "PAST"}, True),
]


@pytest.mark.parametrize(
    "conditions, proceeds",
    [row[1:] for row in SOURCE_CONDITION_ROWS],
    ids=[row[0] for row in SOURCE_CONDITION_ROWS],
)
def test_copy_source_conditions(s3, s3_error, bucket, conditions, proceeds):
    s3.put_object(Bucket=bucket, Key="src", Body=BODY)
    head = s3.head_object(Bucket=bucket, Key="src")
    values = {
        "ETAG": head["ETag"],
        "BARE": head["ETag"].strip('"'),
        "LM": head["LastModified"],
        "PAST": head["LastModified"] - ONE_DAY,
    }
    kwargs = {name: values.get(value, value) for name, value in conditions.items()}
    source = {"Bucket": bucket, "Key": "src"}
    if proceeds:
        copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, **kwargs)
        assert copied["CopyObjectResult"]["ETag"] == head["ETag"]
        assert body_of(s3, bucket, "dst") == BODY
    else:
        with s3_error(412, "PreconditionFailed"):
            s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, **kwargs)
        assert body_of(s3, bucket, "dst") is None


# ---------------------------------------------------------------------------
# Conditions on the destination
# ---------------------------------------------------------------------------

# (id, destination exists, conditions, status, code, Condition)
DEST_ROWS = [
    ("if-none-match-star-exists", True, {"IfNoneMatch": "*"}, 412, "PreconditionFailed",
     "If-None-Match"),
    ("if-none-match-star-absent", False, {"IfNoneMatch": "*"}, 200, None, None),
    ("if-match-differs", True, {"IfMatch": OTHER_ETAG}, 412, "PreconditionFailed", "If-Match"),
    ("if-match-equal", True, {"IfMatch": "DEST"}, 200, None, None),
    ("if-match-absent", False, {"IfMatch": OTHER_ETAG}, 404, "NoSuchKey", None),
]
DEST_BODY = b"the destination before the copy"


@pytest.mark.parametrize(
    "exists, conditions, status, code, condition",
    [row[1:] for row in DEST_ROWS],
    ids=[row[0] for row in DEST_ROWS],
)
def test_copy_destination_conditions(s3, s3_error, bucket, exists, conditions, status, code,
                                     condition):
    s3.put_object(Bucket=bucket, Key="src", Body=BODY)
    if exists:
        s3.put_object(Bucket=bucket, Key="dst", Body=DEST_BODY)
    kwargs = {n: quoted_md5(DEST_BODY) if v == "DEST" else v for n, v in conditions.items()}
    source = {"Bucket": bucket, "Key": "src"}
    if status == 200:
        s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, **kwargs)
        assert body_of(s3, bucket, "dst") == BODY
    else:
        with s3_error(status, code, condition=condition):
            s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, **kwargs)
        assert body_of(s3, bucket, "dst") == (DEST_BODY if exists else None)


# ---------------------------------------------------------------------------
# Copies are independent; a copy writes no object data
# ---------------------------------------------------------------------------


def test_deleting_either_copy_leaves_the_other(s3, bucket):
    data = os.urandom(3 * MiB)
    s3.put_object(Bucket=bucket, Key="original", Body=data)
    s3.copy_object(Bucket=bucket, Key="copy-1", CopySource={"Bucket": bucket, "Key": "original"})
    s3.copy_object(Bucket=bucket, Key="copy-2", CopySource={"Bucket": bucket, "Key": "copy-1"})

    s3.delete_object(Bucket=bucket, Key="original")
    assert body_of(s3, bucket, "copy-1") == data
    assert body_of(s3, bucket, "copy-2") == data

    s3.delete_object(Bucket=bucket, Key="copy-2")
    assert body_of(s3, bucket, "copy-1") == data

    # Overwriting a copy in place leaves the other copy as it was.
    s3.copy_object(Bucket=bucket, Key="copy-3", CopySource={"Bucket": bucket, "Key": "copy-1"})
    s3.put_object(Bucket=bucket, Key="copy-1", Body=b"overwritten")
    assert body_of(s3, bucket, "copy-3") == data
    assert body_of(s3, bucket, "copy-1") == b"overwritten"
    # New data written after the last reference went must not disturb the survivor.
    s3.put_object(Bucket=bucket, Key="filler", Body=os.urandom(3 * MiB))
    assert body_of(s3, bucket, "copy-3") == data
    assert keys_of(s3, bucket) == ["copy-1", "copy-3", "filler"]


def test_copy_of_64_mib_writes_no_object_data(s3, bucket, segment_files):
    data = os.urandom(64 * MiB)
    before_put = segment_files()
    put = s3.put_object(Bucket=bucket, Key="big", Body=data)
    time.sleep(0.05)  # let the file-time clock tick past the put's last write
    before = segment_files()
    # The probe sees writes: storing 64 MiB changed the segment files.
    assert before != before_put, "a 64 MiB PutObject left segments/ untouched"

    copied = s3.copy_object(Bucket=bucket, Key="big-copy", CopySource={"Bucket": bucket, "Key": "big"})
    after = segment_files()

    assert copied["CopyObjectResult"]["ETag"] == put["ETag"]
    growth = sum(f[0] for f in after.values()) - sum(f[0] for f in before.values())
    allocated = sum(f[1] for f in after.values()) - sum(f[1] for f in before.values())
    assert growth <= 8 * 1024 and allocated <= 8 * 1024, (growth, allocated)
    assert after == before, "CopyObject wrote to the segment files"
    head = s3.head_object(Bucket=bucket, Key="big-copy")
    assert head["ContentLength"] == len(data)
    got = s3.get_object(Bucket=bucket, Key="big-copy", Range=f"bytes={40 * MiB}-{40 * MiB + 999}")
    assert got["Body"].read() == data[40 * MiB:40 * MiB + 1000]
    assert hashlib.sha256(body_of(s3, bucket, "big-copy")).digest() == hashlib.sha256(data).digest()
