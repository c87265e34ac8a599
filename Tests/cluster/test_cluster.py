"""Cluster mode (issue 14): two stateless gateways over real etcd members and real Ceph
OSDs. What one gateway acknowledges the other sees at once; races across gateways have
exactly one winner; RenameObject and prefix rename are one etcd transaction each; bytes
live in RADOS, verified on every read, and released bytes are deleted through the queue
in the index."""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import uuid

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError


def code_of(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def race(calls):
    """Runs every call at once (a barrier), returns their results or exceptions."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(i, call):
        barrier.wait()
        try:
            results[i] = call()
        except Exception as error:  # noqa: BLE001 - reported to the caller
            results[i] = error

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return results


def test_a_write_on_one_gateway_is_visible_at_once_on_the_other(cluster, bucket):
    one, other = cluster.client(0), cluster.client(1)
    for i in range(20):
        key = f"raw/{i}"
        body = os.urandom(1000 + i)
        put = one.put_object(Bucket=bucket, Key=key, Body=body)
        # No pause: GET, HEAD and LIST on the other gateway right after the acknowledgement.
        assert other.get_object(Bucket=bucket, Key=key)["Body"].read() == body
        assert other.head_object(Bucket=bucket, Key=key)["ETag"] == put["ETag"]
        listed = other.list_objects_v2(Bucket=bucket, Prefix="raw/")
        assert key in [o["Key"] for o in listed.get("Contents", [])]
        one.delete_object(Bucket=bucket, Key=key)
        with pytest.raises(ClientError) as gone:
            other.head_object(Bucket=bucket, Key=key)
        assert gone.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_conditional_puts_racing_on_two_gateways_have_one_winner(cluster, bucket):
    clients = [cluster.client(0), cluster.client(1)]
    for round_ in range(5):
        key = f"claim-{round_}"
        bodies = [f"writer {i}".encode() for i in range(8)]
        results = race([lambda i=i: clients[i % 2].put_object(Bucket=bucket, Key=key, Body=bodies[i], IfNoneMatch="*")
                        for i in range(8)])
        winners = [i for i, r in enumerate(results) if isinstance(r, dict)]
        losers = [r for r in results if isinstance(r, ClientError)]
        assert len(winners) == 1, results
        assert len(losers) == 7 and all(code_of(e) in ("PreconditionFailed", "ConditionalRequestConflict") for e in losers), results
        assert clients[1].get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[winners[0]]


def test_renames_racing_on_two_gateways_have_one_winner(cluster, bucket):
    clients = [cluster.client(0), cluster.client(1)]
    for round_ in range(5):
        source = f"src-{round_}"
        body = os.urandom(4096)
        clients[0].put_object(Bucket=bucket, Key=source, Body=body)
        destinations = [f"dst-{round_}-{i}" for i in range(6)]
        results = race([lambda i=i: clients[i % 2].rename_object(Bucket=bucket, Key=destinations[i], RenameSource=source)
                        for i in range(6)])
        winners = [i for i, r in enumerate(results) if isinstance(r, dict)]
        assert len(winners) == 1, results
        assert all(isinstance(r, ClientError) and code_of(r) == "NoSuchKey" for i, r in enumerate(results) if i not in winners), results
        keys = {o["Key"] for o in clients[1].list_objects_v2(Bucket=bucket, Prefix=f"")["Contents"]}
        present = [d for d in destinations if d in keys]
        assert present == [destinations[winners[0]]] and source not in keys
        assert clients[1].get_object(Bucket=bucket, Key=present[0])["Body"].read() == body


def test_rename_with_a_client_token_is_exactly_once_across_gateways(cluster, bucket):
    one, other = cluster.client(0), cluster.client(1)
    one.put_object(Bucket=bucket, Key="a", Body=b"payload")
    token = uuid.uuid4().hex
    one.rename_object(Bucket=bucket, Key="b", RenameSource="a", ClientToken=token)
    # The retry lands on the other gateway: the token in etcd answers it.
    other.rename_object(Bucket=bucket, Key="b", RenameSource="a", ClientToken=token)
    assert other.get_object(Bucket=bucket, Key="b")["Body"].read() == b"payload"
    with pytest.raises(ClientError):
        other.head_object(Bucket=bucket, Key="a")


def test_rename_moves_no_bytes_whatever_the_size(cluster, bucket):
    one, other = cluster.client(0), cluster.client(1)
    big = os.urandom(70 << 20)      # spans two RADOS containers (64 MiB each)
    one.put_object(Bucket=bucket, Key="big", Body=big)
    one.put_object(Bucket=bucket, Key="small", Body=b"x" * 1024)
    before = cluster.rados_objects()
    one.rename_object(Bucket=bucket, Key="big-renamed", RenameSource="big")
    other.rename_object(Bucket=bucket, Key="small-renamed", RenameSource="small")
    assert cluster.rados_objects() == before, "a rename writes no RADOS object"
    got = other.get_object(Bucket=bucket, Key="big-renamed")["Body"].read()
    assert hashlib.sha256(got).digest() == hashlib.sha256(big).digest()
    ranged = other.get_object(Bucket=bucket, Key="big-renamed", Range="bytes=67108860-67108869")["Body"].read()
    assert ranged == big[67108860:67108870]


def test_prefix_rename_is_one_transaction_and_refused_whole_above_the_limit(cluster, bucket):
    one, other = cluster.client(0), cluster.client(1)
    for i in range(30):
        one.put_object(Bucket=bucket, Key=f"tmp/step/{i:03}", Body=f"{i}".encode())
    moved = rename_prefix(cluster, 1, bucket, "tmp/step/", "final/step/")
    assert moved.status_code == 200, moved.text
    keys = [o["Key"] for o in one.list_objects_v2(Bucket=bucket)["Contents"]]
    assert keys == [f"final/step/{i:03}" for i in range(30)]
    # Over the cluster's --max-txn-ops: each key is a delete, a put and a check.
    many = cluster.max_txn_ops // 3 + 30
    for i in range(many):
        one.put_object(Bucket=bucket, Key=f"many/{i:04}", Body=b"m")
    refused = rename_prefix(cluster, 0, bucket, "many/", "moved/")
    assert refused.status_code == 400, refused.text
    assert "max-txn-ops" in refused.text or "transaction" in refused.text
    listed = other.list_objects_v2(Bucket=bucket, Prefix="moved/")
    assert listed["KeyCount"] == 0, "nothing moved"
    assert other.list_objects_v2(Bucket=bucket, Prefix="many/", MaxKeys=1000)["KeyCount"] == many


def rename_prefix(cluster, gateway: int, bucket: str, source: str, destination: str):
    """`POST /BUCKET?renamePrefix` (boto3 has no such call), signed with SigV4."""
    import botocore.auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials
    url = f"{cluster.gateways[gateway]}/{bucket}?renamePrefix"
    body = (f"<RenamePrefix><SourcePrefix>{source}</SourcePrefix>"
            f"<DestinationPrefix>{destination}</DestinationPrefix></RenamePrefix>").encode()
    request = AWSRequest(method="POST", url=url, headers={"Content-Type": "application/xml"}, data=body)
    request.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    botocore.auth.SigV4Auth(Credentials(cluster.access_key, cluster.secret_key), "s3", "us-east-1").add_auth(request)
    return requests.post(url, headers=dict(request.headers), data=body, timeout=120)


def test_bytes_live_in_rados_and_a_damaged_chunk_is_refused(cluster, bucket):
    one = cluster.client(0)
    before = cluster.rados_objects()
    body = os.urandom(3 << 20)
    one.put_object(Bucket=bucket, Key="victim", Body=body)
    new = cluster.rados_objects() - before
    assert len(new) == 1, new
    name = new.pop()
    fetched = cluster.rados("get", name, "-")
    assert fetched.returncode == 0 and fetched.stdout == body, "the object's bytes are the RADOS object's"
    damaged = bytearray(body)
    damaged[(1 << 20) + 5] ^= 0xFF       # inside the second 1 MiB chunk
    write = subprocess.run(["rados", "-c", cluster.ceph_conf, "-p", cluster.pool, "put", name, "-"],
                           input=bytes(damaged), capture_output=True, timeout=60)
    assert write.returncode == 0, write.stderr
    # The first chunk still verifies; the damaged one is refused, never served.
    assert cluster.client(1).get_object(Bucket=bucket, Key="victim", Range="bytes=0-99")["Body"].read() == body[:100]
    with pytest.raises(Exception):
        cluster.client(1).get_object(Bucket=bucket, Key="victim")["Body"].read()
    fsck = run_fsck(cluster)
    assert fsck.returncode == 1, fsck.stdout
    assert any(name in line for line in json.loads(fsck.stdout)["damaged"])
    # --repair quarantines it: every GET and HEAD of the key, on any gateway, answers an
    # integrity error at once (even the range that still verified); the key stays listed.
    repaired = run_fsck(cluster, "--repair")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    report = json.loads(repaired.stdout)
    assert report["quarantinedObjects"] == [f"{bucket}/victim"], report
    assert [line.split(":")[0].split()[0] for line in report["repairs"]] == ["quarantined"], report["repairs"]
    assert report["damaged"] == []
    for gateway in (0, 1):
        for call in (lambda c: c.get_object(Bucket=bucket, Key="victim", Range="bytes=0-99"),
                     lambda c: c.head_object(Bucket=bucket, Key="victim")):
            with pytest.raises(ClientError) as error:
                call(cluster.client(gateway))
            assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert "victim" in {o["Key"] for o in one.list_objects_v2(Bucket=bucket)["Contents"]}
    # The bytes put back, a full check lifts the quarantine.
    restored = subprocess.run(["rados", "-c", cluster.ceph_conf, "-p", cluster.pool, "put", name, "-"],
                              input=body, capture_output=True, timeout=60)
    assert restored.returncode == 0, restored.stderr
    lifted = json.loads(run_fsck(cluster, "--repair").stdout)
    assert [line.split()[0] for line in lifted["repairs"]] == ["lifted"], lifted["repairs"]
    assert lifted["quarantinedObjects"] == []
    assert cluster.client(1).get_object(Bucket=bucket, Key="victim")["Body"].read() == body
    one.delete_object(Bucket=bucket, Key="victim")


def test_repair_quarantines_a_multipart_object_over_a_damaged_part(cluster, bucket):
    one = cluster.client(0)
    before = cluster.rados_objects()
    upload = one.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    parts = [os.urandom(5 << 20), os.urandom(1 << 20)]
    etags = [one.upload_part(Bucket=bucket, Key="assembled", UploadId=upload, PartNumber=n + 1, Body=part)["ETag"]
             for n, part in enumerate(parts)]
    one.complete_multipart_upload(Bucket=bucket, Key="assembled", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": etag} for n, etag in enumerate(etags)]})
    one.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "assembled"})
    one.put_object(Bucket=bucket, Key="bystander", Body=b"fine")
    (second,) = [n for n in cluster.rados_objects() - before if cluster.rados("stat", n).stdout.split()[-1] == str(1 << 20).encode()]
    damaged = bytearray(cluster.rados("get", second, "-").stdout)
    damaged[77] ^= 0x01
    put = subprocess.run(["rados", "-c", cluster.ceph_conf, "-p", cluster.pool, "put", second, "-"],
                         input=bytes(damaged), capture_output=True, timeout=60)
    assert put.returncode == 0, put.stderr
    report = json.loads(run_fsck(cluster, "--repair").stdout)
    # The part's data blob and the composite over it; the metadata-only copy shares it.
    assert report["quarantinedObjects"] == [f"{bucket}/assembled", f"{bucket}/copy"], report
    assert len(report["repairs"]) == 2, report["repairs"]
    with pytest.raises(ClientError) as error:
        cluster.client(1).get_object(Bucket=bucket, Key="copy", Range="bytes=0-10")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    assert one.get_object(Bucket=bucket, Key="bystander")["Body"].read() == b"fine"
    # Deleting the keys releases the blobs; the next repair drops the stale quarantines.
    one.delete_object(Bucket=bucket, Key="assembled")
    one.delete_object(Bucket=bucket, Key="copy")
    cleaned = json.loads(run_fsck(cluster, "--quick", "--repair").stdout)
    assert sorted(line.split()[0] for line in cleaned["repairs"]) == ["removed", "removed"], cleaned["repairs"]
    assert json.loads(run_fsck(cluster, "--quick").stdout)["repairs"] == []


def run_fsck(cluster, *extra: str):
    binary = os.environ.get("STOWAGE_BIN", str(pathlib.Path(__file__).resolve().parents[2] / ".build" / "debug" / "stowage"))
    return subprocess.run([binary, "fsck", "--etcd", ",".join(cluster.etcd), "--ceph-conf", cluster.ceph_conf,
                           "--rados-pool", cluster.pool, "--json", *extra], capture_output=True, text=True, timeout=300)


def test_fsck_reads_every_chunk_back_and_finds_orphans_and_lost_bytes(cluster, bucket):
    one = cluster.client(0)
    before = cluster.rados_objects()
    one.put_object(Bucket=bucket, Key="checked", Body=os.urandom(2 << 20))
    one.put_object(Bucket=bucket, Key="doomed", Body=os.urandom(1000))
    clean = run_fsck(cluster)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    report = json.loads(clean.stdout)
    assert report["chunksVerified"] >= 3 and report["missing"] == [] and report["damaged"] == []
    # An orphan: bytes no index entry references (a writer that crashed before its commit).
    orphan = "stowage.blob.00000000deadbeef"
    put = subprocess.run(["rados", "-c", cluster.ceph_conf, "-p", cluster.pool, "put", orphan, "-"],
                         input=b"left behind", capture_output=True, timeout=60)
    assert put.returncode == 0, put.stderr
    listed = run_fsck(cluster, "--quick")
    assert listed.returncode == 0 and orphan in json.loads(listed.stdout)["orphans"]
    young = run_fsck(cluster, "--quick", "--repair")        # default --orphan-age: an hour
    assert json.loads(young.stdout)["orphansDeleted"] == [] and orphan in cluster.rados_objects()
    repaired = run_fsck(cluster, "--quick", "--repair", "--orphan-age", "0")
    assert orphan in json.loads(repaired.stdout)["orphansDeleted"]
    assert orphan not in cluster.rados_objects()
    # Lost bytes: the RADOS object of "doomed" removed behind the index's back.
    (lost,) = [name for name in cluster.rados_objects() - before
               if cluster.rados("stat", name).stdout.split()[-1] == b"1000"]
    assert cluster.rados("rm", lost).returncode == 0
    broken = run_fsck(cluster, "--quick")
    assert broken.returncode == 1 and any(lost in line for line in json.loads(broken.stdout)["missing"])
    quarantined = run_fsck(cluster, "--quick", "--repair")
    assert quarantined.returncode == 0 and json.loads(quarantined.stdout)["quarantinedObjects"] == [f"{bucket}/doomed"]
    with pytest.raises(ClientError) as error:
        one.get_object(Bucket=bucket, Key="doomed")
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    one.delete_object(Bucket=bucket, Key="doomed")
    assert run_fsck(cluster, "--quick", "--repair").returncode == 0
    assert json.loads(run_fsck(cluster, "--quick").stdout)["quarantinedObjects"] == []


def test_released_bytes_are_deleted_through_the_queue(cluster, bucket):
    one = cluster.client(0)
    before = cluster.rados_objects()
    one.put_object(Bucket=bucket, Key="doomed", Body=os.urandom(100_000))
    one.put_object(Bucket=bucket, Key="kept", Body=b"k")
    one.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "doomed"})
    created = cluster.rados_objects() - before
    assert len(created) == 2
    one.delete_object(Bucket=bucket, Key="doomed")
    time.sleep(8)
    assert created <= cluster.rados_objects(), "the copy still references the bytes"
    one.delete_object(Bucket=bucket, Key="copy")
    deadline = time.time() + 60
    while time.time() < deadline and len(created & cluster.rados_objects()) > 1:
        time.sleep(1)
    left = created & cluster.rados_objects()
    assert len(left) == 1, "the released object was deleted, the other kept"
    assert one.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"k"


def test_a_killed_gateway_loses_nothing_and_the_other_goes_on(cluster, bucket):
    one, other = cluster.client(0), cluster.client(1)
    written = {}
    for i in range(10):
        body = os.urandom(2000)
        one.put_object(Bucket=bucket, Key=f"g/{i}", Body=body)
        written[f"g/{i}"] = body
    cluster.script("kill", "gateway", "2")
    try:
        for i in range(10, 20):
            body = os.urandom(2000)
            one.put_object(Bucket=bucket, Key=f"g/{i}", Body=body)
            written[f"g/{i}"] = body
        one.rename_object(Bucket=bucket, Key="g/renamed", RenameSource="g/0")
        written["g/renamed"] = written.pop("g/0")
    finally:
        cluster.script("restart", "gateway", "2")
    for key, body in written.items():
        assert other.get_object(Bucket=bucket, Key=key)["Body"].read() == body


def test_requests_waiting_on_etcd_hold_no_thread_others_need(cluster, bucket):
    """Index reads are etcd round trips: they wait on threads of their own, never on the
    cooperative pool or an event loop, so a frozen etcd stalls only the requests that
    need it. A request that needs no index read (here, one with a wrong signature)
    answers at once while many wait."""
    one = cluster.client(0, attempts=1)
    one.put_object(Bucket=bucket, Key="k", Body=b"v")
    # The members' PIDs now (a restarted member has a new one; cluster.env keeps the first).
    members = [int((cluster.directory / "pids" / f"etcd{n}").read_text()) for n in (1, 2, 3)]
    answered: list[tuple[str, float]] = []

    def head():
        try:
            one.head_object(Bucket=bucket, Key="k")
            answered.append(("200", time.monotonic()))
        except ClientError as error:
            answered.append((str(error.response["ResponseMetadata"]["HTTPStatusCode"]), time.monotonic()))

    stranger = boto3.session.Session().client(
        "s3", endpoint_url=cluster.gateways[0], aws_access_key_id=cluster.access_key,
        aws_secret_access_key="not-the-secret", region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"total_max_attempts": 1}))
    for pid in members:
        os.kill(pid, signal.SIGSTOP)
    try:
        threads = [threading.Thread(target=head) for _ in range(24)]
        for thread in threads:
            thread.start()
        time.sleep(0.3)
        started = time.monotonic()
        with pytest.raises(ClientError) as refused:
            stranger.head_object(Bucket=bucket, Key="k")
        finished = time.monotonic()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        still_waiting = 24 - sum(1 for _, at in answered if at <= finished)
        print(f"\n403 in {(finished - started) * 1000:.0f} ms while {still_waiting} HEADs waited on the frozen etcd")
        # More requests waiting than the cooperative pool has threads, and than Dispatch's
        # lane for disk work takes at once (16): before they waited on their own threads,
        # 24 such requests made this one wait 3.5 s.
        assert still_waiting >= 17, answered
        assert finished - started < 1, f"a request needing no index waited {finished - started:.2f} s"
    finally:
        for pid in members:
            os.kill(pid, signal.SIGCONT)
    for thread in threads:
        thread.join(timeout=60)
    assert len(answered) == 24 and {status for status, _ in answered} <= {"200", "503"}, answered
    deadline = time.time() + 30
    while True:
        try:
            assert one.get_object(Bucket=bucket, Key="k")["Body"].read() == b"v"
            break
        except ClientError:
            assert time.time() < deadline, "the index did not come back after SIGCONT"
            time.sleep(0.5)


def put_many(cluster, bucket: str, keys: list[str], body: bytes = b"x") -> None:
    """PUTs every key, eight at a time, spread over both gateways."""
    from concurrent.futures import ThreadPoolExecutor
    clients = [cluster.client(0), cluster.client(1)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda item: clients[item[0] % 2].put_object(Bucket=bucket, Key=item[1], Body=body), enumerate(keys)))


def test_delete_objects_larger_than_one_etcd_transaction_deletes_every_key(cluster, bucket):
    # Each deletion changes ~1.8 etcd keys (600 change ~1,100): 2/3 of --max-txn-ops
    # deletions are more than one transaction takes. S3 gives each key its own outcome,
    # so the gateway batches.
    keys = [f"many/{n:04d}" for n in range(cluster.max_txn_ops * 2 // 3)]
    put_many(cluster, bucket, keys)
    one = cluster.client(0)
    answer = one.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys] + [{"Key": "never-there"}]})
    assert answer.get("Errors", []) == []
    assert sorted(d["Key"] for d in answer["Deleted"]) == sorted(keys + ["never-there"])
    assert one.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_abort_of_an_upload_larger_than_one_etcd_transaction_removes_every_part(cluster, bucket):
    from concurrent.futures import ThreadPoolExecutor
    one = cluster.client(0)
    before = cluster.rados_objects()
    parts = cluster.max_txn_ops // 2
    upload = one.create_multipart_upload(Bucket=bucket, Key="huge")["UploadId"]
    clients = [cluster.client(0), cluster.client(1)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda n: clients[n % 2].upload_part(Bucket=bucket, Key="huge", UploadId=upload, PartNumber=n,
                                                           Body=b"p%d" % n), range(1, parts + 1)))
    assert len(cluster.rados_objects() - before) == parts
    # Each part released and deleted is ~3 changed etcd keys: more than one transaction.
    one.abort_multipart_upload(Bucket=bucket, Key="huge", UploadId=upload)
    with pytest.raises(ClientError) as gone:
        one.list_parts(Bucket=bucket, Key="huge", UploadId=upload)
    assert gone.value.response["Error"]["Code"] == "NoSuchUpload"
    assert one.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    deadline = time.time() + 60       # the deletion queue (grace 2 s) removes their bytes
    while cluster.rados_objects() - before:
        assert time.time() < deadline, "the aborted parts' RADOS objects were never deleted"
        time.sleep(1)


def test_readiness_follows_the_index(cluster):
    """`/-/ready` answers 503 while etcd does not answer (here frozen) and 200 again once it
    does; `/-/healthy` stays 200 throughout — the gateway itself is alive."""
    def poll(url, want, seconds):
        deadline = time.monotonic() + seconds
        while True:
            answer = requests.get(url, timeout=5)
            if answer.status_code == want or time.monotonic() > deadline:
                return answer
            time.sleep(0.1)

    gateway = cluster.gateways[1]
    assert poll(gateway + "/-/ready", 200, 10).status_code == 200
    members = [int((cluster.directory / "pids" / f"etcd{n}").read_text()) for n in (1, 2, 3)]
    for pid in members:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        refused = poll(gateway + "/-/ready", 503, 10)
        print(f"\nready → 503 in {time.monotonic() - started:.2f} s: {refused.text.strip()}")
        assert refused.status_code == 503 and refused.text.startswith("not ready: "), refused.text
        assert requests.get(gateway + "/-/healthy", timeout=5).status_code == 200
    finally:
        for pid in members:
            os.kill(pid, signal.SIGCONT)
    started = time.monotonic()
    assert poll(gateway + "/-/ready", 200, 30).status_code == 200, "readiness did not come back with etcd"
    print(f"ready again in {time.monotonic() - started:.2f} s")


def test_metrics_show_the_backends(cluster, bucket):
    """A gateway's /metrics counts its etcd round trips by call and its RADOS reads."""
    from prometheus_client.parser import text_string_to_metric_families
    one = cluster.client(0)
    one.put_object(Bucket=bucket, Key="m", Body=b"z" * 5000)
    assert one.get_object(Bucket=bucket, Key="m")["Body"].read() == b"z" * 5000
    answer = requests.get(cluster.gateways[0] + "/metrics", timeout=10)
    assert answer.status_code == 200, answer.text
    counts = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            if sample.name.endswith("_count"):
                counts[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert counts[("stowage_etcd_request_duration_seconds_count", (("call", "kv/range"),))] > 0
    assert counts[("stowage_etcd_request_duration_seconds_count", (("call", "kv/txn"),))] > 0
    assert counts[("stowage_rados_operation_duration_seconds_count", (("operation", "read"),))] > 0
    assert counts[("stowage_commit_duration_seconds_count", ())] > 0


def test_admin_views_count_what_etcd_holds_on_every_gateway(cluster, bucket):
    """`stowage admin` against each gateway: cluster mode, and one bucket's counts read
    from etcd (both gateways see the same index)."""
    one = cluster.client(0)
    for n in range(3):
        one.put_object(Bucket=bucket, Key=f"admin/{n}", Body=b"c" * (100 * (n + 1)))
    upload = one.create_multipart_upload(Bucket=bucket, Key="admin/big")["UploadId"]
    one.upload_part(Bucket=bucket, Key="admin/big", UploadId=upload, PartNumber=1, Body=b"p" * 1000)
    binary = os.environ.get("STOWAGE_BIN", str(pathlib.Path(__file__).resolve().parents[2] / ".build" / "debug" / "stowage"))
    env = dict(os.environ, AWS_ACCESS_KEY_ID=cluster.access_key, AWS_SECRET_ACCESS_KEY=cluster.secret_key)
    try:
        for gateway in cluster.gateways:
            info = subprocess.run([binary, "admin", "info", "--json", "--endpoint", gateway], capture_output=True,
                                  text=True, timeout=60, env=env)
            assert info.returncode == 0, info.stderr
            info = json.loads(info.stdout)
            assert info["mode"] == "cluster" and info["durability"] == "strict" and info["ready"] is True
            assert info["usage"]["objects"] >= 3 and info["usage"]["uploadsInProgress"] >= 1
            stats = subprocess.run([binary, "admin", "bucket", "stats", bucket, "--json", "--endpoint", gateway],
                                   capture_output=True, text=True, timeout=60, env=env)
            assert stats.returncode == 0, stats.stderr
            assert json.loads(stats.stdout)["usage"] == {"objects": 3, "bytes": 600, "versions": 3, "deleteMarkers": 0,
                                                         "noncurrentBytes": 0, "uploadsInProgress": 1,
                                                         "uploadedParts": 1, "uploadedPartBytes": 1000}
    finally:
        one.abort_multipart_upload(Bucket=bucket, Key="admin/big", UploadId=upload)
