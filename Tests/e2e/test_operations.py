"""Operating the server (issue 19): liveness and readiness answered without credentials
(and readiness turning to "closing" on SIGTERM), `stowage --version`, one structured log
line per request — as text (key=value) or JSON (`--log-format json`), slow requests
flagged — Prometheus metrics, and the signed admin views (`stowage admin`)."""

from __future__ import annotations

import json
import os
import pathlib
import signal
import subprocess
import threading
import time

import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from conftest import REGION, TEST_ACCESS_KEY, TEST_SECRET_KEY
from test_fsck import ServerOn, binary


def wait_for_ready(url: str, timeout: float = 10) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        answer = requests.get(url + "/-/ready", timeout=5)
        if answer.status_code == 200 or time.monotonic() > deadline:
            return answer
        time.sleep(0.1)


def test_liveness_and_readiness_need_no_credentials(s3_endpoint):
    live = requests.get(s3_endpoint.url + "/-/healthy", timeout=5)
    assert (live.status_code, live.text) == (200, "ok\n")
    assert live.headers["Cache-Control"] == "no-store"
    ready = wait_for_ready(s3_endpoint.url)
    assert (ready.status_code, ready.text) == (200, "ready\n")
    head = requests.head(s3_endpoint.url + "/-/ready", timeout=5)
    assert head.status_code == 200 and head.content == b""


def test_health_paths_shadow_no_s3_request(s3_endpoint):
    # Another method on the same path is S3's, which refuses an unsigned request.
    assert requests.post(s3_endpoint.url + "/-/ready", timeout=5).status_code == 403
    # Virtual-hosted style, `/-/ready` is the key "-/ready" of a bucket: S3's again.
    hosted = requests.get(s3_endpoint.url + "/-/ready", headers={"Host": f"somebucket.localhost:{s3_endpoint.port}"},
                          timeout=5)
    assert hosted.status_code == 403 and b"AccessDenied" in hosted.content


def test_version_is_printed():
    done = subprocess.run([str(binary()), "--version"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() and done.stdout.strip()[0].isdigit(), done.stdout


def json_lines(path: pathlib.Path) -> list[dict]:
    lines = []
    for text in path.read_text().splitlines():
        if text.startswith("{"):
            lines.append(json.loads(text))
    return lines


def test_every_request_logs_one_json_line(tmp_path):
    server = ServerOn(tmp_path / "server", tmp_path / "data", "--log-format", "json", "--slow-request-ms", "0")
    server.start()
    try:
        server.wait_ready()
        s3 = server.client()
        s3.create_bucket(Bucket="logged")
        s3.put_object(Bucket="logged", Key="dir/one", Body=b"x" * 1000)
        assert len(s3.get_object(Bucket="logged", Key="dir/one")["Body"].read()) == 1000
        with pytest.raises(ClientError):
            s3.get_object(Bucket="logged", Key="missing")
    finally:
        status, killed = server.stop()
    assert status == 0 and not killed, server.log_tail()
    requests_logged = [line for line in json_lines(server.log_path) if line.get("message") == "request"]
    by_operation = {}
    for line in requests_logged:
        by_operation.setdefault(line["operation"], []).append(line)
    (put,) = by_operation["PutObject"]
    assert (put["status"], put["bucket"], put["key"], put["user"], put["bytes_in"]) == \
        ("200", "logged", "dir/one", TEST_ACCESS_KEY, "1000")
    get, missing = by_operation["GetObject"]
    assert (get["status"], get["bytes_out"]) == ("200", "1000")
    assert (missing["status"], missing["error"], missing["key"]) == ("404", "NoSuchKey", "missing")
    for line in requests_logged:
        assert line["request_id"] and float(line["ms"]) >= 0 and line["time"]
        # --slow-request-ms 0: every request is slow, and logged at notice level.
        assert (line["slow"], line["level"]) == ("true", "notice"), line
    # The anonymous GET / of wait_ready: refused, and logged like any other.
    assert any(line["status"] == "403" and line["error"] == "AccessDenied" for line in requests_logged)


def test_text_log_lines_carry_the_same_fields(tmp_path):
    server = ServerOn(tmp_path / "server", tmp_path / "data")
    server.start()
    try:
        server.wait_ready()
        s3 = server.client()
        s3.create_bucket(Bucket="texted")
        s3.put_object(Bucket="texted", Key="k", Body=b"abc")
    finally:
        server.stop()
    (line,) = [text for text in server.log_path.read_text().splitlines() if "operation=PutObject" in text]
    # request_id and access_key are the logger's metadata, set before the line is written.
    for field in ("status=200", "bucket=texted", "key=k", "bytes_in=3", f"user={TEST_ACCESS_KEY}", "ms=",
                  "request_id=", f"access_key={TEST_ACCESS_KEY}"):
        assert field in line, line
    assert "slow=" not in line, "a fast request under the default 1,000 ms threshold is not slow"


def test_bad_log_options_are_refused(tmp_path):
    for args, message in [(["--log-format", "xml"], "log-format (flag): 'xml' must be text or json"),
                          (["--slow-request-ms=-1"], "slow-request-ms (flag): must be 0 or more"),
                          (["--log-level", "loud"], "log-level (flag): 'loud' must be one of")]:
        done = subprocess.run([str(binary()), "serve", "--data", str(tmp_path / "d"), "--port", "0", *args],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode != 0 and message in done.stderr, (args, done.stderr)


def scrape(url: str, **headers) -> dict:
    """The samples of /metrics, parsed with Prometheus' own text parser: {(name, labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families
    answer = requests.get(url + "/metrics", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def scrape_until(url: str, name: str, at_least: float, seconds: float = 15) -> dict:
    """The samples once gauge `name` reaches `at_least` (the store's gauges are refreshed
    every 5 s), or the last ones scraped after `seconds`: the caller asserts on them."""
    deadline = time.monotonic() + seconds
    samples = scrape(url)
    while value(samples, name) < at_least and time.monotonic() < deadline:
        time.sleep(0.5)
        samples = scrape(url)
    return samples


def test_the_index_writer_thread_carries_its_name(tmp_path):
    """The group commit's thread is named `stowage-writer` in /proc (what `top -H`, perf
    and Benchmarks/http/bench_commit.py read), not after the Dispatch worker that opened the
    store, and it is one thread."""
    server = ServerOn(tmp_path / "server", tmp_path / "data")
    server.start()
    try:
        server.wait_ready()
        server.client().create_bucket(Bucket="named")
        names = [(task / "comm").read_text().strip() for task in pathlib.Path(f"/proc/{server.proc.pid}/task").iterdir()]
        assert names.count("stowage-writer") == 1, names
        assert any(name.startswith("NIO-") for name in names), names
    finally:
        server.stop()


def test_concurrent_uploads_share_the_md5_lanes(tmp_path):
    """Four multipart uploads at once: their parts' chunks are hashed together in
    MD5Lanes' SIMD lanes (the metrics count rounds with more than one upload in them, on
    the one `stowage-md5` thread), and every part's ETag and the object's are MD5's."""
    import concurrent.futures
    import hashlib
    server = ServerOn(tmp_path / "server", tmp_path / "data")
    server.start()
    try:
        server.wait_ready()
        url = f"http://127.0.0.1:{server.port}"
        s3 = server.client()
        s3.create_bucket(Bucket="lanes")
        # One upload alone: its runs are hashed on its own thread, no lanes round at all.
        s3.put_object(Bucket="lanes", Key="alone", Body=os.urandom(4 << 20))
        samples = scrape_until(url, "stowage_md5_lane_solo_runs", 3)
        assert value(samples, "stowage_md5_lane_solo_runs") >= 3, samples
        assert value(samples, "stowage_md5_lane_solo_runs") == value(samples, "stowage_md5_lane_runs"), samples
        assert value(samples, "stowage_md5_lane_rounds") == 0, samples
        part_bytes = 8 << 20
        # The bodies are made first and each part number starts on all four uploads at once:
        # the uploads' hashing must overlap for their runs to meet in the lanes (a run alone
        # is hashed on its own thread), and the client's own work between parts kept them
        # apart on a busy machine now and then.
        bodies = {(n, number): os.urandom(part_bytes - 1000 * number) for n in range(4) for number in range(1, 5)}
        together = threading.Barrier(4)

        def upload(n: int) -> None:
            client = server.client()
            key = f"big{n}"
            upload_id = client.create_multipart_upload(Bucket="lanes", Key=key)["UploadId"]
            parts, digests = [], []
            for number in range(1, 5):
                body = bodies[(n, number)]
                digest = hashlib.md5(body)
                together.wait(timeout=60)
                answer = client.upload_part(Bucket="lanes", Key=key, UploadId=upload_id, PartNumber=number, Body=body)
                assert answer["ETag"] == f'"{digest.hexdigest()}"', (n, number)
                parts.append({"PartNumber": number, "ETag": answer["ETag"]})
                digests.append(digest.digest())
            done = client.complete_multipart_upload(Bucket="lanes", Key=key, UploadId=upload_id,
                                                    MultipartUpload={"Parts": parts})
            assert done["ETag"] == f'"{hashlib.md5(b"".join(digests)).hexdigest()}-4"', n

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(upload, range(4)))
        names = [(task / "comm").read_text().strip() for task in pathlib.Path(f"/proc/{server.proc.pid}/task").iterdir()]
        assert names.count("stowage-md5") == 1, names
        samples = scrape_until(url, "stowage_md5_lane_runs", 4 * 4 * 7)
        # Each part is eight chunks of up to 1 MiB, each one run in the lanes (a chunk of
        # 64 KiB or less would be hashed on its own thread); at least seven are full.
        assert value(samples, "stowage_md5_lane_runs") >= 4 * 4 * 7, samples
        assert value(samples, "stowage_md5_lane_rounds") > 0
        assert value(samples, "stowage_md5_lane_shared_rounds") > 0, "no round had two uploads in the lanes"
    finally:
        server.stop()


def test_metrics_count_a_known_workload(tmp_path):
    server = ServerOn(tmp_path / "server", tmp_path / "data")
    server.start()
    try:
        server.wait_ready()
        url = f"http://127.0.0.1:{server.port}"
        s3 = server.client()
        s3.create_bucket(Bucket="counted")
        for n in range(3):
            s3.put_object(Bucket="counted", Key=f"k{n}", Body=b"y" * 1000)
        for n in range(2):
            assert len(s3.get_object(Bucket="counted", Key=f"k{n}")["Body"].read()) == 1000
        with pytest.raises(ClientError):
            s3.head_object(Bucket="counted", Key="absent")
        s3.rename_object(Bucket="counted", Key="renamed", RenameSource="k2", ClientToken="token-1")
        s3.rename_object(Bucket="counted", Key="renamed", RenameSource="k2", ClientToken="token-1")   # a retry
        with pytest.raises(ClientError) as mismatch:
            s3.rename_object(Bucket="counted", Key="elsewhere", RenameSource="k2", ClientToken="token-1")
        assert mismatch.value.response["Error"]["Code"] == "IdempotencyParameterMismatch"
        samples = scrape(url)
        assert value(samples, "stowage_requests_total", operation="PutObject", status="200") == 3
        assert value(samples, "stowage_requests_total", operation="GetObject", status="200") == 2
        assert value(samples, "stowage_requests_total", operation="HeadObject", status="404") == 1
        assert value(samples, "stowage_requests_total", operation="RenameObject", status="200") == 2
        for outcome in ("recorded", "replayed", "mismatch"):
            assert value(samples, "stowage_client_tokens_total", outcome=outcome) == 1, outcome
        assert value(samples, "stowage_received_bytes_total", operation="PutObject") == 3000
        assert value(samples, "stowage_sent_bytes_total", operation="GetObject") == 2000
        assert value(samples, "stowage_request_duration_seconds_count", operation="PutObject") == 3
        assert value(samples, "stowage_renamed_objects_total") == 1
        # Group commit: the bucket, three PUTs and the rename each went through a batch.
        assert value(samples, "stowage_commit_batch_size_count") >= 5
        assert value(samples, "stowage_commit_duration_seconds_count") >= 5
        assert value(samples, "stowage_integrity_failures_total") == 0
        assert ("stowage_requests_in_flight", ()) in samples
        assert value(samples, "stowage_connections_open") >= 1
        assert value(samples, "stowage_connections_accepted_total") >= value(samples, "stowage_connections_open")
        # Space and index gauges, refreshed every 5 s from the segment records and LMDB.
        samples = scrape_until(url, "stowage_space_live_bytes", 3000, seconds=20)
        assert value(samples, "stowage_space_live_bytes") >= 3000, "the space gauges never showed the objects' bytes"
        assert value(samples, "stowage_segments") >= 1
        assert value(samples, "stowage_space_capacity_bytes") >= value(samples, "stowage_space_live_bytes")
        assert 0 < value(samples, "stowage_index_used_bytes") <= value(samples, "stowage_index_map_bytes")
        assert ("stowage_compaction_passes", ()) in samples
        # A signed GET /metrics is S3's: a bucket named metrics that does not exist.
        with pytest.raises(ClientError) as error:
            s3.list_objects_v2(Bucket="metrics")
        assert error.value.response["Error"]["Code"] == "NoSuchBucket"
    finally:
        server.stop()


def test_metrics_token_is_required_once_set(tmp_path):
    server = ServerOn(tmp_path / "server", tmp_path / "data", "--metrics-token", "scrape-me")
    server.start()
    try:
        server.wait_ready()
        url = f"http://127.0.0.1:{server.port}"
        refused = requests.get(url + "/metrics", timeout=10)
        assert refused.status_code == 401 and refused.headers["WWW-Authenticate"] == "Bearer"
        assert requests.get(url + "/metrics", headers={"Authorization": "Bearer wrong"}, timeout=10).status_code == 401
        assert ("stowage_requests_in_flight", ()) in scrape(url, Authorization="Bearer scrape-me")
    finally:
        server.stop()


def admin(server, *args, secret: str = TEST_SECRET_KEY) -> subprocess.CompletedProcess:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=TEST_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=secret, AWS_DEFAULT_REGION=REGION)
    return subprocess.run([str(binary()), "admin", *args, "--endpoint", f"http://127.0.0.1:{server.port}"],
                          capture_output=True, text=True, timeout=60, env=env)


def admin_json(server, *args) -> dict:
    done = admin(server, *args, "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def signed_get(server, path: str) -> requests.Response:
    """A GET signed with SigV4 by botocore (the oracle), outside any S3 operation."""
    url = f"http://127.0.0.1:{server.port}{path}"
    request = AWSRequest(method="GET", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"})
    SigV4Auth(Credentials(TEST_ACCESS_KEY, TEST_SECRET_KEY), "s3", REGION).add_auth(request)
    return requests.get(url, headers=dict(request.headers), timeout=10)


def test_admin_views_count_a_known_workload(tmp_path):
    server = ServerOn(tmp_path / "server", tmp_path / "data")
    server.start()
    try:
        server.wait_ready()
        s3 = server.client()
        s3.create_bucket(Bucket="admin-one")
        s3.create_bucket(Bucket="admin-two")
        for n, size in enumerate((1000, 2000, 3000)):
            s3.put_object(Bucket="admin-one", Key=f"dir/k{n}", Body=b"a" * size)
        s3.put_object(Bucket="admin-one", Key="x" * 1000, Body=b"long key")   # a group slot's key
        s3.put_object(Bucket="admin-two", Key="only", Body=b"b" * 10)
        upload = s3.create_multipart_upload(Bucket="admin-one", Key="big")["UploadId"]
        s3.upload_part(Bucket="admin-one", Key="big", UploadId=upload, PartNumber=1, Body=b"p" * (5 << 20))
        s3.upload_part(Bucket="admin-one", Key="big", UploadId=upload, PartNumber=2, Body=b"q" * 100)

        info = admin_json(server, "info")
        version = subprocess.run([str(binary()), "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
        assert info["version"] == version
        assert (info["mode"], info["durability"], info["served"]) == ("embedded", "strict", str(tmp_path / "data"))
        assert info["ready"] is True and info["uptimeSeconds"] > 0
        assert info["usage"] == {"buckets": 2, "objects": 5, "bytes": 6018, "uploadsInProgress": 1,
                                 "uploadedPartBytes": (5 << 20) + 100}
        assert info["space"]["liveBytes"] >= 6018 + (5 << 20)
        assert info["space"]["capacityBytes"] >= info["space"]["liveBytes"]
        assert info["space"]["indexUsedBytes"] > 0 and info["space"]["compactionPasses"] >= 0
        assert info["connections"]["open"] >= 1 and info["connections"]["accepted"] >= info["connections"]["open"]
        assert info["requestsInFlight"] >= 1, "the admin request itself is in flight"

        one = admin_json(server, "bucket", "stats", "admin-one")
        assert one["bucket"] == "admin-one" and one["created"].startswith("20")
        assert one["usage"] == {"objects": 4, "bytes": 6008, "versions": 4, "deleteMarkers": 0, "noncurrentBytes": 0,
                                "uploadsInProgress": 1, "uploadedParts": 2, "uploadedPartBytes": (5 << 20) + 100}
        two = admin_json(server, "bucket", "stats", "admin-two")
        assert two["usage"] == {"objects": 1, "bytes": 10, "versions": 1, "deleteMarkers": 0, "noncurrentBytes": 0,
                                "uploadsInProgress": 0, "uploadedParts": 0, "uploadedPartBytes": 0}

        # The counts follow the store: a deletion and an abort.
        s3.delete_object(Bucket="admin-one", Key="dir/k2")
        s3.abort_multipart_upload(Bucket="admin-one", Key="big", UploadId=upload)
        one = admin_json(server, "bucket", "stats", "admin-one")
        assert (one["usage"]["objects"], one["usage"]["bytes"], one["usage"]["uploadsInProgress"]) == (3, 3008, 0)

        # The text views say the same.
        text = admin(server, "info")
        assert text.returncode == 0, text.stderr
        assert "mode         embedded, durability strict" in text.stdout
        assert "buckets      2" in text.stdout and "objects      4, 2.9 KiB (3018 bytes)" in text.stdout
        text = admin(server, "bucket", "stats", "admin-one")
        assert "objects   3, 2.9 KiB (3008 bytes)" in text.stdout and "uploads   0 in progress" in text.stdout
    finally:
        server.stop()


def test_admin_api_is_signed_and_refuses_what_it_does_not_serve(tmp_path):
    server = ServerOn(tmp_path / "server", tmp_path / "data")
    server.start()
    try:
        server.wait_ready()
        url = f"http://127.0.0.1:{server.port}"
        unsigned = requests.get(url + "/-/admin/info", timeout=10)
        assert unsigned.status_code == 403 and b"<Code>AccessDenied</Code>" in unsigned.content
        wrong = admin(server, "info", secret="not-the-secret")
        assert wrong.returncode != 0 and "403 SignatureDoesNotMatch" in wrong.stderr
        missing = admin(server, "bucket", "stats", "no-such-bucket")
        assert missing.returncode != 0 and "404 NoSuchBucket" in missing.stderr
        assert signed_get(server, "/-/admin/info").status_code == 200
        unknown = signed_get(server, "/-/admin/nothing")
        assert unknown.status_code == 404 and b"NoSuchAdminView" in unknown.content
        # Virtual-hosted style, /-/admin/info is a key of a bucket: S3's request.
        hosted = requests.get(url + "/-/admin/info", headers={"Host": f"somebucket.localhost:{server.port}"}, timeout=5)
        assert hosted.status_code == 403 and b"AccessDenied" in hosted.content
    finally:
        server.stop()


def test_readiness_turns_to_closing_on_sigterm_while_requests_are_still_served(tmp_path):
    server = ServerOn(tmp_path / "server", tmp_path / "data", "--shutdown-delay", "3")
    server.start()
    try:
        server.wait_ready()
        url = f"http://127.0.0.1:{server.port}"
        assert wait_for_ready(url).status_code == 200
        s3 = server.client()
        s3.create_bucket(Bucket="closing")
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        deadline = signalled + 2
        while (ready := requests.get(url + "/-/ready", timeout=5)).status_code == 200:
            assert time.monotonic() < deadline, "readiness never turned to closing"
            time.sleep(0.05)
        assert (ready.status_code, ready.text) == (503, "not ready: closing\n")
        # Still serving during the delay: liveness, S3 requests.
        assert requests.get(url + "/-/healthy", timeout=5).status_code == 200
        s3.put_object(Bucket="closing", Key="during-delay", Body=b"still served")
        assert s3.get_object(Bucket="closing", Key="during-delay")["Body"].read() == b"still served"
        assert server.proc.wait(timeout=30) == 0
        assert time.monotonic() - signalled >= 2.5, "the process did not wait out --shutdown-delay"
    finally:
        server.stop()
    assert "shutting down in 3.0 s" in server.log_path.read_text()


def test_a_second_signal_cuts_the_shutdown_delay_short(tmp_path):
    server = ServerOn(tmp_path / "server", tmp_path / "data", "--shutdown-delay", "600")
    server.start()
    try:
        server.wait_ready()
        url = f"http://127.0.0.1:{server.port}"
        server.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while requests.get(url + "/-/ready", timeout=5).status_code == 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        server.proc.send_signal(signal.SIGINT)
        assert server.proc.wait(timeout=30) == 0
    finally:
        server.stop()
