"""Operating the server (issue 19, first part): liveness and readiness answered without
credentials, `stowage --version`, and one structured log line per request — as text
(key=value) or JSON (`--log-format json`), slow requests flagged."""

from __future__ import annotations

import json
import pathlib
import subprocess
import time

import pytest
import requests
from botocore.exceptions import ClientError

from conftest import TEST_ACCESS_KEY
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
    for field in ("status=200", "bucket=texted", "key=k", "bytes_in=3", f"user={TEST_ACCESS_KEY}", "ms="):
        assert field in line, line
    assert "slow=" not in line, "a fast request under the default 1,000 ms threshold is not slow"


def test_bad_log_options_are_refused(tmp_path):
    for args, message in [(["--log-format", "xml"], "--log-format"), (["--slow-request-ms", "-1"], "--slow-request-ms"),
                          (["--log-level", "loud"], "--log-level")]:
        done = subprocess.run([str(binary()), "serve", "--data", str(tmp_path / "d"), "--port", "0", *args],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode != 0 and message in done.stderr, (args, done.stderr)
