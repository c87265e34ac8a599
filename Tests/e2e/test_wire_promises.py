"""Every promise on the wire is kept or refused (issue 12).

The server's table of request headers and query parameters (`stowage headers --json`,
`WirePromises` in the code) is walked against botocore's S3 service model: every header
and query parameter of every operation the server answers is either honoured or refused.
Each refused row is then sent for real, and the request must be answered with the row's
error and store nothing. The rows of the issue's table are also driven through boto3.
"""

from __future__ import annotations

import base64
import datetime
import gzip
import hashlib
import json
import os
import pathlib
import signal
import subprocess
import uuid

import boto3
import botocore
import pytest
from botocore.exceptions import ClientError

from conftest import REPO
from test_fsck import ServerOn

OPERATIONS = [
    # The operations the issue names...
    "PutObject", "CopyObject", "CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload",
    "CreateBucket", "GetObject",
    # ...and every other one the server answers.
    "HeadObject", "DeleteObject", "DeleteObjects", "UploadPartCopy", "AbortMultipartUpload",
    "ListParts", "ListObjects", "ListObjectsV2", "ListObjectVersions", "ListMultipartUploads",
    "HeadBucket", "DeleteBucket", "ListBuckets", "GetBucketLocation", "GetBucketVersioning",
    "RenameObject", "PutBucketVersioning", "GetObjectLockConfiguration", "PutObjectLockConfiguration",
    "GetObjectRetention", "PutObjectRetention", "GetObjectLegalHold", "PutObjectLegalHold",
    "GetBucketLifecycleConfiguration", "PutBucketLifecycleConfiguration", "DeleteBucketLifecycle",
    "GetObjectAttributes", "GetObjectTagging", "PutObjectTagging", "DeleteObjectTagging",
    "GetBucketTagging", "PutBucketTagging", "DeleteBucketTagging",
    "GetBucketEncryption", "PutBucketEncryption", "DeleteBucketEncryption",
    "PutBucketPolicy", "GetBucketPolicy", "DeleteBucketPolicy", "GetBucketPolicyStatus",
    "PutPublicAccessBlock", "GetPublicAccessBlock", "DeletePublicAccessBlock",
    "GetBucketCors", "PutBucketCors", "DeleteBucketCors",
    "GetBucketAcl", "PutBucketAcl", "GetObjectAcl", "PutObjectAcl",
    "GetBucketOwnershipControls", "PutBucketOwnershipControls", "DeleteBucketOwnershipControls",
]


def service_model() -> dict:
    path = pathlib.Path(botocore.__file__).parent / "data/s3/2006-03-01/service-2.json.gz"
    with gzip.open(path) as handle:
        return json.load(handle)


def model_inputs(operation: str) -> list[tuple[str, str]]:
    """(location, name) of every header and query parameter of an operation's input."""
    model = service_model()
    shape = model["operations"][operation].get("input", {}).get("shape")
    if shape is None:
        return []
    found = []
    for member in model["shapes"][shape]["members"].values():
        location = member.get("location")
        if location in ("header", "headers"):
            found.append(("header", member["locationName"].lower()))
        elif location == "querystring":
            found.append(("query", member["locationName"]))
    return found


@pytest.fixture(scope="module")
def table() -> list[dict]:
    binary = pathlib.Path(os.environ.get("STOWAGE_BIN", REPO / ".build" / "debug" / "stowage"))
    out = subprocess.run([str(binary), "headers", "--json"], check=True, capture_output=True, timeout=60)
    return json.loads(out.stdout)


def rule_for(table, location: str, name: str, operation: str) -> dict | None:
    for row in table:
        if row["location"] != location:
            continue
        matches = name.startswith(row["name"]) if row["prefix"] else name == row["name"]
        if matches and (row["operations"] is None or operation in row["operations"]):
            return row
    return None


# --- the audit ---


@pytest.mark.parametrize("operation", OPERATIONS)
def test_every_model_input_is_honoured_or_refused(table, operation):
    missing = [f"{location} {name}" for location, name in model_inputs(operation)
               if rule_for(table, location, name, operation) is None]
    assert not missing, f"{operation}: not in the server's table: {missing}"


def test_the_table_names_only_operations_the_model_has(table):
    known = set(OPERATIONS) | {"RenamePrefix"}
    for row in table:
        assert row["disposition"] in ("honoured", "values", "refused"), row
        for operation in row["operations"] or []:
            assert operation in known, row
        if row["disposition"] != "honoured":
            assert row["refusal"]["status"] in (400, 403, 501), row


def refused_samples(table):
    """(header, value, status, code) for every refused header and every refused value."""
    samples = []
    for row in table:
        if row["location"] != "header":
            continue
        if row["disposition"] == "refused" and (row["operations"] is None or "PutObject" in row["operations"]):
            value = "2030-01-01T00:00:00Z" if "date" in row["name"] else "AES256"
            samples.append((row["name"], value, row["refusal"]["status"], row["refusal"]["code"]))
        elif row["disposition"] == "values" and (row["operations"] is None or "PutObject" in row["operations"]):
            samples.append((row["name"], "something-else", row["refusal"]["status"], row["refusal"]["code"]))
    return samples


def test_every_refused_header_stores_nothing(table, raw, error_xml, bucket, s3):
    """Each refused header (and each refused value), sent on a PUT: the row's error, and
    the key keeps its previous content."""
    samples = refused_samples(table)
    assert len(samples) >= 12   # 15 since ACLs and grants are kept (issue 16)
    s3.put_object(Bucket=bucket, Key="kept", Body=b"before")
    for header, value, status, code in samples:
        for key in ("fresh", "kept"):
            response = raw.request("PUT", f"/{bucket}/{key}", headers={header: value}, body=b"after")
            assert response.status_code == status, (header, response.content)
            error = error_xml(response.content)
            assert error["Code"] == code, (header, error)
            assert header in error["Message"].lower(), (header, error)
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"before"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["kept"]


# --- the table, through boto3 ---


def assert_absent(s3, bucket, key):
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key=key)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_object_lock_headers_are_refused_without_object_lock(s3, s3_error, bucket):
    until = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=30)
    with s3_error(400, "InvalidRequest"):
        s3.put_object(Bucket=bucket, Key="locked", Body=b"x", ObjectLockMode="COMPLIANCE",
                      ObjectLockRetainUntilDate=until)
    with s3_error(400, "InvalidRequest"):
        s3.put_object(Bucket=bucket, Key="locked", Body=b"x", ObjectLockLegalHoldStatus="ON")
    with s3_error(400, "InvalidRequest"):
        s3.create_multipart_upload(Bucket=bucket, Key="locked", ObjectLockMode="GOVERNANCE",
                                   ObjectLockRetainUntilDate=until)
    assert_absent(s3, bucket, "locked")
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


def test_an_object_lock_bucket_is_versioned(s3, bucket_name_factory):
    name = bucket_name_factory("worm")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    assert s3.get_object_lock_configuration(Bucket=name)["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    plain = bucket_name_factory("plain")
    s3.create_bucket(Bucket=plain, ObjectLockEnabledForBucket=False)
    assert "Status" not in s3.get_bucket_versioning(Bucket=plain)


@pytest.mark.parametrize("arguments", [
    {"ServerSideEncryption": "aws:kms", "SSEKMSEncryptionContext": "eyJhIjoiYiJ9"},
    {"ServerSideEncryption": "aws:kms:dsse"},
])
def test_unbuilt_encryption_options_are_refused(s3, s3_error, bucket, arguments):
    """SSE-S3, SSE-KMS and SSE-C are built (test_encryption.py); an encryption context and
    dual-layer KMS are not, and store nothing."""
    with s3_error(501, "NotImplemented"):
        s3.put_object(Bucket=bucket, Key="enc", Body=b"x", **arguments)
    assert_absent(s3, bucket, "enc")
    with s3_error(501, "NotImplemented"):
        s3.create_multipart_upload(Bucket=bucket, Key="enc", **arguments)
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


@pytest.mark.parametrize("acl", ["public-read", "public-read-write", "authenticated-read", "log-delivery-write"])
def test_acls_on_an_owner_enforced_bucket_are_refused(s3, s3_error, bucket, bucket_name_factory, acl):
    """A bucket without ownership controls is BucketOwnerEnforced (as S3's are): an ACL
    that says more than private is refused (400) and nothing is stored."""
    with s3_error(400, "AccessControlListNotSupported"):
        s3.put_object(Bucket=bucket, Key="public", Body=b"x", ACL=acl)
    assert_absent(s3, bucket, "public")
    name = bucket_name_factory("acl")
    with s3_error(400, "InvalidBucketAclWithObjectOwnership"):
        s3.create_bucket(Bucket=name, ACL=acl)
    with s3_error(404, "404"):
        s3.head_bucket(Bucket=name)


def test_aws_exec_read_is_not_built(s3, s3_error, bucket):
    with s3_error(501, "NotImplemented"):
        s3.put_object(Bucket=bucket, Key="ami", Body=b"x", ACL="aws-exec-read")
    assert_absent(s3, bucket, "ami")


@pytest.mark.parametrize("grant", ["GrantRead", "GrantFullControl", "GrantReadACP", "GrantWriteACP"])
def test_grants_on_an_owner_enforced_bucket_are_refused(s3, s3_error, bucket, bucket_name_factory, grant):
    with s3_error(400, "AccessControlListNotSupported"):
        s3.put_object(Bucket=bucket, Key="granted", Body=b"x", **{grant: 'uri="http://acs.amazonaws.com/groups/global/AllUsers"'})
    assert_absent(s3, bucket, "granted")
    s3.put_object(Bucket=bucket, Key="src", Body=b"x")
    with s3_error(400, "AccessControlListNotSupported"):
        s3.copy_object(Bucket=bucket, Key="granted", CopySource={"Bucket": bucket, "Key": "src"},
                       **{grant: 'uri="http://acs.amazonaws.com/groups/global/AuthenticatedUsers"'})
    assert_absent(s3, bucket, "granted")
    name = bucket_name_factory("grant")
    with s3_error(400, "InvalidArgument"):
        s3.create_bucket(Bucket=name, **{grant: "id=nobody-of-this-server"})
    with s3_error(400, "InvalidBucketAclWithObjectOwnership"):
        s3.create_bucket(Bucket=name, GrantWrite='uri="http://acs.amazonaws.com/groups/global/AllUsers"')
    with s3_error(404, "404"):
        s3.head_bucket(Bucket=name)


def test_private_acls_are_honoured(s3, bucket, bucket_name_factory):
    s3.put_object(Bucket=bucket, Key="private", Body=b"x", ACL="private")
    s3.put_object(Bucket=bucket, Key="owner", Body=b"y", ACL="bucket-owner-full-control")
    assert s3.get_object(Bucket=bucket, Key="owner")["Body"].read() == b"y"
    name = bucket_name_factory("private")
    s3.create_bucket(Bucket=name, ACL="private", ObjectOwnership="BucketOwnerEnforced")
    s3.head_bucket(Bucket=name)


def test_expected_bucket_owner_is_checked(s3, s3_error, bucket):
    with s3_error(403, "AccessDenied"):
        s3.put_object(Bucket=bucket, Key="owned", Body=b"x", ExpectedBucketOwner="111122223333")
    assert_absent(s3, bucket, "owned")
    with s3_error(403, "AccessDenied"):
        s3.list_objects_v2(Bucket=bucket, ExpectedBucketOwner="111122223333")
    s3.put_object(Bucket=bucket, Key="owned", Body=b"x", ExpectedBucketOwner="stowage")
    assert s3.get_object(Bucket=bucket, Key="owned", ExpectedBucketOwner="stowage")["Body"].read() == b"x"
    s3.put_object(Bucket=bucket, Key="src", Body=b"s")
    with s3_error(403, "AccessDenied"):
        s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "src"},
                       ExpectedSourceBucketOwner="111122223333")
    assert_absent(s3, bucket, "copy")


def test_website_redirect_is_refused(s3, s3_error, bucket):
    with s3_error(501, "NotImplemented"):
        s3.put_object(Bucket=bucket, Key="page", Body=b"x", WebsiteRedirectLocation="/elsewhere")
    assert_absent(s3, bucket, "page")


def test_waivers_are_accepted_on_delete(s3, bucket):
    """Tools send these when emptying buckets: they waive protections no object has."""
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    s3.put_object(Bucket=bucket, Key="b", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="a", BypassGovernanceRetention=True)
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "b"}]}, BypassGovernanceRetention=True)
    assert [d["Key"] for d in result["Deleted"]] == ["b"]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_unbuilt_checksums_and_conditions_are_refused(s3, raw, error_xml, bucket):
    for header in ("x-amz-checksum-sha512", "x-amz-checksum-xxhash64", "x-amz-write-offset-bytes"):
        response = raw.request("PUT", f"/{bucket}/k", headers={header: "AAAAAAAAAAA="}, body=b"x")
        assert response.status_code == 501, (header, response.content)
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
    response = raw.request("DELETE", f"/{bucket}/k", headers={"x-amz-if-match-size": "4"})
    assert response.status_code == 501
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"kept"


def test_copy_keeps_the_source_checksum_or_refuses(s3, s3_error, bucket):
    body = b"checksummed"
    s3.put_object(Bucket=bucket, Key="src", Body=body, ChecksumAlgorithm="SHA256")
    s3.copy_object(Bucket=bucket, Key="same", CopySource={"Bucket": bucket, "Key": "src"}, ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="same", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(body).digest()).decode()
    with s3_error(501, "NotImplemented"):
        s3.copy_object(Bucket=bucket, Key="other", CopySource={"Bucket": bucket, "Key": "src"}, ChecksumAlgorithm="CRC32C")
    assert_absent(s3, bucket, "other")


# --- version ids on a bucket that never had versioning ---


def test_null_version_id_is_the_object(s3, s3_error, raw, error_xml, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"v")
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"v"
    assert s3.head_object(Bucket=bucket, Key="k", VersionId="null")["ContentLength"] == 1
    with s3_error(400, "InvalidArgument"):
        s3.get_object(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY")
    with s3_error(400, "InvalidArgument"):
        s3.delete_object(Bucket=bucket, Key="k", VersionId="3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY")
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
    s3.delete_object(Bucket=bucket, Key="k", VersionId="null")
    assert_absent(s3, bucket, "k")


def test_delete_objects_with_version_ids_and_etags(s3, bucket):
    for key in ("a", "b", "c", "d"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    etag_c = s3.head_object(Bucket=bucket, Key="c")["ETag"]
    result = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "VersionId": "null"},
        {"Key": "b", "VersionId": "not-a-version"},
        {"Key": "c", "ETag": etag_c},
        {"Key": "d", "ETag": '"0123456789abcdef0123456789abcdef"'},
    ]})
    deleted = {d["Key"]: d for d in result.get("Deleted", [])}
    errors = {e["Key"]: e for e in result.get("Errors", [])}
    assert set(deleted) == {"a", "c"}
    assert deleted["a"]["VersionId"] == "null"
    assert errors["b"]["Code"] == "NoSuchVersion"
    assert errors["d"]["Code"] == "PreconditionFailed"
    assert sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]) == ["b", "d"]


def test_delete_objects_body_checksum_is_checked(raw, error_xml, s3, bucket):
    s3.put_object(Bucket=bucket, Key="x", Body=b"x")
    body = b"<Delete><Object><Key>x</Key></Object></Delete>"
    wrong = base64.b64encode(hashlib.md5(b"other").digest()).decode()
    response = raw.request("POST", f"/{bucket}", query="delete", headers={"Content-MD5": wrong}, body=body)
    assert response.status_code == 400
    assert error_xml(response.content)["Code"] == "BadDigest"
    assert s3.get_object(Bucket=bucket, Key="x")["Body"].read() == b"x"


# --- ListObjectVersions without versioning ---


def test_list_object_versions_lists_current_objects_as_null(s3, bucket):
    keys = ["a/1", "a/2", "b", "c/x/y", "d"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    listed = s3.list_object_versions(Bucket=bucket)
    assert [v["Key"] for v in listed["Versions"]] == keys
    for version in listed["Versions"]:
        assert version["VersionId"] == "null"
        assert version["IsLatest"] is True
        assert version["Size"] == len(version["Key"])
    assert "DeleteMarkers" not in listed
    grouped = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [v["Key"] for v in grouped["Versions"]] == ["b", "d"]
    assert [p["Prefix"] for p in grouped["CommonPrefixes"]] == ["a/", "c/"]
    assert [v["Key"] for v in s3.list_object_versions(Bucket=bucket, Prefix="a/")["Versions"]] == ["a/1", "a/2"]
    # Pages of two, continued with the markers the server hands out.
    seen, marker = [], {}
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=2, **marker)
        seen += [v["Key"] for v in page.get("Versions", [])]
        if not page["IsTruncated"]:
            break
        assert page["NextVersionIdMarker"] == "null"
        marker = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert seen == keys
    paginated = [v["Key"] for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=bucket, PaginationConfig={"PageSize": 3}) for v in page.get("Versions", [])]
    assert paginated == keys
    empty = s3.list_object_versions(Bucket=bucket, MaxKeys=0)
    assert "Versions" not in empty and empty["IsTruncated"] is False


def test_list_object_versions_markers_and_encoding(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="sp ace", Body=b"x")
    s3.put_object(Bucket=bucket, Key="z", Body=b"x")
    encoded = s3.list_object_versions(Bucket=bucket, EncodingType="url")
    # botocore decodes only when it chose the encoding itself.
    assert [v["Key"] for v in encoded["Versions"]] == ["sp%20ace", "z"]
    assert [v["Key"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]] == ["sp ace", "z"]
    after = s3.list_object_versions(Bucket=bucket, KeyMarker="sp ace")
    assert [v["Key"] for v in after["Versions"]] == ["z"]
    with s3_error(400, "InvalidArgument"):
        s3.list_object_versions(Bucket=bucket, VersionIdMarker="null")
    with s3_error(404, "NoSuchBucket"):
        s3.list_object_versions(Bucket="no-such-bucket-" + uuid.uuid4().hex[:8])


def test_emptying_a_bucket_through_its_versions(s3, bucket):
    """What test harnesses and infrastructure tools do before deleting a bucket."""
    for n in range(7):
        s3.put_object(Bucket=bucket, Key=f"obj-{n}", Body=b"x")
    boto3_bucket = boto3.resource(
        "s3", endpoint_url=s3.meta.endpoint_url, region_name="us-east-1",
        aws_access_key_id=s3._request_signer._credentials.access_key,
        aws_secret_access_key=s3._request_signer._credentials.secret_key,
    ).Bucket(bucket)
    boto3_bucket.object_versions.delete()
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    s3.delete_bucket(Bucket=bucket)


# --- CompleteMultipartUpload retried after it succeeded ---


def test_complete_retried_after_success_answers_the_same(s3, s3_error, bucket):
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big", ChecksumAlgorithm="SHA256")["UploadId"]
    part1 = b"a" * (5 << 20)
    part2 = b"tail"
    etags = [
        s3.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=n, Body=body, ChecksumAlgorithm="SHA256")
        for n, body in ((1, part1), (2, part2))
    ]
    parts = [{"PartNumber": n + 1, "ETag": e["ETag"], "ChecksumSHA256": e["ChecksumSHA256"]} for n, e in enumerate(etags)]
    first = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts})
    # The answer was lost; the client retries, even after the key changed, and with the
    # condition it first sent (which the object now fails).
    s3.put_object(Bucket=bucket, Key="big", Body=b"overwritten")
    again = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts},
                                         IfNoneMatch="*")
    for field in ("ETag", "Bucket", "Key", "ChecksumSHA256", "Location"):
        assert again.get(field) == first.get(field), field
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == b"overwritten"
    # Another part list, another key or another upload id is not a retry.
    with s3_error(404, "NoSuchUpload"):
        s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload, MultipartUpload={"Parts": parts[:1]})
    with s3_error(404, "NoSuchUpload"):
        s3.complete_multipart_upload(Bucket=bucket, Key="other", UploadId=upload, MultipartUpload={"Parts": parts})
    with s3_error(404, "NoSuchUpload"):
        s3.list_parts(Bucket=bucket, Key="big", UploadId=upload)


def test_complete_retry_survives_a_crash(tmp_path):
    """The completion is kept durably with the object: a retry after the server was
    SIGKILLed and restarted still gets the first answer."""
    server = ServerOn(tmp_path / "server", tmp_path / "data")
    server.start()
    try:
        server.wait_ready()
        s3 = server.client()
        s3.create_bucket(Bucket="crash")
        upload = s3.create_multipart_upload(Bucket="crash", Key="k")["UploadId"]
        etag = s3.upload_part(Bucket="crash", Key="k", UploadId=upload, PartNumber=1, Body=b"only")["ETag"]
        parts = {"Parts": [{"PartNumber": 1, "ETag": etag}]}
        first = s3.complete_multipart_upload(Bucket="crash", Key="k", UploadId=upload, MultipartUpload=parts)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=30)
        server.start()
        server.wait_ready()
        again = server.client().complete_multipart_upload(Bucket="crash", Key="k", UploadId=upload, MultipartUpload=parts)
        assert again["ETag"] == first["ETag"]
    finally:
        server.stop()


# --- ListBuckets filters, which were ignored ---


def test_list_buckets_prefix_and_pages(s3, bucket_name_factory):
    tag = uuid.uuid4().hex[:6]
    names = sorted(bucket_name_factory(f"lb{tag}") for _ in range(3))
    for name in names:
        s3.create_bucket(Bucket=name)
    prefix = names[0][: names[0].index(tag) + len(tag)]
    listed = s3.list_buckets(Prefix=prefix)
    assert [b["Name"] for b in listed["Buckets"]] == names
    assert listed["Prefix"] == prefix
    first = s3.list_buckets(Prefix=prefix, MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    rest = s3.list_buckets(Prefix=prefix, MaxBuckets=2, ContinuationToken=first["ContinuationToken"])
    assert [b["Name"] for b in rest["Buckets"]] == names[2:]
    assert "ContinuationToken" not in rest
    assert s3.list_buckets(Prefix=prefix, BucketRegion="eu-west-3")["Buckets"] == []
