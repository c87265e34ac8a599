"""The configuration file (issue 19): `stowage serve --config FILE` (YAML whose keys are
the flags' names), overridden by STOWAGE_* environment variables and by flags, checked by
`--check-config`, which explains every mistake with its line."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import textwrap
import time

import boto3
import pytest
import requests
from botocore.exceptions import ClientError

from conftest import REGION, _client_config, free_loopback_port
from test_fsck import binary
from test_operations import json_lines, wait_for_ready


def run_stowage(*args, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("STOWAGE_") or k == "STOWAGE_BIN"}
    environment.update(env or {})
    return subprocess.run([str(binary()), *map(str, args)], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=environment)


def effective(report: str) -> dict[str, tuple[str, str]]:
    """`name: value  (source)` lines of --check-config, as {name: (value, source)}."""
    found = {}
    for line in report.splitlines():
        match = re.fullmatch(r"([a-z0-9-]+): (.*)  \((.*)\)", line)
        if match:
            found[match.group(1)] = (match.group(2), match.group(3))
    return found


def serve_flags() -> set[str]:
    done = run_stowage("serve", "--help")
    assert done.returncode == 0, done.stderr
    return set(re.findall(r"^\s+--([a-z0-9-]+)", done.stdout, re.MULTILINE)) - {"help", "version", "config", "check-config"}


def test_every_serve_flag_is_a_setting_of_the_file(tmp_path):
    ceph_conf = tmp_path / "ceph.conf"
    ceph_conf.write_text("[global]\n")
    (tmp_path / "creds").write_text("FILEKEY file-secret\n")
    values = {
        "data": "data", "address": "127.0.0.1", "port": 9555, "access-key": "AK", "secret-key": "SK",
        "credentials-file": "creds", "region": "eu-west-1", "domain": "s3.example.test", "durability": "relaxed",
        "log-level": "debug", "log-format": "json", "slow-request-ms": 250, "tls-cert": None, "tls-key": None,
        "metrics-token": "scrape-token", "shutdown-delay": 5, "compaction-threshold": 0.25, "compaction-rate": 64,
        "compaction-interval": 30, "segment-size": 64, "lifecycle-interval": 60, "lifecycle-day-seconds": 86400, "etcd": ["http://10.0.0.1:2379", "http://10.0.0.2:2379"],
        "etcd-prefix": "prod/", "etcd-max-txn-ops": 1024, "etcd-timeout-ms": 3000, "ceph-conf": "ceph.conf",
        "rados-pool": "objects", "deletion-grace": 120, "master-key-file": "master.key", "master-key": None,
    }
    assert serve_flags() == set(values), "a serve flag has no configuration setting in this test (or the reverse)"
    # One master key at a time: the inline form is checked below.
    del values["master-key"]
    (tmp_path / "master.key").write_text("ab" * 32 + "\n")
    # TLS files are checked by loading them: make a real pair.
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    made = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                           "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                          capture_output=True, timeout=60)
    assert made.returncode == 0, made.stderr
    values["tls-cert"], values["tls-key"] = "tls.crt", "tls.key"
    config = tmp_path / "stowage.yaml"
    config.write_text("".join(f"{name}: {json.dumps(value)}\n" for name, value in values.items())
                      + "credentials:\n  - {access-key: LISTKEY, secret-key: list-secret}\n")
    done = run_stowage("serve", "--config", config, "--check-config")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("configuration OK")
    found = effective(done.stdout)
    for name, value in values.items():
        shown, source = found[name]
        assert source.startswith(f"{config} line "), (name, source)
        if name in ("secret-key", "metrics-token"):
            assert shown == f"(secret, {len(value)} characters)", "a secret was printed"
        elif name in ("credentials-file", "tls-cert", "tls-key", "ceph-conf", "master-key-file"):
            assert shown == str(tmp_path / value), "a relative path is relative to the file's directory"
        elif name == "etcd":
            assert shown == ",".join(value)
        elif name != "data":   # unused in cluster mode, still resolved
            assert shown == str(value), name
    assert found["credentials"][0] == "1 pair(s)"


def test_master_key_settings(tmp_path):
    """The master key (SSE-S3, SSE-KMS): a file or the value, never printed, never both."""
    key = os.urandom(32).hex()
    done = run_stowage("serve", "--data", tmp_path / "data", "--check-config", env={"STOWAGE_MASTER_KEY": key})
    assert done.returncode == 0, done.stdout + done.stderr
    shown, source = effective(done.stdout)["master-key"]
    assert shown == "(secret, 64 characters)" and "STOWAGE_MASTER_KEY" in source
    assert key not in done.stdout + done.stderr
    (tmp_path / "short.key").write_text("abcd")
    done = run_stowage("serve", "--data", tmp_path / "data", "--check-config", "--master-key-file", tmp_path / "short.key",
                       "--master-key", key)
    assert done.returncode == 2
    assert "not both" in done.stdout + done.stderr
    done = run_stowage("serve", "--data", tmp_path / "data", "--check-config", "--master-key-file", tmp_path / "short.key")
    assert done.returncode == 2 and "32 bytes" in done.stdout + done.stderr
    done = run_stowage("serve", "--data", tmp_path / "data", "--check-config", "--master-key-file", tmp_path / "missing.key")
    assert done.returncode == 2 and "cannot read" in done.stdout + done.stderr
    assert not (tmp_path / "data").exists(), "a refused configuration created nothing"


def test_flags_override_the_environment_which_overrides_the_file(tmp_path):
    config = tmp_path / "stowage.yaml"
    config.write_text("port: 9100\nregion: file-region\ndomain: file.example\nslow-request-ms: 10\n")
    done = run_stowage("serve", "--config", config, "--check-config", "--port", "9300",
                       env={"STOWAGE_PORT": "9200", "STOWAGE_REGION": "env-region"})
    assert done.returncode == 0, done.stdout + done.stderr
    found = effective(done.stdout)
    assert found["port"] == ("9300", "flag")
    assert found["region"] == ("env-region", "environment STOWAGE_REGION")
    assert found["domain"] == ("file.example", f"{config} line 3")
    assert found["address"] == ("127.0.0.1", "default")
    # STOWAGE_CONFIG names the file when --config does not.
    done = run_stowage("serve", "--check-config", env={"STOWAGE_CONFIG": str(config)})
    assert effective(done.stdout)["port"] == ("9100", f"{config} line 1")


def test_check_config_explains_every_mistake_and_serve_refuses_to_start(tmp_path):
    config = tmp_path / "stowage.yaml"
    config.write_text(textwrap.dedent("""\
        data: ./data
        prot: 9000
        port: nine
        durability: fast
        log-format: xml
        compaction-threshold: 2
        tls-cert: missing.crt
        credentials:
          - {access-key: ONE, secret-key: one-secret}
          - {access-key: TWO}
        etcd: [http://127.0.0.1:2379]
        """))
    done = run_stowage("serve", "--config", config, "--check-config", env={"STOWAGE_SLOW_REQUEST_MS": "soon"})
    assert done.returncode == 2, done.stdout + done.stderr
    mistakes = done.stdout.split("mistake(s):\n", 1)[1]
    expected = [
        f"{config} line 2: unknown setting 'prot' (did you mean port?)",
        f"{config} line 3: port must be an integer, not 'nine'",
        f"durability ({config} line 4): 'fast' must be strict or relaxed",
        f"log-format ({config} line 5): 'xml' must be text or json",
        "STOWAGE_SLOW_REQUEST_MS=soon: slow-request-ms must be an integer",
        f"compaction-threshold ({config} line 6): must be between 0 and 1",
        f"tls-cert ({config} line 7): tls-cert and tls-key go together",
        f"{config} line 10: each credential is exactly {{access-key: KEY, secret-key: SECRET}}",
        f"etcd ({config} line 11): cluster mode needs ceph-conf",
    ]
    for text in expected:
        assert text in mistakes, f"missing: {text}\n{mistakes}"
    assert mistakes.count("\n  - ") + 1 == len(expected), mistakes
    # serve itself refuses, listing the same mistakes, and creates nothing.
    done = run_stowage("serve", "--config", config, env={"STOWAGE_SLOW_REQUEST_MS": "soon"})
    assert done.returncode != 0
    assert f"the configuration has {len(expected)} mistake(s)" in done.stderr
    assert not (tmp_path / "data").exists()


@pytest.mark.parametrize("text, message", [
    ("port: [1, 2\n", "is not valid YAML"),
    ("- port: 1\n", "must be a mapping of settings"),
    ("port: 1\nport: 2\n", "is not valid YAML"),
])
def test_a_file_that_is_not_a_settings_mapping_is_refused(tmp_path, text, message):
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    done = run_stowage("serve", "--config", config, "--check-config")
    assert done.returncode == 2 and message in done.stdout, done.stdout + done.stderr
    missing = run_stowage("serve", "--config", tmp_path / "nowhere.yaml", "--check-config")
    assert missing.returncode == 2 and "cannot read the configuration file" in missing.stdout


def wait_until_serving(url: str, process: subprocess.Popen, timeout: float = 30) -> requests.Response | None:
    """`/-/ready`'s answer once the server listens; None if it exits or never listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        try:
            return wait_for_ready(url)
        except requests.ConnectionError:
            time.sleep(0.1)
    return None


def test_serve_runs_from_the_file(tmp_path):
    port = free_loopback_port()
    config = tmp_path / "etc" / "stowage.yaml"
    config.parent.mkdir()
    config.write_text(textwrap.dedent(f"""\
        # Relative paths are relative to this file's directory.
        data: ../data
        address: 127.0.0.1
        port: {port}
        region: {REGION}
        log-format: json
        compaction-interval: 0
        credentials:
          - access-key: FILEKEY1
            secret-key: file-secret-1
          - access-key: FILEKEY2
            secret-key: file-secret-2
        """))
    log = open(tmp_path / "serve.log", "wb")
    process = subprocess.Popen([str(binary()), "serve", "--config", str(config)], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    try:
        url = f"http://127.0.0.1:{port}"
        ready = wait_until_serving(url, process)
        assert ready is not None and ready.status_code == 200, (tmp_path / "serve.log").read_text()

        def client(access, secret):
            return boto3.session.Session().client("s3", endpoint_url=url, aws_access_key_id=access,
                                                  aws_secret_access_key=secret, region_name=REGION,
                                                  config=_client_config())
        first, second = client("FILEKEY1", "file-secret-1"), client("FILEKEY2", "file-secret-2")
        first.create_bucket(Bucket="from-config")
        second.put_object(Bucket="from-config", Key="k", Body=b"configured")
        assert first.get_object(Bucket="from-config", Key="k")["Body"].read() == b"configured"
        with pytest.raises(ClientError) as refused:
            client("FILEKEY1", "wrong").list_buckets()
        assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
        # The data directory is the file's ../data.
        assert (tmp_path / "data" / "index").is_dir()
    finally:
        process.terminate()
        assert process.wait(timeout=30) == 0
        log.close()
    # log-format json came from the file.
    lines = [line for line in json_lines(tmp_path / "serve.log") if line.get("message") == "request"]
    assert {line["user"] for line in lines if "user" in line} == {"FILEKEY1", "FILEKEY2"}
