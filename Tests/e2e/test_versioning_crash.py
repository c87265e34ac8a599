"""Versioned writes and deletes under SIGKILL (issue 15): four clients put new versions,
delete keys (delete markers) and delete versions for good in a versioned bucket while
the real server is killed; after each kill, fsck on the stopped directory is clean, and
the restarted server still has every acknowledged version with its bytes, none of the
acknowledged permanent deletions, and a version list that agrees with GET."""

from __future__ import annotations

import hashlib
import random
import threading
import time

from botocore.config import Config
import boto3

from conftest import REGION, TEST_ACCESS_KEY, TEST_SECRET_KEY
from test_fsck import ServerOn, fsck_json

BUCKET = "crash-versions"
KEYS = [f"k{n}" for n in range(6)]
CYCLES = 3


def client(port: int):
    return boto3.session.Session().client(
        "s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=TEST_ACCESS_KEY,
        aws_secret_access_key=TEST_SECRET_KEY, region_name=REGION,
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}, connect_timeout=2,
                      read_timeout=10))


class Model:
    """What the server acknowledged: versions written (id → bytes) and versions deleted."""

    def __init__(self):
        self.lock = threading.Lock()
        self.written: dict[str, dict[str, bytes]] = {key: {} for key in KEYS}
        self.deleted: dict[str, set[str]] = {key: set() for key in KEYS}
        self.markers: dict[str, set[str]] = {key: set() for key in KEYS}
        # Permanent deletions sent: one cut short by the kill may or may not have happened.
        self.deleting: dict[str, set[str]] = {key: set() for key in KEYS}
        self.acked = 0


def work(port: int, model: Model, seed: int, stop: threading.Event):
    rng = random.Random(seed)
    s3 = client(port)
    n = 0
    while not stop.is_set():
        key = rng.choice(KEYS)
        n += 1
        try:
            roll = rng.random()
            if roll < 0.6:
                body = f"{seed}-{n}-".encode() * rng.randint(1, 2000)
                version = s3.put_object(Bucket=BUCKET, Key=key, Body=body)["VersionId"]
                with model.lock:
                    model.written[key][version] = body
                    model.acked += 1
            elif roll < 0.8:
                marker = s3.delete_object(Bucket=BUCKET, Key=key)["VersionId"]
                with model.lock:
                    model.markers[key].add(marker)
                    model.acked += 1
            else:
                with model.lock:
                    candidates = [v for v in model.written[key] if v not in model.deleted[key]]
                if not candidates:
                    continue
                victim = rng.choice(candidates)
                with model.lock:
                    model.deleting[key].add(victim)
                s3.delete_object(Bucket=BUCKET, Key=key, VersionId=victim)
                with model.lock:
                    model.deleted[key].add(victim)
                    model.acked += 1
        except Exception:  # noqa: BLE001 - the kill: unacknowledged, whole or absent
            time.sleep(0.05)


def check(port: int, model: Model):
    s3 = client(port)
    for key in KEYS:
        listing = []
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=BUCKET, Prefix=key):
            listing += [(v["Key"], v["VersionId"], False, v["IsLatest"]) for v in page.get("Versions", [])]
            listing += [(m["Key"], m["VersionId"], True, m["IsLatest"]) for m in page.get("DeleteMarkers", [])]
        listing = [entry for entry in listing if entry[0] == key]
        listed_objects = {version for _, version, marker, _ in listing if not marker}
        for version, body in model.written[key].items():
            if version in model.deleted[key]:
                assert version not in listed_objects, f"{key} {version}: deleted for good, yet listed"
                continue
            if version in model.deleting[key] and version not in listed_objects:
                continue   # its deletion was in flight at a kill, and happened
            assert version in listed_objects, f"{key} {version}: acknowledged, not listed"
            got = s3.get_object(Bucket=BUCKET, Key=key, VersionId=version)["Body"].read()
            assert hashlib.md5(got).digest() == hashlib.md5(body).digest(), f"{key} {version}: other bytes"
        latest = [entry for entry in listing if entry[3]]
        assert len(latest) <= 1, f"{key}: several latest versions {latest}"
        try:
            current = s3.get_object(Bucket=BUCKET, Key=key)["VersionId"]
        except s3.exceptions.NoSuchKey:
            current = None
        if latest and not latest[0][2]:
            assert current == latest[0][1], f"{key}: GET gives {current}, the listing's latest is {latest[0]}"
        else:
            assert current is None, f"{key}: GET finds {current} but the latest version is a delete marker or none"


def test_versioned_writes_and_deletes_survive_sigkill(tmp_path):
    data = tmp_path / "data"
    model = Model()
    for cycle in range(CYCLES):
        server = ServerOn(tmp_path / f"server{cycle}", data, "--compaction-interval", "1", "--segment-size", "8")
        server.start()
        server.wait_ready()
        if cycle == 0:
            s3 = client(server.port)
            s3.create_bucket(Bucket=BUCKET)
            s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        else:
            check(server.port, model)
        stop = threading.Event()
        threads = [threading.Thread(target=work, args=(server.port, model, cycle * 10 + i, stop)) for i in range(4)]
        before = model.acked
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while model.acked < before + 60 and time.monotonic() < deadline:
            time.sleep(0.05)
        server.proc.kill()
        server.proc.wait(timeout=30)
        stop.set()
        for thread in threads:
            thread.join(30)
        assert model.acked >= before + 60, "too little work was acknowledged before the kill"
        report = fsck_json("--data", data, status=0)
        assert report["report"]["clean"] is True, report
        statistics = report["report"]["statistics"]
        assert statistics["noncurrentVersions"] + statistics["deleteMarkers"] > 0
    server = ServerOn(tmp_path / "final", data)
    server.start()
    try:
        server.wait_ready()
        check(server.port, model)
    finally:
        status, killed = server.stop()
    assert status == 0 and not killed
