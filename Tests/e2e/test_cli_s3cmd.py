"""s3cmd (Debian's): put, ls, get, info, del, mb, rb — path-style over plain HTTP, SigV4."""

import os
import re


def test_s3cmd_put_ls_get_del(s3cmd, s3, bucket, tmp_path):
    local = tmp_path / "notes.txt"
    data = b"s3cmd was here\n" * 40
    local.write_bytes(data)
    target = f"s3://{bucket}/s3cmd/notes.txt"

    put = s3cmd("put", local, target)
    assert f"-> '{target}'" in put.stdout, put.stdout
    assert s3.get_object(Bucket=bucket, Key="s3cmd/notes.txt")["Body"].read() == data

    listing = s3cmd("ls", f"s3://{bucket}/s3cmd/")
    assert re.search(rf"\s{len(data)}\s+{re.escape(target)}$", listing.stdout, re.M), listing.stdout
    root = s3cmd("ls", f"s3://{bucket}/")
    assert re.search(rf"DIR\s+s3://{re.escape(bucket)}/s3cmd/$", root.stdout, re.M), root.stdout
    buckets = s3cmd("ls")
    assert f"s3://{bucket}" in buckets.stdout

    info = s3cmd("info", target)
    assert re.search(r"File size:\s+%d" % len(data), info.stdout), info.stdout

    copy = tmp_path / "copy.txt"
    got = s3cmd("get", target, copy)
    assert f"'{target}' -> '{copy}'" in got.stdout, got.stdout
    assert copy.read_bytes() == data

    deleted = s3cmd("del", target)
    assert f"delete: '{target}'" in deleted.stdout, deleted.stdout
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    after = s3cmd("ls", f"s3://{bucket}/s3cmd/")
    assert target not in after.stdout


def test_s3cmd_binary_and_unicode_names(s3cmd, s3, bucket, tmp_path):
    local = tmp_path / "blob.bin"
    data = os.urandom(300_000)
    local.write_bytes(data)
    target = f"s3://{bucket}/bin/ünï cödé.bin"
    s3cmd("put", local, target)
    assert s3.get_object(Bucket=bucket, Key="bin/ünï cödé.bin")["Body"].read() == data
    copy = tmp_path / "copy.bin"
    s3cmd("get", target, copy)
    assert copy.read_bytes() == data
    s3cmd("del", target)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_s3cmd_mb_rb(s3cmd, s3, bucket_name_factory):
    name = bucket_name_factory("s3cmd")
    made = s3cmd("mb", f"s3://{name}")
    assert f"Bucket 's3://{name}/' created" in made.stdout, made.stdout
    s3.head_bucket(Bucket=name)
    removed = s3cmd("rb", f"s3://{name}")
    assert f"Bucket 's3://{name}/' removed" in removed.stdout, removed.stdout
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_s3cmd_get_missing_object_fails(s3cmd, bucket, tmp_path):
    failed = s3cmd.fails("get", f"s3://{bucket}/missing", tmp_path / "never")
    assert re.search(r"404|Not Found|does not exist", failed.stderr), failed.stderr
    assert not (tmp_path / "never").exists()
