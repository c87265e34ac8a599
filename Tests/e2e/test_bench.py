"""`stowage bench` (issue 18) against the real server: every operation runs a short load
and must report operations and no error, and what it did must be in the bucket after
(read back with boto3); and through a proxy that flips a byte of every GET body, the
bench must report `verify` errors and exit non-zero — a fast wrong answer is not a fast
answer.
"""
from __future__ import annotations

import json
import os
import pathlib
import socket
import subprocess
import threading

import pytest

from conftest import REPO

OBJECTS = 8
CONCURRENCY = 4
SECONDS = "1"
WARMUP = "0.2"
TIMEOUT_SECONDS = 120


def binary() -> pathlib.Path:
    path = pathlib.Path(os.environ.get("STOWAGE_BIN", REPO / ".build" / "debug" / "stowage"))
    if not path.is_file():
        pytest.fail(f"stowage binary not found at {path}: build it (swift build) or set STOWAGE_BIN", pytrace=False)
    return path


def run_bench(endpoint_url: str, endpoint, bucket: str, *args: str) -> tuple[int, dict, str]:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=endpoint.access_key, AWS_SECRET_ACCESS_KEY=endpoint.secret_key)
    done = subprocess.run([str(binary()), "bench", "--endpoint", endpoint_url, "--bucket", bucket, "--json",
                           "--objects", str(OBJECTS), "--concurrency", str(CONCURRENCY), "--warmup", WARMUP, *args],
                          capture_output=True, text=True, env=env, timeout=TIMEOUT_SECONDS)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {}
    return done.returncode, report, done.stdout + done.stderr


def keys(s3, bucket: str, prefix: str = "bench/") -> dict[str, int]:
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = item["Size"]
    return found


# (mix, extra arguments)
OPERATIONS = [
    ("put", ["--obj-size", "1KiB-16KiB"]),
    ("get", ["--obj-size", "1KiB-16KiB"]),
    ("get-range", ["--obj-size", "16KiB", "--range-size", "1000"]),
    ("head", []),
    ("delete", []),
    ("list", []),
    ("copy", []),
    ("rename-object", []),
    ("rename-prefix", ["--prefix-objects", "3"]),
    ("multipart", ["--obj-size", "6MiB", "--part-size", "5MiB", "--count", "4"]),
    ("get=50,put=20,delete=10,rename-object=10,head=10", ["--obj-size", "1KiB-8KiB"]),
]


@pytest.mark.parametrize("mix, extra", OPERATIONS, ids=[m.split("=")[0] if "," not in m else "mixed" for m, _ in OPERATIONS])
def test_each_operation_runs_clean_and_leaves_the_objects(s3_endpoint, s3, bucket_name_factory, mix, extra):
    bucket = bucket_name_factory("bench")
    status, report, output = run_bench(s3_endpoint.url, s3_endpoint, bucket, "--mix", mix, "--duration", SECONDS, *extra)
    assert status == 0, output
    assert report["errors"] == 0 and report["verify_errors"] == 0, output
    for operation in [part.split("=")[0] for part in mix.split(",")]:
        figures = report["operations"][operation]
        assert figures["ops"] > 0, output
        assert figures["errors"] == {}, output
        assert figures["latency_ms"]["p50"] > 0 and figures["latency_ms"]["max"] >= figures["latency_ms"]["p99"]
    assert report["client_cpu"]["user_s"] + report["client_cpu"]["system_s"] > 0

    stored = keys(s3, bucket)
    slots = range(OBJECTS)
    objects = {key: size for key, size in stored.items() if key.startswith("bench/obj-")}
    if mix in ("get", "get-range", "head", "list"):  # all written at set-up
        assert set(objects) == {f"bench/obj-{n}" for n in slots}, stored
    if mix in ("put", "multipart"):  # the slots the load drew
        assert objects and set(objects) <= {f"bench/obj-{n}" for n in slots}, stored
    low, high = report["object_size"]["min_bytes"], report["object_size"]["max_bytes"]
    assert all(low <= size <= high for size in objects.values()), stored
    if mix == "delete":
        assert not any(key.startswith("bench/obj-") for key in stored), stored
    if mix == "copy":
        copies = [n for n in slots if f"bench/copy-{n}" in stored]
        assert copies
        for n in copies:
            assert s3.get_object(Bucket=bucket, Key=f"bench/copy-{n}")["Body"].read() == \
                s3.get_object(Bucket=bucket, Key=f"bench/obj-{n}")["Body"].read()
    if mix == "rename-object":
        # Each object under exactly one of its two names, and some moved.
        for n in slots:
            assert (f"bench/obj-{n}" in stored) != (f"bench/obj-{n}.moved" in stored), stored
        assert any(key.endswith(".moved") for key in stored)
    if mix == "rename-prefix":
        for n in slots:
            under_a = {k for k in stored if k.startswith(f"bench/dir-{n}/a/")}
            under_b = {k for k in stored if k.startswith(f"bench/dir-{n}/b/")}
            assert (len(under_a), len(under_b)) in ((3, 0), (0, 3)), stored
        assert any("/b/" in key for key in stored)


class CorruptingProxy:
    """Forwards TCP to the server; in each answer with a body (Content-Length, as
    Stowage's GETs have), flips the first byte of the body — or, with `close_each`,
    leaves the bytes alone and closes the connection after each answer; with neither
    (`flip=False`), forwards the answers as they are. `sent` keeps what clients sent."""

    def __init__(self, target_host: str, target_port: int, close_each: bool = False, flip: bool = True):
        self.target = (target_host, target_port)
        self.close_each = close_each
        self.flip = flip
        # The first bytes each connection sent to the server, for tests to read.
        self.sent: list[bytes] = []
        self.closed = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.flipped = 0
        self.stopping = False
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            threading.Thread(target=self.pump, args=(client, server, self.sent), daemon=True).start()
            if self.flip or self.close_each:
                threading.Thread(target=self.corrupt, args=(server, client), daemon=True).start()
            else:  # answers as they come (HEAD's Content-Length has no body to wait for)
                threading.Thread(target=self.pump, args=(server, client, []), daemon=True).start()

    @staticmethod
    def pump(source, sink, sent: list[bytes]):
        kept = 0
        try:
            while data := source.recv(65536):
                if kept < 1 << 20:
                    sent.append(data)
                    kept += len(data)
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def corrupt(self, source, sink):
        buffer, remaining, flip = b"", 0, False
        try:
            while data := source.recv(65536):
                buffer += data
                while buffer:
                    if remaining == 0:
                        end = buffer.find(b"\r\n\r\n")
                        if end < 0:
                            break
                        head, buffer = buffer[:end + 4], buffer[end + 4:]
                        sink.sendall(head)
                        length = 0
                        for line in head.split(b"\r\n")[1:]:
                            name, _, value = line.partition(b":")
                            if name.strip().lower() == b"content-length":
                                length = int(value.strip())
                        remaining, flip = length, length > 0 and head.startswith(b"HTTP/1.1 200") and self.flip \
                            and not self.close_each
                        if remaining == 0 and self.close_each:
                            return self.hang_up(source, sink)
                        continue
                    piece, buffer = buffer[:remaining], buffer[remaining:]
                    remaining -= len(piece)
                    if flip:
                        piece = bytes([piece[0] ^ 0x01]) + piece[1:]
                        flip = False
                        self.flipped += 1
                    sink.sendall(piece)
                    if remaining == 0 and self.close_each:
                        return self.hang_up(source, sink)
        except OSError:
            pass

    def hang_up(self, *sockets):
        self.closed += 1
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.stopping = True
        self.listener.close()


def test_a_corrupted_body_is_a_verify_error_and_fails_the_run(s3_endpoint, bucket_name_factory):
    bucket = bucket_name_factory("bench")
    proxy = CorruptingProxy(s3_endpoint.host, s3_endpoint.port)
    try:
        status, report, output = run_bench(f"http://127.0.0.1:{proxy.port}", s3_endpoint, bucket,
                                           "--mix", "get", "--duration", SECONDS, "--concurrency", "2")
    finally:
        proxy.close()
    assert proxy.flipped > 0
    assert status == 1, output
    assert report["verify_errors"] > 0, output
    assert report["operations"]["get"]["errors"].get("verify", 0) == report["verify_errors"]
    assert "verify" in json.dumps(report["operations"]["get"]["errors"])


def test_connections_the_server_closes_are_reopened(s3_endpoint, bucket_name_factory):
    """A server that closes the connection after each answer (as moto's does): the bench
    opens a new one for the next request, with no error."""
    bucket = bucket_name_factory("bench")
    proxy = CorruptingProxy(s3_endpoint.host, s3_endpoint.port, close_each=True)
    try:
        status, report, output = run_bench(f"http://127.0.0.1:{proxy.port}", s3_endpoint, bucket,
                                           "--mix", "get=3,put=1", "--duration", SECONDS, "--concurrency", "2")
    finally:
        proxy.close()
    assert status == 0, output
    assert report["errors"] == 0 and report["operations"]["get"]["ops"] > 0, output
    assert proxy.closed > report["total"]["ops"] / 2


def test_presigned_urls_carry_the_signature_and_are_checked(s3_endpoint, s3, bucket_name_factory):
    """`--presigned`: SigV4 in the query, no Authorization header, one URL per object and
    method sent again; the server checks each (a wrong secret is refused)."""
    bucket = bucket_name_factory("bench")
    proxy = CorruptingProxy(s3_endpoint.host, s3_endpoint.port, flip=False)
    try:
        status, report, output = run_bench(f"http://127.0.0.1:{proxy.port}", s3_endpoint, bucket, "--presigned",
                                           "--mix", "get=4,put=2,head=1,delete=1", "--duration", SECONDS)
    finally:
        proxy.close()
    assert status == 0, output
    assert report["presigned"] is True and report["errors"] == 0 and report["verify_errors"] == 0, output
    sent = b"".join(proxy.sent)
    assert b"authorization:" not in sent.lower()
    signatures = set(part.split(b" ")[0] for part in sent.split(b"X-Amz-Signature=")[1:])
    # One URL per object and method (the bucket's own PUT too), each sent many times.
    assert 0 < len(signatures) <= OBJECTS * 4 + 1 < report["total"]["ops"], (len(signatures), report["total"])
    assert set(keys(s3, bucket)) <= {f"bench/obj-{n}" for n in range(OBJECTS)}

    done = subprocess.run([str(binary()), "bench", "--endpoint", s3_endpoint.url, "--bucket", bucket, "--presigned",
                           "--mix", "get", "--duration", SECONDS, "--objects", str(OBJECTS), "--no-setup", "--json",
                           "--access-key", s3_endpoint.access_key, "--secret-key", "not-" + s3_endpoint.secret_key],
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
    assert done.returncode == 1, done.stdout + done.stderr
    refused = json.loads(done.stdout)
    assert refused["operations"]["get"]["errors"].get("HTTP 403 SignatureDoesNotMatch", 0) == \
        refused["operations"]["get"]["ops"] > 0, done.stdout


def test_usage_errors_are_refused_before_any_request(s3_endpoint):
    done = subprocess.run([str(binary()), "bench", "--endpoint", s3_endpoint.url, "--mix", "fetch=1"],
                          capture_output=True, text=True, timeout=TIMEOUT_SECONDS,
                          env=dict(os.environ, AWS_ACCESS_KEY_ID="x", AWS_SECRET_ACCESS_KEY="y"))
    assert done.returncode != 0
    assert "unknown operation" in done.stderr


def test_no_setup_reads_the_objects_an_earlier_run_wrote(s3_endpoint, bucket_name_factory):
    bucket = bucket_name_factory("bench")
    first, _, output = run_bench(s3_endpoint.url, s3_endpoint, bucket, "--mix", "head", "--duration", "0.3")
    assert first == 0, output
    status, report, output = run_bench(s3_endpoint.url, s3_endpoint, bucket, "--mix", "get", "--duration", SECONDS,
                                       "--no-setup")
    assert status == 0, output
    assert report["operations"]["get"]["ops"] > 0 and report["operations"]["get"]["absent"] == 0, output


def test_readers_share_fewer_objects_than_connections(s3_endpoint, s3, bucket_name_factory):
    """Many readers of one large object (point 4's 64 downloads of 1 GiB): a mix that only
    reads may have fewer objects than connections; each object is PUT once and every
    connection's GETs of it are checked."""
    bucket = bucket_name_factory("bench")
    status, report, output = run_bench(s3_endpoint.url, s3_endpoint, bucket, "--mix", "get=3,head=1",
                                       "--duration", SECONDS, "--objects", "2", "--concurrency", "6",
                                       "--obj-size", "64KiB")
    assert status == 0, output
    assert report["errors"] == 0 and report["operations"]["get"]["ops"] >= 6, output
    assert keys(s3, bucket) == {"bench/obj-0": 65536, "bench/obj-1": 65536}


def test_a_mix_that_writes_keeps_one_object_per_connection_at_least(s3_endpoint, s3, bucket_name_factory):
    bucket = bucket_name_factory("bench")
    status, report, output = run_bench(s3_endpoint.url, s3_endpoint, bucket, "--mix", "get=3,put=1",
                                       "--duration", SECONDS, "--objects", "2", "--concurrency", "3")
    assert status == 0, output
    assert sorted(keys(s3, bucket)) == ["bench/obj-0", "bench/obj-1", "bench/obj-2"]


@pytest.mark.parametrize("stack", ["hummingbird", "nio"])
def test_unsigned_reads_the_written_files_from_the_http_floor(tmp_path, stack):
    """`--write-files` writes the bench's objects as files; `stowage http-floor` (the
    side by side's references: through Hummingbird, or NIO's channel handlers alone)
    serves them from memory; `--unsigned` reads them back with every body checked. A
    wrong byte in a file is a verify error."""
    import http.client
    import urllib.request

    root = tmp_path / "www"
    subprocess.run([str(binary()), "bench", "--write-files", str(root), "--bucket", "files", "--obj-size", "4KiB",
                    "--objects", str(OBJECTS), "--unsigned"], check=True, timeout=TIMEOUT_SECONDS)
    files = sorted(p for p in root.rglob("*") if p.is_file())
    assert len(files) == OBJECTS and all(p.stat().st_size == 4096 for p in files)

    def serve() -> tuple[subprocess.Popen, int]:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        process = subprocess.Popen([str(binary()), "http-floor", "--root", str(root), "--port", str(port),
                                    "--stack", stack],
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert "serving" in process.stdout.readline()
        return process, port

    process, port = serve()
    try:
        relative = "/" + files[0].relative_to(root).as_posix()
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{relative}", timeout=10) as answer:
            assert answer.read() == files[0].read_bytes()
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        connection.request("GET", "/files/absent")
        answer = connection.getresponse()
        assert answer.status == 404 and answer.read() == b""
        connection.request("HEAD", relative)  # the same connection, kept alive
        answer = connection.getresponse()
        assert answer.status == 200 and answer.getheader("Content-Length") == "4096" and answer.read() == b""
        connection.request("GET", relative)
        assert connection.getresponse().read() == files[0].read_bytes()
        connection.close()
        done = subprocess.run([str(binary()), "bench", "--endpoint", f"http://127.0.0.1:{port}", "--bucket", "files",
                               "--json", "--objects", str(OBJECTS), "--concurrency", str(CONCURRENCY), "--warmup", WARMUP,
                               "--unsigned", "--mix", "get", "--obj-size", "4KiB", "--duration", SECONDS],
                              capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
        assert done.returncode == 0, done.stdout + done.stderr
        figures = json.loads(done.stdout)["operations"]["get"]
        assert figures["ops"] > 0 and not figures["errors"]
    finally:
        process.terminate()
        process.wait(10)

    # One byte changed in one file: the floor serves it, the bench refuses it.
    damaged = bytearray(files[0].read_bytes())
    damaged[100] ^= 0xFF
    files[0].write_bytes(bytes(damaged))
    process, port = serve()
    try:
        done = subprocess.run([str(binary()), "bench", "--endpoint", f"http://127.0.0.1:{port}", "--bucket", "files",
                               "--json", "--objects", str(OBJECTS), "--concurrency", "1", "--warmup", "0",
                               "--unsigned", "--mix", "get", "--obj-size", "4KiB", "--count", str(OBJECTS * 2)],
                              capture_output=True, text=True, timeout=TIMEOUT_SECONDS)
        assert done.returncode != 0
        assert "verify" in json.loads(done.stdout)["operations"]["get"]["errors"]
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize("stack", ["hummingbird", "nio"])
def test_the_signed_http_floor_checks_every_signature_and_stores_nothing(tmp_path, stack):
    """`stowage http-floor --signed` (the ceilings of `bench_wrk.py`): every request must
    carry a SigV4 signature of the floor's key, in the header or presigned; a GET answers
    the file with S3's headers (ETag the MD5 of it), a PUT the MD5 of the body it read,
    and nothing a PUT sends is kept."""
    import hashlib
    import urllib.error
    import urllib.request

    import boto3
    from botocore.config import Config

    root = tmp_path / "www"
    (root / "files").mkdir(parents=True)
    original = os.urandom(4096)
    (root / "files" / "obj").write_bytes(original)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen([str(binary()), "http-floor", "--root", str(root), "--port", str(port), "--stack", stack,
                                "--signed", "--access-key", "FLOORKEY", "--secret-key", "floor-secret"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert "signed" in process.stdout.readline()
        url = f"http://127.0.0.1:{port}"

        def client(secret: str):
            return boto3.session.Session().client(
                "s3", endpoint_url=url, aws_access_key_id="FLOORKEY", aws_secret_access_key=secret,
                region_name="us-east-1",
                config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))

        s3 = client("floor-secret")
        answer = s3.get_object(Bucket="files", Key="obj")
        assert answer["Body"].read() == original
        assert answer["ETag"] == '"' + hashlib.md5(original).hexdigest() + '"'
        assert answer["ResponseMetadata"]["HTTPHeaders"]["x-amz-request-id"]

        presigned = s3.generate_presigned_url("get_object", Params={"Bucket": "files", "Key": "obj"}, ExpiresIn=60)
        with urllib.request.urlopen(presigned, timeout=10) as reply:
            assert reply.read() == original
        for refused in (url + "/files/obj", presigned[:-1] + ("0" if presigned[-1] != "0" else "1"),
                        client("wrong").generate_presigned_url("get_object", Params={"Bucket": "files", "Key": "obj"})):
            with pytest.raises(urllib.error.HTTPError) as error:
                urllib.request.urlopen(refused, timeout=10)
            assert error.value.code == 403

        sent = os.urandom(4096)
        put = s3.put_object(Bucket="files", Key="obj", Body=sent)
        assert put["ETag"] == '"' + hashlib.md5(sent).hexdigest() + '"'
        assert s3.get_object(Bucket="files", Key="obj")["Body"].read() == original
        with pytest.raises(Exception) as error:
            client("wrong").put_object(Bucket="files", Key="obj", Body=sent)
        assert "403" in str(error.value) or "Forbidden" in str(error.value)
    finally:
        process.terminate()
        process.wait(10)
