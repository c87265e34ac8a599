"""The aws CLI (v1): `aws s3 cp/ls/rm/sync/mb/rb` and `aws s3api rename-object`.
Its config (tmp AWS_CONFIG_FILE) keeps every transfer single-part."""

import json
import os
import re
import time


def make_tree(root, files):
    # Whole-second mtimes a minute in the past: `aws s3 sync` re-uploads a file whose
    # mtime is later than the object's Last-Modified, which has one-second resolution.
    an_old_second = int(time.time()) - 60
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (an_old_second, an_old_second))


def reported(output: str, verb: str, target: str) -> bool:
    """Whether the CLI printed `verb: <source> to <target>` (source may be relative)."""
    return any(
        line.startswith(f"{verb}: ") and line.endswith(f" to {target}")
        for line in output.splitlines()
    )


def keys_of(s3, bucket, prefix=""):
    return sorted(
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for o in page.get("Contents", [])
    )


def test_aws_s3_cp_ls_rm(aws_cli, s3, bucket, tmp_path):
    local = tmp_path / "hello.txt"
    local.write_bytes(b"hello from the aws cli\n")
    target = f"s3://{bucket}/dir/hello world.txt"

    up = aws_cli("s3", "cp", local, target)
    assert reported(up.stdout, "upload", target), up.stdout
    assert s3.get_object(Bucket=bucket, Key="dir/hello world.txt")["Body"].read() == (
        b"hello from the aws cli\n"
    )

    listing = aws_cli("s3", "ls", f"s3://{bucket}/dir/")
    assert re.search(r"^\S+ \S+\s+23 hello world\.txt$", listing.stdout, re.M), listing.stdout
    root = aws_cli("s3", "ls", f"s3://{bucket}/")
    assert re.search(r"^\s+PRE dir/$", root.stdout, re.M), root.stdout
    buckets = aws_cli("s3", "ls")
    assert re.search(rf"^\S+ \S+ {re.escape(bucket)}$", buckets.stdout, re.M), buckets.stdout

    copy = tmp_path / "copy.txt"
    down = aws_cli("s3", "cp", target, copy)
    assert any(
        line.startswith(f"download: {target} to ") and line.endswith("copy.txt")
        for line in down.stdout.splitlines()
    ), down.stdout
    assert copy.read_bytes() == local.read_bytes()

    removed = aws_cli("s3", "rm", target)
    assert f"delete: {target}" in removed.stdout
    assert keys_of(s3, bucket) == []
    missing = aws_cli.fails("s3", "ls", f"s3://{bucket}/dir/")
    assert missing.stdout.strip() == ""


def test_aws_s3_cp_stays_single_part_above_the_default_threshold(aws_cli, s3, bucket, tmp_path):
    local = tmp_path / "twelve.bin"
    data = os.urandom(12 * 1024 * 1024)  # above the CLI's default 8 MiB multipart threshold
    local.write_bytes(data)
    aws_cli("s3", "cp", local, f"s3://{bucket}/twelve.bin")
    head = s3.head_object(Bucket=bucket, Key="twelve.bin")
    assert head["ContentLength"] == len(data)
    assert "-" not in head["ETag"]
    back = tmp_path / "back.bin"
    aws_cli("s3", "cp", f"s3://{bucket}/twelve.bin", back)
    assert back.read_bytes() == data


def test_aws_s3_sync_both_ways(aws_cli, s3, bucket, tmp_path):
    files = {
        "a.txt": b"alpha\n",
        "sub/b.txt": b"bravo\n" * 100,
        "sub/deep/c.bin": os.urandom(5000),
        "space name.txt": b"with a space\n",
        "ünï.txt": b"unicode name\n",
    }
    local = tmp_path / "tree"
    make_tree(local, files)
    remote = f"s3://{bucket}/sync/"

    first = aws_cli("s3", "sync", local, remote)
    assert first.stdout.count("upload:") == len(files), first.stdout
    assert keys_of(s3, bucket) == sorted(f"sync/{name}" for name in files)

    again = aws_cli("s3", "sync", local, remote)
    assert "upload:" not in again.stdout, again.stdout

    (local / "a.txt").write_bytes(b"alpha, longer now\n")
    changed = aws_cli("s3", "sync", local, remote)
    assert changed.stdout.count("upload:") == 1, changed.stdout
    assert "sync/a.txt" in changed.stdout

    (local / "sub" / "b.txt").unlink()
    pruned = aws_cli("s3", "sync", local, remote, "--delete")
    assert f"delete: {remote}sub/b.txt" in pruned.stdout, pruned.stdout
    assert "sync/sub/b.txt" not in keys_of(s3, bucket)

    out = tmp_path / "out"
    down = aws_cli("s3", "sync", remote, out)
    assert down.stdout.count("download:") == len(files) - 1, down.stdout
    for name, data in files.items():
        if name == "sub/b.txt":
            assert not (out / name).exists()
        elif name == "a.txt":
            assert (out / name).read_bytes() == b"alpha, longer now\n"
        else:
            assert (out / name).read_bytes() == data

    wiped = aws_cli("s3", "rm", remote, "--recursive")
    assert wiped.stdout.count("delete:") == len(files) - 1, wiped.stdout
    assert keys_of(s3, bucket) == []


def test_aws_s3_mb_rb(aws_cli, s3, bucket_name_factory):
    name = bucket_name_factory("cli")
    made = aws_cli("s3", "mb", f"s3://{name}")
    assert f"make_bucket: {name}" in made.stdout
    s3.head_bucket(Bucket=name)
    removed = aws_cli("s3", "rb", f"s3://{name}")
    assert f"remove_bucket: {name}" in removed.stdout
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_aws_s3api_rename_object(aws_cli, s3, bucket):
    s3.put_object(Bucket=bucket, Key="drafts/report.txt", Body=b"final text", Metadata={"v": "1"})
    aws_cli(
        "s3api", "rename-object", "--bucket", bucket,
        "--key", "published/report.txt", "--rename-source", "drafts/report.txt",
    )
    head = json.loads(
        aws_cli("s3api", "head-object", "--bucket", bucket, "--key", "published/report.txt").stdout
    )
    assert head["ContentLength"] == len(b"final text")
    assert head["Metadata"] == {"v": "1"}
    gone = aws_cli.fails("s3api", "head-object", "--bucket", bucket, "--key", "drafts/report.txt")
    assert "404" in gone.stderr or "Not Found" in gone.stderr, gone.stderr


def test_aws_s3api_rename_object_if_none_match_refuses_overwrite(aws_cli, s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    s3.put_object(Bucket=bucket, Key="dst", Body=b"precious")
    refused = aws_cli.fails(
        "s3api", "rename-object", "--bucket", bucket, "--key", "dst",
        "--rename-source", "src", "--destination-if-none-match", "*",
    )
    assert "PreconditionFailed" in refused.stderr, refused.stderr
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"precious"
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"source"
