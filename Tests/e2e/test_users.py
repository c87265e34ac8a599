"""Users and access keys (issue 16, point 1, and the owner rule of point 2): made with
`stowage admin user|key` over the signed admin API; each user owns the buckets it creates
and is refused (403, nothing changed) on every other — the administrator (the server's
own credentials) may do everything; secrets are stored sealed and never logged."""

from __future__ import annotations

import os
import subprocess
import time
import uuid

import boto3
import pytest
import requests
from botocore.config import Config

from conftest import REGION, TEST_ACCESS_KEY, TEST_SECRET_KEY, _client_config, clean_environment
from test_fsck import ServerOn, binary


class Server:
    """Where `stowage admin` goes, and the administrator's credentials there."""

    def __init__(self, url: str, access_key: str = TEST_ACCESS_KEY, secret_key: str = TEST_SECRET_KEY):
        self.url, self.access_key, self.secret_key = url, access_key, secret_key


def admin(server, tmp_path, *args: str, access=None, secret=None) -> subprocess.CompletedProcess:
    env = clean_environment(tmp_path)
    env.update(AWS_ACCESS_KEY_ID=access or server.access_key, AWS_SECRET_ACCESS_KEY=secret or server.secret_key,
               AWS_ENDPOINT_URL=server.url)
    return subprocess.run([str(binary()), "admin", *args], capture_output=True, text=True, env=env, timeout=60)


def client(endpoint_url: str, access: str, secret: str):
    return boto3.session.Session().client("s3", endpoint_url=endpoint_url, aws_access_key_id=access,
                                          aws_secret_access_key=secret, region_name=REGION, config=_client_config())


def new_user(server, tmp_path) -> tuple[str, str, str]:
    """A fresh user and its key: (name, access key id, secret)."""
    name = "u-" + uuid.uuid4().hex[:10]
    made = admin(server, tmp_path, "user", "create", name)
    assert made.returncode == 0, made.stderr
    key = admin(server, tmp_path, "key", "create", name)
    assert key.returncode == 0, key.stderr
    access, secret = key.stdout.split()
    return name, access, secret


def code_of(call) -> tuple[int, str]:
    try:
        call()
    except Exception as error:   # botocore ClientError
        response = error.response
        return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]
    return 200, "ok"


def test_a_second_user_is_refused_on_the_first_users_bucket(s3_endpoint, s3, tmp_path):
    url = s3_endpoint.url
    alice_name, *alice_key = new_user(s3_endpoint, tmp_path)
    bob_name, *bob_key = new_user(s3_endpoint, tmp_path)
    alice, bob = client(url, *alice_key), client(url, *bob_key)
    bucket = "alice-" + uuid.uuid4().hex[:12]
    alice.create_bucket(Bucket=bucket)
    alice.put_object(Bucket=bucket, Key="data", Body=b"alice's")
    bob_bucket = "bob-" + uuid.uuid4().hex[:12]
    bob.create_bucket(Bucket=bob_bucket)
    refused = {
        "GetObject": lambda: bob.get_object(Bucket=bucket, Key="data"),
        "HeadObject": lambda: bob.head_object(Bucket=bucket, Key="data"),
        "PutObject": lambda: bob.put_object(Bucket=bucket, Key="data", Body=b"bob's"),
        "DeleteObject": lambda: bob.delete_object(Bucket=bucket, Key="data"),
        "ListObjectsV2": lambda: bob.list_objects_v2(Bucket=bucket),
        "HeadBucket": lambda: bob.head_bucket(Bucket=bucket),
        "DeleteBucket": lambda: bob.delete_bucket(Bucket=bucket),
        "PutBucketVersioning": lambda: bob.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"}),
        "RenameObject": lambda: bob.rename_object(Bucket=bucket, Key="moved", RenameSource="data"),
        "CopyObject from it": lambda: bob.copy_object(Bucket=bob_bucket, Key="stolen", CopySource={"Bucket": bucket, "Key": "data"}),
        "CopyObject into it": lambda: bob.copy_object(Bucket=bucket, Key="planted", CopySource={"Bucket": bob_bucket, "Key": "x"}),
        "CreateMultipartUpload": lambda: bob.create_multipart_upload(Bucket=bucket, Key="mp"),
    }
    for name, call in refused.items():
        status, code = code_of(call)
        assert status == 403 and code in ("AccessDenied", "403"), (name, status, code)
    assert code_of(lambda: bob.create_bucket(Bucket=bucket)) == (409, "BucketAlreadyExists")
    # Nothing changed; alice and the administrator still see it all.
    assert alice.get_object(Bucket=bucket, Key="data")["Body"].read() == b"alice's"
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=bucket)["Contents"]] == ["data"]
    assert s3.get_object(Bucket=bucket, Key="data")["Body"].read() == b"alice's"
    assert "Contents" not in bob.list_objects_v2(Bucket=bob_bucket)
    # Each user lists its own buckets; the administrator every one.
    assert [b["Name"] for b in alice.list_buckets()["Buckets"]] == [bucket]
    assert [b["Name"] for b in bob.list_buckets()["Buckets"]] == [bob_bucket]
    every = {b["Name"] for b in s3.list_buckets()["Buckets"]}
    assert {bucket, bob_bucket} <= every
    # Within its own bucket a user may do everything.
    bob.put_object(Bucket=bob_bucket, Key="x", Body=b"bob's")
    bob.rename_object(Bucket=bob_bucket, Key="y", RenameSource="x")
    bob.copy_object(Bucket=bob_bucket, Key="z", CopySource={"Bucket": bob_bucket, "Key": "y"})
    assert bob.get_object(Bucket=bob_bucket, Key="z")["Body"].read() == b"bob's"


def test_the_admin_api_is_the_administrators(s3_endpoint, tmp_path):
    url = s3_endpoint.url
    _, access, secret = new_user(s3_endpoint, tmp_path)
    done = admin(s3_endpoint, tmp_path, "info", access=access, secret=secret)
    assert done.returncode != 0 and "AccessDenied" in done.stderr + done.stdout
    done = admin(s3_endpoint, tmp_path, "user", "create", "intruder-" + uuid.uuid4().hex[:6], access=access, secret=secret)
    assert done.returncode != 0 and "AccessDenied" in done.stderr + done.stdout
    assert requests.get(url + "/-/admin/users", timeout=10).status_code == 403
    listed = admin(s3_endpoint, tmp_path, "user", "list")
    assert listed.returncode == 0 and not any(line.startswith("intruder-") for line in listed.stdout.splitlines())


def test_a_deleted_key_is_refused_everywhere_within_seconds(s3_endpoint, tmp_path):
    url = s3_endpoint.url
    name, access, secret = new_user(s3_endpoint, tmp_path)
    user = client(url, access, secret)
    assert user.list_buckets()["Buckets"] == []
    assert admin(s3_endpoint, tmp_path, "key", "delete", access).returncode == 0
    deadline = time.monotonic() + 10
    while code_of(user.list_buckets)[1] != "InvalidAccessKeyId":
        assert time.monotonic() < deadline, "a deleted key still works after 10 s"
        time.sleep(0.25)
    # A new key works at once.
    made = admin(s3_endpoint, tmp_path, "key", "create", name)
    assert made.returncode == 0
    assert client(url, *made.stdout.split()).list_buckets()["Buckets"] == []


def test_a_user_is_deleted_only_without_keys_and_buckets(s3_endpoint, tmp_path):
    url = s3_endpoint.url
    name, access, secret = new_user(s3_endpoint, tmp_path)
    bucket = "owned-" + uuid.uuid4().hex[:12]
    client(url, access, secret).create_bucket(Bucket=bucket)
    refused = admin(s3_endpoint, tmp_path, "user", "delete", name)
    assert refused.returncode != 0 and "EntityConflict" in refused.stderr and access in refused.stderr
    assert admin(s3_endpoint, tmp_path, "key", "delete", access).returncode == 0
    refused = admin(s3_endpoint, tmp_path, "user", "delete", name)
    assert refused.returncode != 0 and bucket in refused.stderr
    boto3_admin = client(url, s3_endpoint.access_key, s3_endpoint.secret_key)
    boto3_admin.delete_bucket(Bucket=bucket)
    assert admin(s3_endpoint, tmp_path, "user", "delete", name).returncode == 0
    assert name not in admin(s3_endpoint, tmp_path, "user", "list").stdout
    missing = admin(s3_endpoint, tmp_path, "user", "delete", name)
    assert missing.returncode != 0 and "NoSuchEntity" in missing.stderr


def test_secrets_are_sealed_at_rest_and_never_logged(tmp_path):
    key_file = tmp_path / "master.key"
    key_file.write_text(os.urandom(32).hex())
    server = ServerOn(tmp_path / "server", tmp_path / "data", "--master-key-file", str(key_file), "--log-level", "debug")
    server.start()
    try:
        server.wait_ready()
        here = Server(f"http://127.0.0.1:{server.port}")
        name, access, secret = new_user(here, tmp_path)
        user = client(here.url, access, secret)
        user.create_bucket(Bucket="sealed-secrets")
        user.put_object(Bucket="sealed-secrets", Key="k", Body=b"v")
        assert admin(here, tmp_path, "user", "list").stdout.count(access) == 1
    finally:
        server.stop()
    stored = b"".join(p.read_bytes() for p in (tmp_path / "data").rglob("*") if p.is_file())
    assert access.encode() in stored, "the search finds what is stored in the clear"
    assert secret.encode() not in stored, "a secret is stored in the clear"
    assert secret not in server.log_path.read_text(errors="replace"), "a secret was logged"
    # Without a master key, users cannot be made (their secrets could not be sealed).
    plain = ServerOn(tmp_path / "plain", tmp_path / "plain-data")
    plain.start()
    try:
        plain.wait_ready()
        done = admin(Server(f"http://127.0.0.1:{plain.port}"), tmp_path, "user", "create", "nobody")
        assert done.returncode != 0 and "master key" in done.stderr
    finally:
        plain.stop()
