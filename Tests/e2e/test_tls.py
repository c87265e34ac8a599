"""HTTPS (issue 19): `stowage serve --tls-cert --tls-key` against a certificate the test
makes with openssl, driven by boto3 (including its default streaming uploads with
checksum trailers, which it sends only over https), the aws CLI, s3cmd and rclone; the
certificate reloaded on SIGHUP without dropping an open connection."""

from __future__ import annotations

import hashlib
import os
import pathlib
import signal
import socket
import ssl
import subprocess
import time

import boto3
import pytest
import requests
from botocore.config import Config

from conftest import REGION, TEST_ACCESS_KEY, TEST_SECRET_KEY, clean_environment
from test_fsck import ServerOn, binary


def make_certificate(directory: pathlib.Path, name: str) -> tuple[pathlib.Path, pathlib.Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, and its key (PEM)."""
    certificate, key = directory / f"{name}.crt", directory / f"{name}.key"
    done = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-keyout", str(key),
         "-out", str(certificate), "-subj", f"/CN={name}", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return certificate, key


def served_certificate(port: int) -> bytes:
    """The DER certificate a new TLS connection is shown."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            return tls.getpeercert(binary_form=True)


def der(certificate: pathlib.Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(certificate.read_text())


class TLSServer(ServerOn):
    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert not self.exited(), self.describe_death()
            try:
                served_certificate(self.port)
                return
            except OSError:
                time.sleep(0.1)
        pytest.fail("the https server did not start: " + self.log_tail())


@pytest.fixture
def https(tmp_path):
    certificate, key = make_certificate(tmp_path, "first")
    # The server reads the files at these paths again on SIGHUP.
    served_cert, served_key = tmp_path / "server.crt", tmp_path / "server.key"
    served_cert.write_bytes(certificate.read_bytes())
    served_key.write_bytes(key.read_bytes())
    server = TLSServer(tmp_path / "server", tmp_path / "data", "--tls-cert", str(served_cert), "--tls-key", str(served_key))
    server.start()
    server.wait_ready()
    server.url = f"https://127.0.0.1:{server.port}"
    server.ca = certificate
    server.served = (served_cert, served_key)
    try:
        yield server
    finally:
        status, killed = server.stop()
        assert status == 0 and not killed, server.log_tail()


def boto3_client(server):
    # No addressing or checksum overrides: boto3's defaults, which over https stream
    # uploads as aws-chunked with a CRC trailer.
    return boto3.session.Session().client(
        "s3", endpoint_url=server.url, aws_access_key_id=TEST_ACCESS_KEY, aws_secret_access_key=TEST_SECRET_KEY,
        region_name=REGION, verify=str(server.ca), config=Config(s3={"addressing_style": "path"}))


def test_boto3_over_https_with_streaming_checksum_trailers(https, tmp_path):
    s3 = boto3_client(https)
    sent = []
    s3.meta.events.register("before-send.s3.PutObject", lambda request, **_: sent.append({k.lower(): v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}))
    s3.create_bucket(Bucket="secure")
    body = os.urandom(3 << 20)
    source = tmp_path / "upload.bin"
    source.write_bytes(body)
    with open(source, "rb") as stream:
        s3.put_object(Bucket="secure", Key="streamed", Body=stream)
    s3.upload_file(str(source), "secure", "transferred")
    for key in ("streamed", "transferred"):
        assert s3.get_object(Bucket="secure", Key=key)["Body"].read() == body
    # The trailer's checksum arrived and was stored: the server answers it back.
    head = s3.head_object(Bucket="secure", Key="streamed", ChecksumMode="ENABLED")
    assert head.get("ChecksumCRC32") or head.get("ChecksumCRC64NVME"), head
    # boto3 did stream: aws-chunked, unsigned payload, the checksum in a trailer.
    streamed = sent[0]
    assert streamed["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER", streamed
    assert streamed["x-amz-trailer"].startswith("x-amz-checksum-"), streamed
    assert streamed["content-encoding"] == "aws-chunked", streamed
    # Plain http on the TLS port is refused, not served in the clear.
    with pytest.raises(requests.RequestException):
        requests.get(f"http://127.0.0.1:{https.port}/-/healthy", timeout=5)
    assert requests.get(https.url + "/-/healthy", verify=str(https.ca), timeout=5).text == "ok\n"


def test_aws_cli_s3cmd_and_rclone_over_https(https, tmp_path):
    payload = tmp_path / "payload.txt"
    payload.write_bytes(b"over tls\n" * 1000)
    digest = hashlib.md5(payload.read_bytes()).hexdigest()
    home = tmp_path / "home"
    home.mkdir()
    env = clean_environment(home)
    aws_env = dict(env, AWS_ACCESS_KEY_ID=TEST_ACCESS_KEY, AWS_SECRET_ACCESS_KEY=TEST_SECRET_KEY,
                   AWS_DEFAULT_REGION=REGION, AWS_EC2_METADATA_DISABLED="true", AWS_PAGER="",
                   AWS_CONFIG_FILE=str(home / "none"), AWS_SHARED_CREDENTIALS_FILE=str(home / "none"))

    def run(argv, environment):
        done = subprocess.run(argv, env=environment, capture_output=True, text=True, timeout=120, cwd=tmp_path)
        assert done.returncode == 0, f"{argv[0]}: {done.stdout}\n{done.stderr}"
        return done.stdout

    aws = ["aws", "--endpoint-url", https.url, "--ca-bundle", str(https.ca)]
    run(aws + ["s3", "mb", "s3://tlsbucket"], aws_env)
    run(aws + ["s3", "cp", str(payload), "s3://tlsbucket/by-aws"], aws_env)
    assert "by-aws" in run(aws + ["s3", "ls", "s3://tlsbucket/"], aws_env)

    config = home / "s3cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {TEST_ACCESS_KEY}\nsecret_key = {TEST_SECRET_KEY}\n"
        f"host_base = 127.0.0.1:{https.port}\nhost_bucket = 127.0.0.1:{https.port}\n"
        f"bucket_location = {REGION}\nuse_https = True\nca_certs_file = {https.ca}\n"
        "check_ssl_certificate = True\ncheck_ssl_hostname = True\nsignature_v2 = False\nprogress_meter = False\n")
    run(["s3cmd", "-c", str(config), "put", str(payload), "s3://tlsbucket/by-s3cmd"], env)
    assert "by-s3cmd" in run(["s3cmd", "-c", str(config), "ls", "s3://tlsbucket/"], env)

    empty = home / "rclone.conf"
    empty.write_text("")
    rclone_env = dict(env, RCLONE_CONFIG=str(empty), RCLONE_CONFIG_S_TYPE="s3", RCLONE_CONFIG_S_PROVIDER="Other",
                      RCLONE_CONFIG_S_ENV_AUTH="false", RCLONE_CONFIG_S_ACCESS_KEY_ID=TEST_ACCESS_KEY,
                      RCLONE_CONFIG_S_SECRET_ACCESS_KEY=TEST_SECRET_KEY, RCLONE_CONFIG_S_ENDPOINT=https.url,
                      RCLONE_CONFIG_S_REGION=REGION, RCLONE_CONFIG_S_FORCE_PATH_STYLE="true")
    run(["rclone", "--ca-cert", str(https.ca), "copyto", str(payload), "s:tlsbucket/by-rclone"], rclone_env)
    assert "by-rclone" in run(["rclone", "--ca-cert", str(https.ca), "lsf", "s:tlsbucket"], rclone_env)

    s3 = boto3_client(https)
    for key in ("by-aws", "by-s3cmd", "by-rclone"):
        assert hashlib.md5(s3.get_object(Bucket="tlsbucket", Key=key)["Body"].read()).hexdigest() == digest, key


def test_sighup_reloads_the_certificate_without_dropping_connections(https, tmp_path):
    assert served_certificate(https.port) == der(https.ca)
    session = requests.Session()
    assert session.get(https.url + "/-/healthy", verify=str(https.ca), timeout=5).status_code == 200
    renewed, renewed_key = make_certificate(tmp_path, "renewed")
    served_cert, served_key = https.served
    served_cert.write_bytes(renewed.read_bytes())
    served_key.write_bytes(renewed_key.read_bytes())
    https.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 10
    while served_certificate(https.port) != der(renewed):
        assert time.monotonic() < deadline, "new connections still get the old certificate"
        time.sleep(0.1)
    # The connection opened before the reload is still open and still served.
    assert session.get(https.url + "/-/healthy", verify=str(https.ca), timeout=5).status_code == 200
    assert requests.get(https.url + "/-/healthy", verify=str(renewed), timeout=5).status_code == 200
    # A broken pair is refused and the renewed one kept.
    served_key.write_text("not a key\n")
    https.proc.send_signal(signal.SIGHUP)
    time.sleep(1)
    assert served_certificate(https.port) == der(renewed)
    assert not https.exited()
    assert "TLS reload failed" in pathlib.Path(https.log_path).read_text()


def test_tls_flags_are_checked(tmp_path):
    certificate, key = make_certificate(tmp_path, "lonely")
    for args, message in [(["--tls-cert", str(certificate)], "go together"),
                          (["--tls-cert", str(tmp_path / "missing.crt"), "--tls-key", str(key)], "tls-cert (flag): cannot use"),
                          (["--tls-cert", str(key), "--tls-key", str(certificate)], "tls-cert (flag): cannot use")]:
        done = subprocess.run([str(binary()), "serve", "--data", str(tmp_path / "d"), "--port", "0", *args],
                              capture_output=True, text=True, timeout=30)
        assert done.returncode != 0 and message in done.stderr, (args, done.stderr)
