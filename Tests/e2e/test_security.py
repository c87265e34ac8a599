"""Security (issue 7): every route refuses unsigned and badly signed requests — SigV4 and
SigV2, in the header and in an expired presigned URL — with 403 and changes nothing;
expired presigned URLs are refused for writes too; keys that look like paths
(`../../etc/passwd`) are just keys and never reach the filesystem; the secret key never
appears in the server's log, even at trace level.

test_auth.py already covers presigned GET/PUT, expiry of a presigned GET, tampering, the
wrong secret and unknown keys on a few operations, anonymous GET/PUT/DELETE, clock skew;
this file covers the rest of the routes and the filesystem and log."""

import datetime
import hashlib
import json
import os
import pathlib
import subprocess
import time
import uuid
from urllib.parse import quote

import pytest
import requests
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from conftest import TEST_SECRET_KEY
from test_fsck import ServerOn

BODY = b"security test body"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


# ---------------------------------------------------------------------------
# Every route requires a valid signature
# ---------------------------------------------------------------------------


@pytest.fixture
def populated(s3, bucket):
    """A bucket with key `k`, a multipart upload `mp` holding part 1, and CORS rules."""
    s3.put_object(Bucket=bucket, Key="k", Body=BODY, Metadata={"m": "1"})
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": CORS_RULES})
    s3.put_bucket_policy(Bucket=bucket, Policy=policy_of(bucket))
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration=ENCRYPTION)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"part one")
    yield bucket, upload, part["ETag"]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload)


CORS_RULES = [{"AllowedOrigins": ["https://app.example.com"], "AllowedMethods": ["GET"]}]
ENCRYPTION = {"Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]}


def policy_of(bucket: str) -> str:
    """Grants one user that does not exist a read: nothing any request here may use."""
    return json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "nobody", "Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::000000000000:user/nobody"},
         "Action": "s3:GetObject", "Resource": f"arn:aws:s3:::{bucket}/*"}]})


@pytest.fixture(scope="module")
def intruder(s3_endpoint, tmp_path_factory):
    """Another user, with a valid key of its own: (access key id, secret)."""
    from test_users import new_user
    _, access, secret = new_user(s3_endpoint, tmp_path_factory.mktemp("intruder"))
    return access, secret


def routes(bucket, upload, part_etag):
    complete = (f"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{part_etag}</ETag>"
                "</Part></CompleteMultipartUpload>").encode()
    delete = b"<Delete><Object><Key>k</Key></Object></Delete>"
    encryption = (b"<ServerSideEncryptionConfiguration><Rule><ApplyServerSideEncryptionByDefault><SSEAlgorithm>aws:kms"
                  b"</SSEAlgorithm></ApplyServerSideEncryptionByDefault></Rule></ServerSideEncryptionConfiguration>")
    prefix = b"<RenamePrefix><SourcePrefix>k</SourcePrefix><DestinationPrefix>moved/</DestinationPrefix></RenamePrefix>"
    ownership = (b"<OwnershipControls><Rule><ObjectOwnership>ObjectWriter</ObjectOwnership></Rule>"
                 b"</OwnershipControls>")
    md5 = lambda b: {"Content-MD5": __import__("base64").b64encode(hashlib.md5(b).digest()).decode()}
    return {
        "ListBuckets": ("GET", "/", "", {}, b""),
        "CreateBucket": ("PUT", f"/{bucket}-intruder", "", {}, b""),
        "HeadBucket": ("HEAD", f"/{bucket}", "", {}, b""),
        "ListObjectsV2": ("GET", f"/{bucket}", "list-type=2", {}, b""),
        "ListObjects": ("GET", f"/{bucket}", "", {}, b""),
        "GetBucketLocation": ("GET", f"/{bucket}", "location", {}, b""),
        "GetBucketVersioning": ("GET", f"/{bucket}", "versioning", {}, b""),
        "DeleteBucket": ("DELETE", f"/{bucket}", "", {}, b""),
        "GetObject": ("GET", f"/{bucket}/k", "", {}, b""),
        "GetObjectRange": ("GET", f"/{bucket}/k", "", {"Range": "bytes=0-3"}, b""),
        "HeadObject": ("HEAD", f"/{bucket}/k", "", {}, b""),
        "PutObject": ("PUT", f"/{bucket}/k", "", {}, b"overwritten!"),
        "PutObjectNew": ("PUT", f"/{bucket}/intruder", "", {}, b"new"),
        "DeleteObject": ("DELETE", f"/{bucket}/k", "", {}, b""),
        "RenameObject": ("PUT", f"/{bucket}/renamed", "renameObject", {"x-amz-rename-source": "k"}, b""),
        "CopyObject": ("PUT", f"/{bucket}/copied", "", {"x-amz-copy-source": f"/{bucket}/k"}, b""),
        "CreateMultipartUpload": ("POST", f"/{bucket}/mp2", "uploads", {}, b""),
        "UploadPart": ("PUT", f"/{bucket}/mp", f"partNumber=1&uploadId={upload}", {}, b"replaced part"),
        "UploadPartCopy": ("PUT", f"/{bucket}/mp", f"partNumber=2&uploadId={upload}",
                           {"x-amz-copy-source": f"/{bucket}/k"}, b""),
        "ListParts": ("GET", f"/{bucket}/mp", f"uploadId={upload}", {}, b""),
        "CompleteMultipartUpload": ("POST", f"/{bucket}/mp", f"uploadId={upload}", {}, complete),
        "AbortMultipartUpload": ("DELETE", f"/{bucket}/mp", f"uploadId={upload}", {}, b""),
        "ListMultipartUploads": ("GET", f"/{bucket}", "uploads", {}, b""),
        "DeleteObjects": ("POST", f"/{bucket}", "delete", md5(delete), delete),
        "RenamePrefix": ("POST", f"/{bucket}", "renamePrefix", {}, prefix),
        "PutBucketVersioning": ("PUT", f"/{bucket}", "versioning", {},
                                b"<VersioningConfiguration><Status>Enabled</Status></VersioningConfiguration>"),
        "GetBucketCors": ("GET", f"/{bucket}", "cors", {"Origin": "https://app.example.com"}, b""),
        "PutBucketCors": ("PUT", f"/{bucket}", "cors", {"Origin": "https://app.example.com"},
                          b"<CORSConfiguration><CORSRule><AllowedOrigin>*</AllowedOrigin>"
                          b"<AllowedMethod>PUT</AllowedMethod></CORSRule></CORSConfiguration>"),
        "DeleteBucketCors": ("DELETE", f"/{bucket}", "cors", {}, b""),
        "PutBucketPolicy": ("PUT", f"/{bucket}", "policy", {}, json.dumps({"Statement": [
            {"Effect": "Allow", "Principal": "*", "Action": "s3:*", "Resource": f"arn:aws:s3:::{bucket}/*"}]}).encode()),
        "GetBucketPolicy": ("GET", f"/{bucket}", "policy", {}, b""),
        "GetBucketPolicyStatus": ("GET", f"/{bucket}", "policyStatus", {}, b""),
        "DeleteBucketPolicy": ("DELETE", f"/{bucket}", "policy", {}, b""),
        "GetBucketEncryption": ("GET", f"/{bucket}", "encryption", {}, b""),
        "PutBucketEncryption": ("PUT", f"/{bucket}", "encryption", md5(encryption), encryption),
        "DeleteBucketEncryption": ("DELETE", f"/{bucket}", "encryption", {}, b""),
        "GetBucketAcl": ("GET", f"/{bucket}", "acl", {}, b""),
        "PutBucketAcl": ("PUT", f"/{bucket}", "acl", {"x-amz-acl": "public-read-write"}, b""),
        "GetObjectAcl": ("GET", f"/{bucket}/k", "acl", {}, b""),
        "PutObjectAcl": ("PUT", f"/{bucket}/k", "acl", {"x-amz-grant-read": f'uri="{ALL_USERS}"'}, b""),
        "GetBucketOwnershipControls": ("GET", f"/{bucket}", "ownershipControls", {}, b""),
        "PutBucketOwnershipControls": ("PUT", f"/{bucket}", "ownershipControls", md5(ownership), ownership),
        "DeleteBucketOwnershipControls": ("DELETE", f"/{bucket}", "ownershipControls", {}, b""),
    }


ROUTE_NAMES = sorted(routes("b", "u", "e"))


def assert_nothing_changed(s3, bucket, upload):
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["k"]
    parts = s3.list_parts(Bucket=bucket, Key="mp", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, len(b"part one"))]
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp", upload)]
    assert f"{bucket}-intruder" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"] == CORS_RULES
    assert s3.get_bucket_policy(Bucket=bucket)["Policy"] == policy_of(bucket)
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"] == ENCRYPTION["Rules"]
    owner_only = [{"Grantee": {"Type": "CanonicalUser", "ID": "stowage", "DisplayName": "stowage"}, "Permission": "FULL_CONTROL"}]
    assert s3.get_bucket_acl(Bucket=bucket)["Grants"] == owner_only
    assert s3.get_object_acl(Bucket=bucket, Key="k")["Grants"] == owner_only
    try:
        s3.get_bucket_ownership_controls(Bucket=bucket)
        raise AssertionError("ownership controls appeared")
    except s3.exceptions.ClientError as error:
        assert error.response["Error"]["Code"] == "OwnershipControlsNotFoundError"


def sigv2_request(endpoint, method, path, query, headers, secret_key, expires_in=None):
    """A request signed by botocore's SigV2 signers: the Authorization header, or with
    `expires_in` a presigned URL (its x-amz-* headers moved into the query, as botocore does)."""
    url = f"{endpoint.url}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    credentials = Credentials(endpoint.access_key, secret_key)
    signer = HmacV1Auth(credentials) if expires_in is None else HmacV1QueryAuth(credentials, expires=expires_in)
    signer.add_auth(request)
    return request.url, dict(request.headers.items())


WRONG_SECRET = TEST_SECRET_KEY[:-1] + ("x" if TEST_SECRET_KEY[-1] != "x" else "y")


@pytest.mark.parametrize("route", ROUTE_NAMES)
@pytest.mark.parametrize("how", ["unsigned", "wrong-secret", "truncated-signature",
                                 "sigv2-wrong-secret", "sigv2-truncated-signature", "sigv2-expired-url", "wrong-user"])
def test_every_route_refuses_requests_without_a_valid_signature(s3, raw, error_xml, populated, route, how, intruder):
    bucket, upload, part_etag = populated
    method, path, query, headers, body = routes(bucket, upload, part_etag)[route]
    if how == "wrong-user" and route in ("ListBuckets", "CreateBucket"):
        # Any user lists its own buckets and makes buckets of its own: none of the owner's.
        response = raw.request(method, path, query=query, headers=headers, body=body,
                               access_key=intruder[0], secret_key=intruder[1])
        assert response.status_code == 200, response.text
        if route == "CreateBucket":
            owned = raw.request("GET", "/", access_key=intruder[0], secret_key=intruder[1]).text
            assert f"{bucket}-intruder" in owned and bucket + "<" not in owned
            assert raw.request("DELETE", path, access_key=intruder[0], secret_key=intruder[1]).status_code == 204
        else:
            assert f"<Name>{bucket}</Name>" not in response.text
        assert_nothing_changed(s3, bucket, upload)
        return
    if how == "wrong-user":
        response = raw.request(method, path, query=query, headers=headers, body=body,
                               access_key=intruder[0], secret_key=intruder[1])
        expected = "AccessDenied"
    elif how.startswith("sigv2-"):
        if how == "sigv2-expired-url":
            # Signed with the right secret, expired ten seconds ago.
            url, signed = sigv2_request(raw.endpoint, method, path, query, headers, TEST_SECRET_KEY, expires_in=-10)
            expected = "AccessDenied"
        else:
            url, signed = sigv2_request(raw.endpoint, method, path, query, headers,
                                        WRONG_SECRET if how == "sigv2-wrong-secret" else TEST_SECRET_KEY)
            if how == "sigv2-truncated-signature":
                signed["Authorization"] = signed["Authorization"][:-6]
            expected = "SignatureDoesNotMatch"
        response = requests.request(method, url, headers=signed, data=body, timeout=30)
    elif how == "unsigned":
        response = raw.request(method, path, query=query, headers=headers, body=body, sign=False)
        expected = "AccessDenied"
    elif how == "wrong-secret":
        response = raw.request(method, path, query=query, headers=headers, body=body, secret_key=WRONG_SECRET)
        expected = "SignatureDoesNotMatch"
    else:
        signed = raw.signed_headers(method, f"{raw.endpoint.url}{path}" + (f"?{query}" if query else ""),
                                    headers, body, raw.endpoint.access_key, raw.endpoint.secret_key, None)
        signed["Authorization"] = signed["Authorization"][:-8]
        response = requests.request(method, f"{raw.endpoint.url}{path}" + (f"?{query}" if query else ""),
                                    headers=signed, data=body, timeout=30)
        expected = None  # a malformed Authorization may be AccessDenied or SignatureDoesNotMatch
    assert response.status_code == 403, f"{how} {route}: {response.status_code} {response.text[:400]}"
    if method != "HEAD":
        code = error_xml(response.content)["Code"]
        if expected:
            assert code == expected, f"{how} {route}: {code}"
        else:
            assert code in ("AccessDenied", "SignatureDoesNotMatch", "AuthorizationHeaderMalformed"), code
    assert_nothing_changed(s3, bucket, upload)


# ---------------------------------------------------------------------------
# Presigned URLs past their expiry, for writes
# ---------------------------------------------------------------------------


OPERATIONS = {"put_object": "PUT", "delete_object": "DELETE", "get_object": "GET", "head_object": "HEAD"}


def test_expired_presigned_urls_are_refused_and_change_nothing(s3, error_xml, bucket):
    """One-second URLs for PUT, DELETE, GET and HEAD, used after 2 s: 403 AccessDenied
    saying it expired, nothing changed; the same URLs with 300 s work."""
    s3.put_object(Bucket=bucket, Key="k", Body=BODY)
    urls = {op: (s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=1),
                 s3.generate_presigned_url(op, Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300))
            for op in OPERATIONS}
    time.sleep(2.2)
    for operation, (expired, _) in urls.items():
        method = OPERATIONS[operation]
        response = requests.request(method, expired, data=b"replaced" if method == "PUT" else None, timeout=30)
        assert response.status_code == 403, f"{operation}: {response.status_code} {response.text}"
        if method != "HEAD":
            error = error_xml(response.content)
            assert error["Code"] == "AccessDenied", (operation, error)
            assert "expired" in error["Message"].lower(), (operation, error)
        assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == BODY, operation
    # Within their lifetime the same requests work: the refusals were the expiry.
    for operation in ("get_object", "head_object", "put_object", "delete_object"):
        method = OPERATIONS[operation]
        ok = requests.request(method, urls[operation][1], data=b"replaced" if method == "PUT" else None,
                              timeout=30)
        assert ok.status_code in (200, 204), f"{operation}: {ok.status_code} {ok.text}"
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# ---------------------------------------------------------------------------
# Keys that look like paths, and what reaches the log
# ---------------------------------------------------------------------------


PATHLIKE_KEYS = ["../../etc/passwd", "..", "../..", ".", "./x", "/abs", "//double", "a/../../b",
                 "a/./b", "..\\..\\windows", "segments/000000000001.seg", "../index/data.mdb",
                 "stowage.lock", "%2e%2e/%2e%2e/encoded", "\u2025/unicode-two-dots"]


def tree(root: pathlib.Path) -> set:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


class TraceServer(ServerOn):
    """A server of its own with --log-level trace, so the log shows everything it logs."""

    def start(self):
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--data", str(self.data_dir), "--address", "127.0.0.1",
             "--port", str(self.port), "--access-key", "STOWAGESECURITYKEY01",
             "--secret-key", SECRET, "--log-level", "trace"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def client(self, secret=None, access="STOWAGESECURITYKEY01"):
        import boto3
        from conftest import REGION, _client_config
        return boto3.session.Session().client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.port}", aws_access_key_id=access,
            aws_secret_access_key=secret or SECRET, region_name=REGION, config=_client_config())


SECRET = "Sup3r/Secret+Value-" + uuid.uuid4().hex


def test_pathlike_keys_are_keys_and_secrets_stay_out_of_the_log(tmp_path):
    outer = tmp_path / "outer"
    server = TraceServer(outer / "server", outer / "data")
    etc_passwd = pathlib.Path("/etc/passwd").stat()
    before = tree(tmp_path)
    server.start()
    try:
        server.wait_ready()
        s3 = server.client()
        s3.create_bucket(Bucket="paths")
        for i, key in enumerate(PATHLIKE_KEYS):
            data = f"object {i} named {key}".encode()
            s3.put_object(Bucket="paths", Key=key, Body=data)
            assert s3.get_object(Bucket="paths", Key=key)["Body"].read() == data, key
            s3.copy_object(Bucket="paths", Key=key + ".copy", CopySource={"Bucket": "paths", "Key": key})
            # The rename source is percent-decoded and loses one leading "/" (S3-SEMANTICS.md,
            # "Source format"): AWS's `/key` form, encoded, names any key exactly.
            s3.rename_object(Bucket="paths", Key=key + ".renamed", RenameSource="/" + quote(key + ".copy"))
        listed = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="paths")["Contents"])
        assert listed == sorted(PATHLIKE_KEYS + [k + ".renamed" for k in PATHLIKE_KEYS]), listed
        for i, key in enumerate(PATHLIKE_KEYS):
            assert s3.get_object(Bucket="paths", Key=key + ".renamed")["Body"].read() == \
                f"object {i} named {key}".encode(), key

        # Failures too: a wrong secret, an unknown key, an expired presigned URL, a bad one.
        from botocore.exceptions import ClientError
        for client in (server.client(secret=SECRET + "x"), server.client(access="AKIDNOBODY0000000000")):
            with pytest.raises(ClientError):
                client.put_object(Bucket="paths", Key="../../etc/shadow", Body=b"x")
        url = s3.generate_presigned_url("get_object", Params={"Bucket": "paths", "Key": ".."}, ExpiresIn=1)
        time.sleep(1.5)
        assert requests.get(url, timeout=30).status_code == 403
        assert requests.get(url.replace("X-Amz-Signature=", "X-Amz-Signature=0"), timeout=30).status_code == 403
        s3.delete_object(Bucket="paths", Key="../../etc/passwd")
        assert "../../etc/passwd" not in [o["Key"] for o in s3.list_objects_v2(Bucket="paths")["Contents"]]
        assert server.proc.poll() is None
    finally:
        status, killed = server.stop()
    assert status == 0 and not killed, server.log_tail()

    # Nothing was created outside the data directory (beside the server's own log)...
    created = {p for p in tree(tmp_path) - before if p != "outer/data" and not p.startswith("outer/data/")}
    assert created == {"outer/server/stowage.log"}, created
    assert pathlib.Path("/etc/passwd").stat().st_mtime_ns == etc_passwd.st_mtime_ns
    assert not pathlib.Path("/etc/shadow").exists() or pathlib.Path("/etc/shadow").stat().st_size > 1
    # ...and inside it, only the engine's own files: no file is named after a key.
    inside = tree(outer / "data")
    allowed = {"stowage.lock", "index", "index/data.mdb", "index/lock.mdb", "segments"}
    strays = {p for p in inside if p not in allowed and not (p.startswith("segments/") and p.endswith(".seg"))}
    assert not strays, strays
    # The log: written (trace level), and without the secret anywhere.
    log = server.log_path.read_bytes()
    assert b"/paths" in log and b"SignatureDoesNotMatch" in log, "requests were not logged"
    assert SECRET.encode() not in log, "the secret key appears in the server log"
    assert SECRET.encode().hex().encode() not in log.lower()
    lines = log.count(b"\n")
    print(f"trace log: {len(log)} bytes, {lines} lines, secret absent")
