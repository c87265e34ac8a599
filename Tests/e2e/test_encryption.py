"""Encryption at rest (issue 17, points 1-3): SSE-S3, SSE-KMS with the local key store, SSE-C
(over TLS only), bucket default encryption — driven by boto3 and raw HTTP.

The promises checked: a recognisable pattern written encrypted appears nowhere in the
stored bytes (segment files, or RADOS objects in cluster mode); every read of an SSE-C
object needs its key (400 without, 403 with another); ranges decrypt; rename and a copy
that keeps the encryption write no byte; a copy that changes it re-encrypts; fsck of
encrypted objects is clean and finds a flipped byte. The suite's server has a master key
(conftest); the SSE-C tests start their own HTTPS server."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import pathlib
import subprocess
import tempfile

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ResponseStreamingError

from cluster_env import read_cluster_env
from conftest import REGION, TEST_ACCESS_KEY, TEST_SECRET_KEY, clean_environment
from test_fsck import ServerOn, binary, flip_byte, fsck_json, problems
from test_tls import TLSServer, make_certificate

PHRASE = b"stowage-recognisable-%02d-pattern;"


def pattern(tag: int, size: int = 1 << 20) -> bytes:
    unit = PHRASE % tag
    return (unit * (size // len(unit) + 1))[:size]


def needle(tag: int) -> bytes:
    return (PHRASE % tag) * 2


class StoredBytes:
    """Searches what the server stored: its data directory's files, or (cluster mode) the
    RADOS objects written since the snapshot was made."""

    def __init__(self, s3_endpoint=None, directory: pathlib.Path | None = None):
        self.cluster = os.environ.get("STOWAGE_E2E_CLUSTER") if directory is None else None
        if directory is not None:
            self.directory = directory
        elif self.cluster:
            self.env = read_cluster_env(self.cluster)
            self.baseline = self._rados_names()
        else:
            assert s3_endpoint.server is not None, "needs the suite's own server"
            self.directory = s3_endpoint.server.data_dir

    def _rados(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["rados", "-c", self.env["STOWAGE_CEPH_CONF"], "-p", self.env["STOWAGE_RADOS_POOL"], *args],
                              capture_output=True, timeout=120, check=True)

    def _rados_names(self) -> set[str]:
        return set(self._rados("ls").stdout.decode().split())

    def contain(self, wanted: bytes) -> bool:
        if self.cluster:
            with tempfile.TemporaryDirectory() as scratch:
                for name in self._rados_names() - self.baseline:
                    target = pathlib.Path(scratch) / "object"
                    try:
                        self._rados("get", name, str(target))
                    except subprocess.CalledProcessError:
                        continue   # deleted meanwhile
                    if wanted in target.read_bytes():
                        return True
            return False
        for path in self.directory.rglob("*"):
            if path.is_file() and wanted in path.read_bytes():
                return True
        return False


def headers(response) -> dict:
    return response["ResponseMetadata"]["HTTPHeaders"]


# SSE-S3, SSE-KMS and bucket defaults: the suite's server (both modes).

def test_sse_s3_bytes_are_encrypted_at_rest_and_read_back(s3, bucket, s3_endpoint):
    stored = StoredBytes(s3_endpoint)
    plain, secret = pattern(1), pattern(2, 3 << 20)
    s3.put_object(Bucket=bucket, Key="plain", Body=plain)
    put = s3.put_object(Bucket=bucket, Key="secret", Body=secret, ServerSideEncryption="AES256")
    assert put["ServerSideEncryption"] == "AES256"
    assert stored.contain(needle(1)), "the search finds bytes stored in the clear"
    assert not stored.contain(needle(2)), "an SSE-S3 object's pattern is in the stored bytes"
    got = s3.get_object(Bucket=bucket, Key="secret")
    assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == secret
    assert s3.head_object(Bucket=bucket, Key="secret")["ServerSideEncryption"] == "AES256"
    assert "ServerSideEncryption" not in s3.head_object(Bucket=bucket, Key="plain")
    for first, last in [(0, 0), (1048570, 2097160), (5, 3 << 20), (3145700, 3145727)]:
        part = s3.get_object(Bucket=bucket, Key="secret", Range=f"bytes={first}-{last}")["Body"].read()
        assert part == secret[first:last + 1], (first, last)


def test_sse_kms_with_the_key_store(s3, bucket, s3_endpoint, s3_error, tmp_path):
    env = clean_environment(tmp_path)
    env.update(AWS_ACCESS_KEY_ID=s3_endpoint.access_key, AWS_SECRET_ACCESS_KEY=s3_endpoint.secret_key,
               AWS_ENDPOINT_URL=s3_endpoint.url)
    made = subprocess.run([str(binary()), "admin", "kms", "create"], capture_output=True, text=True, env=env, timeout=60)
    assert made.returncode == 0, made.stderr
    key_id = made.stdout.strip()
    listed = subprocess.run([str(binary()), "admin", "kms", "list"], capture_output=True, text=True, env=env, timeout=60)
    assert listed.returncode == 0 and key_id in listed.stdout and "stowage-default" in listed.stdout
    stored = StoredBytes(s3_endpoint)
    body = pattern(3)
    put = s3.put_object(Bucket=bucket, Key="k", Body=body, ServerSideEncryption="aws:kms", SSEKMSKeyId=key_id)
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key_id
    got = s3.get_object(Bucket=bucket, Key="k")
    assert got["SSEKMSKeyId"] == key_id and got["Body"].read() == body
    arn = f"arn:aws:kms:{REGION}:000000000000:key/{key_id}"
    assert s3.put_object(Bucket=bucket, Key="arn", Body=b"x", ServerSideEncryption="aws:kms", SSEKMSKeyId=arn)["SSEKMSKeyId"] == key_id
    assert s3.put_object(Bucket=bucket, Key="d", Body=b"y", ServerSideEncryption="aws:kms")["SSEKMSKeyId"] == "stowage-default"
    assert not stored.contain(needle(3))
    with s3_error(400, "KMS.NotFoundException"):
        s3.put_object(Bucket=bucket, Key="nokey", Body=b"z", ServerSideEncryption="aws:kms", SSEKMSKeyId="no-such-key")
    with s3_error(400, "InvalidArgument"):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"z", ServerSideEncryption="AES256", SSEKMSKeyId=key_id)
    with s3_error(400, "InvalidArgument"):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"z", ServerSideEncryption="DES")
    with s3_error(501, "NotImplemented"):
        s3.put_object(Bucket=bucket, Key="bad", Body=b"z", ServerSideEncryption="aws:kms",
                      SSEKMSEncryptionContext=base64.b64encode(b'{"a":"b"}').decode())
    listing = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert "nokey" not in listing and "bad" not in listing


def test_bucket_default_encryption(s3, bucket, s3_endpoint, s3_error):
    with s3_error(404, "ServerSideEncryptionConfigurationNotFoundError"):
        s3.get_bucket_encryption(Bucket=bucket)
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": False}]})
    rules = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rules[0]["ApplyServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    stored = StoredBytes(s3_endpoint)
    body = pattern(4)
    assert s3.put_object(Bucket=bucket, Key="default", Body=body)["ServerSideEncryption"] == "AES256"
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    assert upload["ServerSideEncryption"] == "AES256"
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=pattern(5, 5 << 20))
    assert part["ServerSideEncryption"] == "AES256"
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    assert done["ServerSideEncryption"] == "AES256"
    assert not stored.contain(needle(4)) and not stored.contain(needle(5))
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == pattern(5, 5 << 20)
    with s3_error(400, "MalformedXML"):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "ROT13"}}]})
    with s3_error(400, "KMS.NotFoundException"):
        s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": "missing"}}]})
    assert s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0][
        "ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256", "a refused configuration changed nothing"
    s3.delete_bucket_encryption(Bucket=bucket)
    with s3_error(404, "ServerSideEncryptionConfigurationNotFoundError"):
        s3.get_bucket_encryption(Bucket=bucket)
    assert "ServerSideEncryption" not in s3.put_object(Bucket=bucket, Key="after", Body=b"x")


def test_rename_and_same_encryption_copy_write_no_byte(s3, bucket, segment_files):
    body = os.urandom(8 << 20)
    s3.put_object(Bucket=bucket, Key="tmp/ckpt", Body=body, ServerSideEncryption="AES256")
    before = segment_files()
    s3.rename_object(Bucket=bucket, Key="final/ckpt", RenameSource="tmp/ckpt")
    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource=f"{bucket}/final/ckpt")
    assert headers(copied)["x-amz-server-side-encryption"] == "AES256"
    copied = s3.copy_object(Bucket=bucket, Key="copy2", CopySource=f"{bucket}/final/ckpt", ServerSideEncryption="AES256")
    assert segment_files() == before, "a rename or a copy that keeps SSE-S3 wrote bytes"
    for key in ("final/ckpt", "copy", "copy2"):
        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["ServerSideEncryption"] == "AES256" and got["Body"].read() == body, key
    # A copy to another encryption re-encrypts: bytes are written.
    s3.copy_object(Bucket=bucket, Key="plain", CopySource=f"{bucket}/copy", MetadataDirective="COPY")
    assert s3.head_object(Bucket=bucket, Key="plain")["ServerSideEncryption"] == "AES256", "a copy keeps SSE-S3"


def test_sse_without_a_master_key_is_refused(tmp_path):
    server = ServerOn(tmp_path / "nokey", tmp_path / "data")
    server.start()
    try:
        server.wait_ready()
        s3 = server.client()
        s3.create_bucket(Bucket="nokey")
        for kwargs in ({"ServerSideEncryption": "AES256"}, {"ServerSideEncryption": "aws:kms"}):
            with pytest.raises(s3.exceptions.ClientError) as refused:
                s3.put_object(Bucket="nokey", Key="k", Body=b"x", **kwargs)
            assert refused.value.response["Error"]["Code"] == "NotImplemented"
            assert "master key" in refused.value.response["Error"]["Message"]
        with pytest.raises(s3.exceptions.ClientError) as refused:
            s3.put_bucket_encryption(Bucket="nokey", ServerSideEncryptionConfiguration={
                "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})
        assert refused.value.response["Error"]["Code"] == "NotImplemented"
        assert "Contents" not in s3.list_objects_v2(Bucket="nokey")
        # SSE-C over plain HTTP: refused before anything is read (S3 requires TLS for it).
        with pytest.raises(s3.exceptions.ClientError) as refused:
            s3.put_object(Bucket="nokey", Key="c", Body=b"x", SSECustomerAlgorithm="AES256", SSECustomerKey=os.urandom(32))
        assert refused.value.response["Error"]["Code"] == "InvalidRequest"
        assert "secure connection" in refused.value.response["Error"]["Message"]
    finally:
        server.stop()


# SSE-C: its own HTTPS server (the keys travel only over TLS), and fsck.

@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sse")
    certificate, key = make_certificate(directory, "sse")
    master = directory / "master.key"
    master.write_text(base64.b64encode(os.urandom(32)).decode())
    server = TLSServer(directory / "server", directory / "data", "--tls-cert", str(certificate), "--tls-key", str(key),
                       "--master-key-file", str(master), "--compaction-interval", "0", "--durability", "relaxed")
    server.start()
    server.wait_ready()
    server.url = f"https://127.0.0.1:{server.port}"
    server.ca = certificate
    server.master = master
    try:
        yield server
    finally:
        server.stop()


def tls_client(server):
    return boto3.session.Session().client(
        "s3", endpoint_url=server.url, aws_access_key_id=TEST_ACCESS_KEY, aws_secret_access_key=TEST_SECRET_KEY,
        region_name=REGION, verify=str(server.ca), config=Config(s3={"addressing_style": "path"}))


def customer(key: bytes, prefix: str = "SSECustomer") -> dict:
    return {prefix + "Algorithm": "AES256", prefix + "Key": key}


def test_sse_c_needs_its_key_on_every_read(secure, s3_error):
    s3 = tls_client(secure)
    s3.create_bucket(Bucket="ssec")
    key, other = os.urandom(32), os.urandom(32)
    body = pattern(6, 2 << 20)
    put = s3.put_object(Bucket="ssec", Key="c", Body=body, **customer(key))
    md5 = base64.b64encode(hashlib.md5(key).digest()).decode()
    assert put["SSECustomerAlgorithm"] == "AES256" and put["SSECustomerKeyMD5"] == md5
    assert "ServerSideEncryption" not in put
    assert not StoredBytes(directory=secure.data_dir).contain(needle(6))
    with s3_error(400, "InvalidRequest"):
        s3.get_object(Bucket="ssec", Key="c")
    with s3_error(400, "400"):
        s3.head_object(Bucket="ssec", Key="c")
    with s3_error(403, "AccessDenied"):
        s3.get_object(Bucket="ssec", Key="c", **customer(other))
    with s3_error(403, "403"):
        s3.head_object(Bucket="ssec", Key="c", **customer(other))
    got = s3.get_object(Bucket="ssec", Key="c", **customer(key))
    assert got["SSECustomerKeyMD5"] == md5 and got["Body"].read() == body
    assert s3.head_object(Bucket="ssec", Key="c", **customer(key))["ContentLength"] == len(body)
    ranged = s3.get_object(Bucket="ssec", Key="c", Range="bytes=1048000-1049000", **customer(key))
    assert ranged["Body"].read() == body[1048000:1049001]
    # botocore leaves this operation's key unencoded: send it as S3 expects it.
    attributes = s3.get_object_attributes(Bucket="ssec", Key="c", ObjectAttributes=["ObjectSize"],
                                          SSECustomerAlgorithm="AES256", SSECustomerKey=base64.b64encode(key).decode(),
                                          SSECustomerKeyMD5=md5)
    assert attributes["ObjectSize"] == len(body)
    # The key's MD5 must match the key; the key must be 256 bits; the algorithm AES256.
    raw = {"x-amz-server-side-encryption-customer-algorithm": "AES256",
           "x-amz-server-side-encryption-customer-key": base64.b64encode(key).decode(),
           "x-amz-server-side-encryption-customer-key-MD5": base64.b64encode(hashlib.md5(other).digest()).decode()}
    assert signed_get(secure, "/ssec/c", raw).status_code == 400
    raw["x-amz-server-side-encryption-customer-key"] = base64.b64encode(os.urandom(16)).decode()
    assert signed_get(secure, "/ssec/c", raw).status_code == 400
    # A key sent for an object stored without one is refused too.
    s3.put_object(Bucket="ssec", Key="plain", Body=b"plain")
    with s3_error(400, "InvalidRequest"):
        s3.get_object(Bucket="ssec", Key="plain", **customer(key))


def signed_get(server, path: str, extra: dict) -> requests.Response:
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    request = AWSRequest(method="GET", url=server.url + path, headers=dict(extra))
    S3SigV4Auth(Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY), "s3", REGION).add_auth(request)
    return requests.get(server.url + path, headers=dict(request.headers), verify=str(server.ca), timeout=30)


def test_sse_c_multipart_copy_and_rename(secure, s3_error):
    s3 = tls_client(secure)
    s3.create_bucket(Bucket="ssecmp")
    key, other = os.urandom(32), os.urandom(32)
    parts = [os.urandom(5 << 20), os.urandom(1 << 20)]
    upload = s3.create_multipart_upload(Bucket="ssecmp", Key="mp", **customer(key))["UploadId"]
    with s3_error(400, "InvalidRequest"):
        s3.upload_part(Bucket="ssecmp", Key="mp", UploadId=upload, PartNumber=1, Body=parts[0])
    with s3_error(400, "InvalidArgument"):
        s3.upload_part(Bucket="ssecmp", Key="mp", UploadId=upload, PartNumber=1, Body=parts[0], **customer(other))
    etags = [s3.upload_part(Bucket="ssecmp", Key="mp", UploadId=upload, PartNumber=n + 1, Body=part, **customer(key))["ETag"]
             for n, part in enumerate(parts)]
    s3.complete_multipart_upload(Bucket="ssecmp", Key="mp", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": etag} for n, etag in enumerate(etags)]})
    whole = b"".join(parts)
    assert s3.get_object(Bucket="ssecmp", Key="mp", **customer(key))["Body"].read() == whole
    assert s3.get_object(Bucket="ssecmp", Key="mp", PartNumber=2, **customer(key))["Body"].read() == parts[1]
    # Copy: the source's key is needed; the copy under another key re-encrypts it.
    with s3_error(400, "InvalidRequest"):
        s3.copy_object(Bucket="ssecmp", Key="copy", CopySource="ssecmp/mp", **customer(other))
    s3.copy_object(Bucket="ssecmp", Key="copy", CopySource="ssecmp/mp", **customer(other),
                   **customer(key, "CopySourceSSECustomer"))
    assert s3.get_object(Bucket="ssecmp", Key="copy", **customer(other))["Body"].read() == whole
    with s3_error(403, "403"):
        s3.head_object(Bucket="ssecmp", Key="copy", **customer(key))
    # To SSE-S3 and to no encryption at all.
    s3.copy_object(Bucket="ssecmp", Key="s3", CopySource="ssecmp/mp", ServerSideEncryption="AES256",
                   **customer(key, "CopySourceSSECustomer"))
    assert s3.get_object(Bucket="ssecmp", Key="s3")["Body"].read() == whole
    s3.copy_object(Bucket="ssecmp", Key="clear", CopySource="ssecmp/mp", **customer(key, "CopySourceSSECustomer"))
    clear = s3.get_object(Bucket="ssecmp", Key="clear")
    assert "ServerSideEncryption" not in clear and clear["Body"].read() == whole
    # UploadPartCopy from the SSE-C object into a plain upload.
    upload = s3.create_multipart_upload(Bucket="ssecmp", Key="assembled")["UploadId"]
    copied = s3.upload_part_copy(Bucket="ssecmp", Key="assembled", UploadId=upload, PartNumber=1, CopySource="ssecmp/mp",
                                 CopySourceRange=f"bytes=0-{(5 << 20) - 1}", **customer(key, "CopySourceSSECustomer"))
    s3.complete_multipart_upload(Bucket="ssecmp", Key="assembled", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": copied["CopyPartResult"]["ETag"]}]})
    assert s3.get_object(Bucket="ssecmp", Key="assembled")["Body"].read() == parts[0]
    # Rename keeps the key's protection and moves no byte.
    s3.rename_object(Bucket="ssecmp", Key="renamed", RenameSource="mp")
    assert s3.get_object(Bucket="ssecmp", Key="renamed", **customer(key))["Body"].read() == whole
    with s3_error(400, "400"):
        s3.head_object(Bucket="ssecmp", Key="renamed")


def test_fsck_verifies_encrypted_objects_without_keys(tmp_path):
    """fsck needs no key: each chunk's XXH3 is of the stored (encrypted) bytes."""
    certificate, key = make_certificate(tmp_path, "fsck")
    master = tmp_path / "master.key"
    master.write_text(os.urandom(32).hex())
    data = tmp_path / "data"
    server = TLSServer(tmp_path / "server", data, "--tls-cert", str(certificate), "--tls-key", str(key),
                       "--master-key-file", str(master), "--compaction-interval", "0")
    server.start()
    try:
        server.wait_ready()
        server.url, server.ca = f"https://127.0.0.1:{server.port}", certificate
        s3 = tls_client(server)
        s3.create_bucket(Bucket="fsck")
        customer_key = os.urandom(32)
        victim = os.urandom(3 << 20)
        s3.put_object(Bucket="fsck", Key="victim", Body=victim, ServerSideEncryption="AES256")   # segment 1, offset 0
        s3.put_object(Bucket="fsck", Key="sse-c", Body=os.urandom(1 << 20), **customer(customer_key))
        s3.put_object(Bucket="fsck", Key="kms", Body=os.urandom(100_000), ServerSideEncryption="aws:kms")
        report = fsck_json("--data", data, status=0)
        assert report["report"]["clean"] is True
        assert report["report"]["statistics"]["objects"] == 3
        flip_byte(data, 1, (1 << 20) + 12345)
        report = fsck_json("--data", data, status=1)
        found = problems(report["report"])
        assert [f["kind"] for f in found] == ["chunkMismatch"], found
        # The damaged chunk is the second: the answer has begun, so it is cut short.
        with pytest.raises(ResponseStreamingError):
            s3.get_object(Bucket="fsck", Key="victim")["Body"].read()
        # The chunks before the damage still read and decrypt.
        assert s3.get_object(Bucket="fsck", Key="victim", Range="bytes=0-1000")["Body"].read() == victim[:1001]
    finally:
        server.stop()


@contextlib.contextmanager
def serving(workdir: pathlib.Path, data: pathlib.Path, master_key: pathlib.Path):
    """A plain-HTTP server on `data` with `master_key`; yields its boto3 client."""
    server = ServerOn(workdir, data, "--master-key-file", str(master_key))
    server.start()
    try:
        server.wait_ready()
        yield server.client()
    finally:
        server.stop()


def test_another_master_key_cannot_read(tmp_path):
    """The master key is the operator's: a server started with another one refuses to
    serve SSE-S3 objects rather than return garbage."""
    data = tmp_path / "data"
    first, second = tmp_path / "first.key", tmp_path / "second.key"
    first.write_text(os.urandom(32).hex())
    second.write_text(os.urandom(32).hex())
    with serving(tmp_path / "a", data, first) as s3:
        s3.create_bucket(Bucket="mkey")
        s3.put_object(Bucket="mkey", Key="k", Body=b"sealed", ServerSideEncryption="AES256")
    with serving(tmp_path / "b", data, second) as s3:
        with pytest.raises(s3.exceptions.ClientError) as failed:
            s3.get_object(Bucket="mkey", Key="k")
        assert failed.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    with serving(tmp_path / "c", data, first) as s3:
        assert s3.get_object(Bucket="mkey", Key="k")["Body"].read() == b"sealed"
