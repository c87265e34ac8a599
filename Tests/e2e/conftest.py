"""Fixtures for Stowage's end-to-end suite.

The suite drives a real S3 endpoint with real clients (boto3, the aws CLI, s3cmd,
rclone). By default it starts the `stowage` binary itself; with STOWAGE_E2E_ENDPOINT
set it uses that endpoint instead, so the same tests can be pointed at any S3 server.

Environment:
  STOWAGE_BIN                 binary to start (default <repo>/.build/debug/stowage)
  STOWAGE_E2E_ENDPOINT        use this endpoint, start nothing (e.g. http://127.0.0.1:9000)
  STOWAGE_E2E_ACCESS_KEY      its access key (default: the suite's test key)
  STOWAGE_E2E_SECRET_KEY      its secret key (default: the suite's test secret)
  STOWAGE_E2E_CLUSTER         a cluster.env written by `scripts/cluster.sh up`: run against
                              its gateways, boto3's requests alternating between them
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import boto3
import botocore.auth
import pytest
import requests
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from cluster_env import read_cluster_env

REPO = pathlib.Path(__file__).resolve().parents[2]
REGION = "us-east-1"
TEST_ACCESS_KEY = "STOWAGEE2ETESTKEY001"
TEST_SECRET_KEY = "stowage/e2e+Secret0123456789abcdefghijkl"
READY_TIMEOUT_SECONDS = 120
STOP_GRACE_SECONDS = 20
LOG_TAIL_LINES = 80
COMMAND_TIMEOUT_SECONDS = 120


# ---------------------------------------------------------------------------
# The server under test
# ---------------------------------------------------------------------------


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class StowageProcess:
    """One `stowage serve` child process, stopped by its PID only."""

    def __init__(self, binary: pathlib.Path, workdir: pathlib.Path, extra_args: list[str] | None = None):
        self.binary = binary
        self.extra_args = list(extra_args or [])
        self.data_dir = workdir / "data"
        self.log_path = workdir / "stowage.log"
        self.port = free_loopback_port()
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "wb")
        argv = [
            str(self.binary), "serve",
            "--data", str(self.data_dir),
            "--address", "127.0.0.1",
            "--port", str(self.port),
            "--access-key", TEST_ACCESS_KEY,
            "--secret-key", TEST_SECRET_KEY,
        ] + self.extra_args
        self.proc = subprocess.Popen(
            argv, stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )

    def exited(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"
        return "\n".join(text.splitlines()[-lines:])

    def describe_death(self) -> str:
        return (
            f"stowage (pid {self.proc.pid}) exited with status {self.proc.returncode} "
            f"during the run.\n--- last {LOG_TAIL_LINES} lines of {self.log_path} ---\n"
            f"{self.log_tail()}"
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self.exited():
                pytest.fail("stowage did not start: " + self.describe_death(), pytrace=False)
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    pass
                # Connected: an anonymous GET / must now get an HTTP answer (403).
                requests.get(f"http://127.0.0.1:{self.port}/", timeout=5)
                return
            except (OSError, requests.RequestException):
                time.sleep(0.1)
        self.stop()
        pytest.fail(
            f"stowage was not ready on port {self.port} after {READY_TIMEOUT_SECONDS} s\n"
            f"--- log tail ---\n{self.log_tail()}",
            pytrace=False,
        )

    def stop(self) -> tuple[int | None, bool]:
        """SIGTERM, then SIGKILL after the grace period. Returns (status, needed_kill)."""
        if self.proc is None:
            return None, False
        needed_kill = False
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_GRACE_SECONDS)
            except subprocess.TimeoutExpired:
                needed_kill = True
                self.proc.kill()
                self.proc.wait(timeout=30)
        if self._log is not None:
            self._log.close()
        return self.proc.returncode, needed_kill


@dataclasses.dataclass
class Endpoint:
    url: str
    host: str
    port: int
    access_key: str
    secret_key: str
    server: StowageProcess | None
    gateways: tuple[str, ...] = ()
    # The serving processes: the local server, or a cluster's gateways (the first serves `url`).
    pids: tuple[int, ...] = ()

    @property
    def netloc(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.pids, "this test measures the stowage process, and an external endpoint has none here"
        return self.pids[0]

    def alive(self) -> bool:
        """Every serving process still runs."""
        def running(pid: int) -> bool:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            return pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
        return all(running(pid) for pid in self.pids)


@pytest.fixture(scope="session")
def s3_endpoint():
    cluster = os.environ.get("STOWAGE_E2E_CLUSTER")
    if cluster:
        env = read_cluster_env(cluster)
        urls = tuple(env["STOWAGE_ENDPOINTS"].split(","))
        parsed = urlsplit(urls[0])
        pid_files = [pathlib.Path(cluster).parent / "pids" / f"gateway{n + 1}" for n in range(len(urls))]
        yield Endpoint(url=urls[0], host=parsed.hostname, port=parsed.port or 80,
                       access_key=env["STOWAGE_ACCESS_KEY"], secret_key=env["STOWAGE_SECRET_KEY"],
                       server=None, gateways=urls, pids=tuple(int(f.read_text()) for f in pid_files))
        return
    external = os.environ.get("STOWAGE_E2E_ENDPOINT")
    if external:
        url = external.rstrip("/")
        parsed = urlsplit(url)
        yield Endpoint(
            url=url,
            host=parsed.hostname,
            port=parsed.port or 80,
            access_key=os.environ.get("STOWAGE_E2E_ACCESS_KEY", TEST_ACCESS_KEY),
            secret_key=os.environ.get("STOWAGE_E2E_SECRET_KEY", TEST_SECRET_KEY),
            server=None,
        )
        return

    binary = pathlib.Path(os.environ.get("STOWAGE_BIN", REPO / ".build" / "debug" / "stowage"))
    if not binary.is_file():
        pytest.fail(
            f"stowage binary not found at {binary}: build it (swift build) or set STOWAGE_BIN, "
            "or point the suite at a running server with STOWAGE_E2E_ENDPOINT",
            pytrace=False,
        )
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="stowage-e2e-"))
    # A master key, so that SSE-S3 and SSE-KMS are served (test_encryption.py).
    master_key = workdir / "master.key"
    master_key.write_text(os.urandom(32).hex())
    # No background compaction: a pass copies live extents into the open segment whenever
    # its timer fires, which would look like a stray write to the tests that watch the
    # segment files (segment_files). test_compaction.py and test_soak.py start their own
    # servers with it on.
    server = StowageProcess(binary, workdir, ["--master-key-file", str(master_key), "--compaction-interval", "0"])
    server.start()
    server.wait_ready()
    try:
        yield Endpoint(
            url=f"http://127.0.0.1:{server.port}",
            host="127.0.0.1",
            port=server.port,
            access_key=TEST_ACCESS_KEY,
            secret_key=TEST_SECRET_KEY,
            server=server,
            pids=(server.proc.pid,),
        )
    finally:
        died = server.exited()
        _, needed_kill = server.stop()
        if died:
            pytest.fail(server.describe_death(), pytrace=False)
        if needed_kill:
            pytest.fail(
                f"stowage ignored SIGTERM for {STOP_GRACE_SECONDS} s and was killed\n"
                f"--- log tail ---\n{server.log_tail()}",
                pytrace=False,
            )
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def segment_files(s3_endpoint):
    """segment_files() → {name: (size, allocated bytes, mtime_ns)} of every file in the
    started server's `segments/` directory. Segment files are preallocated, so a write
    into one changes its mtime (and maybe nothing else); a new segment adds a file.

    Against a cluster (STOWAGE_E2E_CLUSTER) the bytes are RADOS objects, each written once
    by one writer and never rewritten: the snapshot is the objects that appeared since the
    fixture was made, {name: (0, 0, 0)} (objects deleted meanwhile by the deletion queue
    are not writes, and are left out)."""
    cluster = os.environ.get("STOWAGE_E2E_CLUSTER")
    if cluster:
        env = read_cluster_env(cluster)

        def rados_names() -> set[str]:
            listed = subprocess.run(["rados", "-c", env["STOWAGE_CEPH_CONF"], "-p", env["STOWAGE_RADOS_POOL"], "ls"],
                                    capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=True)
            return set(listed.stdout.split())

        baseline = rados_names()
        return lambda: {name: (0, 0, 0) for name in rados_names() - baseline}
    if s3_endpoint.server is None:
        pytest.fail(
            "this test reads the server's data directory: it needs the suite's own server "
            "(unset STOWAGE_E2E_ENDPOINT)",
            pytrace=False,
        )
    directory = s3_endpoint.server.data_dir / "segments"

    def snapshot() -> dict[str, tuple[int, int, int]]:
        files = {}
        for path in directory.iterdir():
            info = path.stat()
            files[path.name] = (info.st_size, info.st_blocks * 512, info.st_mtime_ns)
        return files

    return snapshot


@pytest.fixture(autouse=True)
def _server_still_alive(request):
    """Fail the test during which the server died, with its log tail."""
    yield
    if "s3_endpoint" not in request.fixturenames:
        return
    endpoint = request.getfixturevalue("s3_endpoint")
    if endpoint.server is not None and endpoint.server.exited():
        pytest.fail(endpoint.server.describe_death(), pytrace=False)
    if endpoint.server is None and not endpoint.alive():
        pytest.fail(f"a gateway of the cluster died during the test (PIDs {endpoint.pids})", pytrace=False)


# ---------------------------------------------------------------------------
# boto3
# ---------------------------------------------------------------------------


def _client_config(addressing_style: str = "path") -> Config:
    return Config(
        region_name=REGION,
        signature_version="s3v4",
        s3={"addressing_style": addressing_style},
        retries={"mode": "standard", "max_attempts": 2},
        connect_timeout=10,
        read_timeout=120,
        max_pool_connections=16,
    )


@pytest.fixture(scope="session")
def make_client(s3_endpoint):
    """make_client(access_key=…, secret_key=…) → a boto3 S3 client on the endpoint."""

    def make(access_key: str | None = None, secret_key: str | None = None, **config):
        client = boto3.session.Session().client(
            "s3",
            endpoint_url=s3_endpoint.url,
            aws_access_key_id=access_key or s3_endpoint.access_key,
            aws_secret_access_key=secret_key or s3_endpoint.secret_key,
            region_name=REGION,
            config=_client_config(**config),
        )
        if len(s3_endpoint.gateways) > 1:
            alternate_gateways(client, s3_endpoint.gateways)
        return client

    return make


def alternate_gateways(client, gateways: tuple[str, ...]) -> None:
    """Sends each request of `client` to the next gateway in turn: the URL is rewritten
    before the request is signed, so the signature covers the gateway it goes to."""
    netlocs = [urlsplit(url).netloc for url in gateways]
    turn = {"next": 0}

    def rotate(request, **_):
        parts = urlsplit(request.url)
        netloc = netlocs[turn["next"] % len(netlocs)]
        turn["next"] += 1
        request.url = parts._replace(netloc=netloc).geturl()
        if "Host" in request.headers:
            del request.headers["Host"]

    client.meta.events.register("before-sign.s3", rotate)


@pytest.fixture(scope="session")
def s3(make_client):
    return make_client()


def new_bucket_name(tag: str = "t") -> str:
    return f"e2e-{tag}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def bucket_name_factory(s3):
    """Unique bucket names; any bucket created under them is emptied and removed."""
    names: list[str] = []

    def make(tag: str = "t") -> str:
        name = new_bucket_name(tag)
        names.append(name)
        return name

    yield make
    for name in names:
        delete_bucket_quietly(s3, name)


def delete_bucket_quietly(s3, name: str) -> None:
    """Best-effort cleanup: a failure here must not hide the test's own result."""
    with contextlib.suppress(Exception):
        # As tools that destroy buckets do: every version, delete markers included.
        paginator = s3.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=name):
            versions = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                        for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if versions:
                s3.delete_objects(Bucket=name, Delete={"Objects": versions, "Quiet": True})
        s3.delete_bucket(Bucket=name)


@pytest.fixture(scope="session")
def shared_bucket_factory(s3):
    """Create a bucket meant to be shared (read-only) by several tests; removed at the end."""
    names: list[str] = []

    def make(tag: str = "shared") -> str:
        name = new_bucket_name(tag)
        names.append(name)
        s3.create_bucket(Bucket=name)
        return name

    yield make
    for name in names:
        delete_bucket_quietly(s3, name)


@pytest.fixture
def bucket(s3, bucket_name_factory):
    """A fresh, empty bucket for one test."""
    name = bucket_name_factory()
    s3.create_bucket(Bucket=name)
    return name


# ---------------------------------------------------------------------------
# Error assertions
# ---------------------------------------------------------------------------


class ExpectedError:
    """`with s3_error(412, "PreconditionFailed", condition="If-Match") as err: …`

    Asserts that the block raises a botocore ClientError with exactly this HTTP status
    and S3 error code (HEAD errors have no body: botocore reports the status as the
    code, e.g. "404") and, when given, the <Condition> element of a 412.
    `err.response` holds botocore's parsed response. (test_protocol.py checks
    x-amz-request-id on every kind of response, so that moto-style servers that lack it
    fail there once, not everywhere.)
    """

    def __init__(self, status: int, code: str, condition: str | None = None):
        self.status = status
        self.code = code
        self.condition = condition
        self.response: dict | None = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            pytest.fail(f"expected {self.status} {self.code}, but the request succeeded")
        if not issubclass(exc_type, ClientError):
            return False
        self.response = exc.response
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        got = (meta.get("HTTPStatusCode"), error.get("Code"))
        assert got == (self.status, self.code), (
            f"expected {self.status} {self.code}, got {got[0]} {got[1]}: {error}"
        )
        if self.condition is not None:
            assert error.get("Condition") == self.condition, (
                f"expected <Condition>{self.condition}</Condition>, got error {error}"
            )
        return True


@pytest.fixture(scope="session")
def s3_error():
    return ExpectedError


def parse_error_xml(body: bytes) -> dict[str, str]:
    """The children of an S3 <Error> document, tag → text."""
    root = parse_xml(body)
    assert root.tag == "Error", f"not an S3 error document: {body[:500]!r}"
    return {child.tag: (child.text or "") for child in root}


def parse_xml(body: bytes) -> ET.Element:
    """Parse an S3 XML document with namespaces dropped from tags, as botocore reads it."""
    root = ET.fromstring(body)
    for element in root.iter():
        element.tag = element.tag.rpartition("}")[2]
    return root


@pytest.fixture(scope="session")
def xml_document():
    return parse_xml


@pytest.fixture(scope="session")
def error_xml():
    return parse_error_xml


# ---------------------------------------------------------------------------
# Raw signed HTTP, for what the SDK will not send
# ---------------------------------------------------------------------------


class RawS3:
    """Hand-built SigV4 requests sent with `requests`.

    `path` is the already-encoded request path ("/bucket/key"); `virtual_host` sends
    the request to the endpoint with Host `BUCKET.localhost:PORT` (path then excludes
    the bucket); `now` signs with a fake clock.
    """

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint

    def signed_headers(self, method, url, headers, body, access_key, secret_key, now):
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        credentials = Credentials(access_key, secret_key)
        signer = botocore.auth.S3SigV4Auth(credentials, "s3", REGION)
        if now is None:
            signer.add_auth(request)
        else:
            with _fake_signing_clock(now):
                signer.add_auth(request)
        return {k: v for k, v in request.headers.items()}

    def request(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: dict | None = None,
        body: bytes = b"",
        sign: bool = True,
        access_key: str | None = None,
        secret_key: str | None = None,
        virtual_host: str | None = None,
        now=None,
    ) -> requests.Response:
        headers = dict(headers or {})
        suffix = path + (f"?{query}" if query else "")
        send_url = f"{self.endpoint.url}{suffix}"
        if virtual_host is not None:
            host = f"{virtual_host}.localhost:{self.endpoint.port}"
            headers["Host"] = host
            sign_url = f"http://{host}{suffix}"
        else:
            sign_url = send_url
        if sign:
            headers = self.signed_headers(
                method, sign_url, headers, body,
                access_key or self.endpoint.access_key,
                secret_key or self.endpoint.secret_key,
                now,
            )
        return requests.request(
            method, send_url, headers=headers, data=body, timeout=60, allow_redirects=False
        )


@contextlib.contextmanager
def _fake_signing_clock(now):
    original = botocore.auth.get_current_datetime
    botocore.auth.get_current_datetime = lambda *args, **kwargs: now
    try:
        yield
    finally:
        botocore.auth.get_current_datetime = original


@pytest.fixture(scope="session")
def raw(s3_endpoint):
    return RawS3(s3_endpoint)


@pytest.fixture(scope="session")
def fake_signing_clock():
    """Context manager: boto3 / botocore sign as if the time were `now` (naive UTC)."""
    return _fake_signing_clock


# ---------------------------------------------------------------------------
# Command-line clients
# ---------------------------------------------------------------------------


class Command:
    """A command-line client with a fixed environment. Calls check the exit status."""

    def __init__(self, argv_prefix: list[str], env: dict[str, str], cwd: pathlib.Path):
        self.argv_prefix = argv_prefix
        self.env = env
        self.cwd = cwd

    def run(self, *args, expect_status: int | None = 0, timeout=COMMAND_TIMEOUT_SECONDS):
        argv = [*self.argv_prefix, *map(str, args)]
        try:
            done = subprocess.run(
                argv, env=self.env, cwd=self.cwd, capture_output=True, text=True,
                timeout=timeout, stdin=subprocess.DEVNULL,
            )
        except subprocess.TimeoutExpired as error:
            pytest.fail(
                f"{' '.join(argv)} timed out after {timeout} s\n"
                f"stdout:\n{error.stdout}\nstderr:\n{error.stderr}"
            )
        description = (
            f"{' '.join(argv)} exited {done.returncode}\n"
            f"--- stdout ---\n{done.stdout}\n--- stderr ---\n{done.stderr}"
        )
        if expect_status is not None:
            assert done.returncode == expect_status, description
        elif done.returncode == 0:
            pytest.fail("expected a failure:\n" + description)
        return done

    def __call__(self, *args, **kwargs):
        return self.run(*args, **kwargs)

    def fails(self, *args, **kwargs):
        return self.run(*args, expect_status=None, **kwargs)


def clean_environment(home: pathlib.Path) -> dict[str, str]:
    """The caller's environment without any AWS_*/RCLONE_* settings, HOME in tmp."""
    env = {
        k: v for k, v in os.environ.items()
        if not k.startswith(("AWS_", "RCLONE_", "BOTO_", "S3CMD"))
    }
    env["HOME"] = str(home)
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@pytest.fixture
def aws_cli(s3_endpoint, tmp_path):
    """`aws …` with path-style addressing and single-part transfers up to 1 GB."""
    home = tmp_path / "aws-home"
    home.mkdir()
    config = home / "config"
    config.write_text(
        "[default]\n"
        f"region = {REGION}\n"
        "s3 =\n"
        "    addressing_style = path\n"
        "    multipart_threshold = 1GB\n"
        "    multipart_chunksize = 1GB\n"
    )
    env = clean_environment(home)
    env.update(
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "credentials-unused"),
        AWS_ACCESS_KEY_ID=s3_endpoint.access_key,
        AWS_SECRET_ACCESS_KEY=s3_endpoint.secret_key,
        AWS_DEFAULT_REGION=REGION,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="2",
        AWS_PAGER="",
    )
    return Command(["aws", "--endpoint-url", s3_endpoint.url], env, tmp_path)


def s3cmd_command(s3_endpoint, tmp_path, *, signature_v2: bool = False, chunk_mb: int = 1024,
                  extra: tuple[str, ...] = ()) -> "Command":
    """`s3cmd -c <tmp config>`: path-style, plain HTTP, SigV4 (or SigV2)."""
    home = tmp_path / ("s3cmd-v2-home" if signature_v2 else "s3cmd-home")
    home.mkdir()
    config = home / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {s3_endpoint.access_key}\n"
        f"secret_key = {s3_endpoint.secret_key}\n"
        f"host_base = {s3_endpoint.netloc}\n"
        f"host_bucket = {s3_endpoint.netloc}\n"
        f"bucket_location = {REGION}\n"
        "use_https = False\n"
        f"signature_v2 = {signature_v2}\n"
        "check_ssl_certificate = False\n"
        f"multipart_chunk_size_mb = {chunk_mb}\n"
        "progress_meter = False\n"
    )
    return Command(["s3cmd", "-c", str(config), *extra], clean_environment(home), tmp_path)


@pytest.fixture
def s3cmd(s3_endpoint, tmp_path):
    """`s3cmd -c <tmp config>`: path-style, plain HTTP, SigV4."""
    return s3cmd_command(s3_endpoint, tmp_path)


@pytest.fixture
def rclone(s3_endpoint, tmp_path):
    """`rclone` with a remote `stowage:` configured only by RCLONE_CONFIG_STOWAGE_* vars."""
    home = tmp_path / "rclone-home"
    home.mkdir()
    empty_config = home / "rclone.conf"
    empty_config.write_text("")
    env = clean_environment(home)  # also drops AWS_CA_BUNDLE, which rclone would load
    env.update(
        RCLONE_CONFIG=str(empty_config),
        RCLONE_CONFIG_STOWAGE_TYPE="s3",
        RCLONE_CONFIG_STOWAGE_PROVIDER="Other",
        RCLONE_CONFIG_STOWAGE_ENV_AUTH="false",
        RCLONE_CONFIG_STOWAGE_ACCESS_KEY_ID=s3_endpoint.access_key,
        RCLONE_CONFIG_STOWAGE_SECRET_ACCESS_KEY=s3_endpoint.secret_key,
        RCLONE_CONFIG_STOWAGE_ENDPOINT=s3_endpoint.url,
        RCLONE_CONFIG_STOWAGE_REGION=REGION,
        RCLONE_CONFIG_STOWAGE_FORCE_PATH_STYLE="true",
    )
    return Command(["rclone", "--retries", "1", "--low-level-retries", "2"], env, tmp_path)


def quoted_md5(data: bytes) -> str:
    """A single-part object's ETag: the MD5 of its body, quoted."""
    return f'"{hashlib.md5(data).hexdigest()}"'


def body_of(s3, bucket, key):
    """The object's bytes, or None when the key does not exist."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as error:
        if error.response["Error"]["Code"] == "NoSuchKey":
            return None
        raise
