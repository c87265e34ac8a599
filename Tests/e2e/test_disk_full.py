"""Disk full (issue 7): the real server on a small tmpfs this test mounts (and unmounts).

Segment files are preallocated at 1 GiB (the engine's default capacity), so the filesystem holds one segment, a 1 GiB filler file the test
places first, and a little slack for the index. PUTs fill the segment; the next one needs
a second segment, cannot get it, and must fail with a clear S3 error (507
InsufficientStorage). Every acknowledged object still reads back byte-exact; renames and
deletes still work; once the filler is deleted (space freed), uploads work again; no
crash, and SIGTERM stops the server cleanly; fsck finds nothing wrong.

Needs root (mount); CI runs as root. Not root is a failure, not a skip."""

import contextlib
import hashlib
import os
import pathlib
import subprocess

import pytest
from botocore.exceptions import ClientError

from test_fsck import ServerOn, fsck_json

MiB = 1 << 20
SEGMENT_BYTES = 1024 * MiB          # StoreOptions.segmentCapacityBytes default
FILLER_BYTES = 1024 * MiB
SLACK_BYTES = 48 * MiB              # index, lock file, directories
OBJECT_BYTES = 64 * MiB


def body(index: int, size: int = OBJECT_BYTES) -> bytes:
    block = hashlib.sha256(b"disk-full %d" % index).digest() * (MiB // 32)
    return (block * (size // MiB + 1))[:size]


def md5_of_object(s3, bucket, key) -> str:
    digest = hashlib.md5()
    stream = s3.get_object(Bucket=bucket, Key=key)["Body"]
    while piece := stream.read(8 * MiB):
        digest.update(piece)
    return digest.hexdigest()


@contextlib.contextmanager
def tmpfs(mount_point: pathlib.Path, size: int):
    """A tmpfs of `size` bytes mounted at `mount_point` for the block, then unmounted."""
    if os.geteuid() != 0:
        pytest.fail("test_disk_full mounts a tmpfs and needs root (CI runs as root); "
                    "run the suite as root", pytrace=False)
    mount_point.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"mount failed: {done.stderr}"
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], capture_output=True)


@pytest.fixture
def small_filesystem(tmp_path):
    with tmpfs(tmp_path / "small-fs", SEGMENT_BYTES + FILLER_BYTES + SLACK_BYTES) as mount_point:
        yield mount_point


def test_disk_full_is_a_clean_507_and_nothing_acknowledged_is_lost(small_filesystem, tmp_path):
    filler = small_filesystem / "filler"
    subprocess.run(["fallocate", "-l", str(FILLER_BYTES), str(filler)], check=True)
    data_dir = small_filesystem / "data"
    server = ServerOn(tmp_path / "server", data_dir)
    server.start()
    try:
        server.wait_ready()
        s3 = server.client()
        s3.create_bucket(Bucket="full")

        acknowledged = {}
        failure = None
        for index in range(SEGMENT_BYTES // OBJECT_BYTES + 4):
            data = body(index)
            try:
                answer = s3.put_object(Bucket="full", Key=f"obj/{index}", Body=data,
                                       ContentType="application/x-fill", Metadata={"index": str(index)})
            except ClientError as error:
                failure = (index, error.response)
                break
            assert answer["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
            acknowledged[f"obj/{index}"] = hashlib.md5(data).hexdigest()
        assert failure is not None, f"{len(acknowledged)} PUTs of {OBJECT_BYTES >> 20} MiB all succeeded"
        index, response = failure
        print(f"PUT {index} failed after {len(acknowledged)} x {OBJECT_BYTES >> 20} MiB: {response['Error']}")
        status = response["ResponseMetadata"]["HTTPStatusCode"]
        error = response["Error"]
        assert (status, error.get("Code")) == (507, "InsufficientStorage"), (status, error)
        assert "space" in error.get("Message", "").lower(), error
        assert len(acknowledged) >= 8, f"disk full after only {len(acknowledged)} objects"
        assert not server.exited(), server.describe_death()
        # The failed PUT left nothing behind; a small PUT fails the same way while full.
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="full")["Contents"]}
        assert keys == set(acknowledged)
        with pytest.raises(ClientError) as small:
            s3.put_object(Bucket="full", Key="small", Body=b"x" * 4096)
        assert small.value.response["ResponseMetadata"]["HTTPStatusCode"] == 507

        # Every acknowledged object reads back byte-exact, with its attributes.
        for key, md5 in acknowledged.items():
            assert md5_of_object(s3, "full", key) == md5, key
        head = s3.head_object(Bucket="full", Key="obj/0")
        assert head["ContentType"] == "application/x-fill" and head["Metadata"] == {"index": "0"}

        # Metadata operations need no segment space: rename, copy and delete still work.
        s3.rename_object(Bucket="full", Key="renamed/0", RenameSource="obj/0")
        assert md5_of_object(s3, "full", "renamed/0") == acknowledged.pop("obj/0")
        acknowledged["renamed/0"] = hashlib.md5(body(0)).hexdigest()
        s3.copy_object(Bucket="full", Key="copied/1", CopySource={"Bucket": "full", "Key": "obj/1"})
        acknowledged["copied/1"] = acknowledged["obj/1"]
        s3.delete_object(Bucket="full", Key="obj/2")
        del acknowledged["obj/2"]
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="full")["Contents"]}
        assert keys == set(acknowledged)
        # (Deleting frees segment space only once compaction moves a segment's live data
        # away, which needs room for another segment: the clean "space is freed" event
        # here is the filler going away.)

        # Space freed: uploads work again.
        filler.unlink()
        again = body(1000, 3 * MiB)
        s3.put_object(Bucket="full", Key="after-free", Body=again)
        acknowledged["after-free"] = hashlib.md5(again).hexdigest()
        for key in ("after-free", "renamed/0", "copied/1", f"obj/{index - 1}"):
            assert md5_of_object(s3, "full", key) == acknowledged[key], key
        assert not server.exited(), server.describe_death()
    finally:
        status, killed = server.stop()
    assert status == 0 and not killed, f"exit {status}, killed {killed}\n{server.log_tail()}"
    report = fsck_json("--data", data_dir, status=0)["report"]
    assert report["clean"] is True
    assert report["statistics"]["objects"] == len(acknowledged)


@pytest.fixture
def one_segment_filesystem(tmp_path):
    with tmpfs(tmp_path / "one-segment-fs", SEGMENT_BYTES + 24 * MiB) as mount_point:
        yield mount_point


def test_index_device_full_is_a_clean_507_and_recovers(one_segment_filesystem, tmp_path):
    """The segment has room but the index cannot grow: the filesystem is filled to the
    last block after the first object. Writes (PUT, rename) answer 507 — the index commit
    fails — reads still work, nothing half-done is visible, and once space is freed every
    operation works again; SIGTERM then stops it cleanly and fsck is clean."""
    data_dir = one_segment_filesystem / "data"
    server = ServerOn(tmp_path / "server", data_dir)
    server.start()
    first = body(1, 300 * 1024)
    try:
        server.wait_ready()
        s3 = server.client()
        s3.create_bucket(Bucket="ifull")
        s3.put_object(Bucket="ifull", Key="first", Body=first, Metadata={"kept": "yes"})
        filler = one_segment_filesystem / "filler"
        stat = os.statvfs(one_segment_filesystem)
        subprocess.run(["fallocate", "-l", str(stat.f_bavail * stat.f_frsize), str(filler)], check=True)
        assert os.statvfs(one_segment_filesystem).f_bavail == 0

        answers = []
        for i in range(200):
            try:
                s3.put_object(Bucket="ifull", Key=f"meta/{i:04d}-" + "p" * 300, Body=b"small",
                              Metadata={"pad": "m" * 1500})
                answers.append(200)
            except ClientError as error:
                answers.append((error.response["ResponseMetadata"]["HTTPStatusCode"],
                                error.response["Error"]["Code"]))
        refused = [a for a in answers if a != 200]
        assert refused, "200 PUTs committed into an index on a full filesystem"
        assert set(refused) == {(507, "InsufficientStorage")}, set(refused)
        with pytest.raises(ClientError) as rename:
            s3.rename_object(Bucket="ifull", Key="renamed", RenameSource="first")
        assert rename.value.response["ResponseMetadata"]["HTTPStatusCode"] == 507
        # Reads work; what was refused is not there; nothing is half-done.
        got = s3.get_object(Bucket="ifull", Key="first")
        assert got["Body"].read() == first and got["Metadata"] == {"kept": "yes"}
        committed = {f"meta/{i:04d}-" + "p" * 300 for i, a in enumerate(answers) if a == 200}
        keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="ifull")
                for o in page.get("Contents", [])}
        assert keys == {"first"} | committed
        assert not server.exited(), server.describe_death()

        filler.unlink()
        s3.put_object(Bucket="ifull", Key="after", Body=b"after the space came back")
        s3.rename_object(Bucket="ifull", Key="renamed", RenameSource="first")
        s3.delete_object(Bucket="ifull", Key="after")
        assert s3.get_object(Bucket="ifull", Key="renamed")["Body"].read() == first
        keys = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="ifull")
                for o in page.get("Contents", [])}
        assert keys == {"renamed"} | committed
    finally:
        status, killed = server.stop()
    assert status == 0 and not killed, f"exit {status}, killed {killed}\n{server.log_tail()}"
    report = fsck_json("--data", data_dir, status=0)["report"]
    assert report["clean"] is True and report["statistics"]["objects"] == 1 + len(committed)
