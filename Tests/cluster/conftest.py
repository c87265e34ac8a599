"""Fixtures for the cluster suite: a real local cluster (3 etcd members, a Ceph monitor
and OSDs, 2 stowage gateways) started by scripts/cluster.sh, or the one a cluster.env
names.

Environment:
  STOWAGE_E2E_CLUSTER   a cluster.env of a running cluster (`make cluster-up`); unset, the
                        suite starts its own and stops it at the end
  STOWAGE_BIN           the gateway binary (default <repo>/.build/debug/stowage)
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import tempfile
import uuid

import boto3
import pytest
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "e2e"))
from cluster_env import read_cluster_env  # noqa: E402

SCRIPT = REPO / "scripts" / "cluster.sh"


class Cluster:
    def __init__(self, directory: pathlib.Path, env: dict[str, str]):
        self.directory = directory
        self.env = env
        self.gateways = env["STOWAGE_ENDPOINTS"].split(",")
        self.access_key = env["STOWAGE_ACCESS_KEY"]
        self.secret_key = env["STOWAGE_SECRET_KEY"]
        self.ceph_conf = env["STOWAGE_CEPH_CONF"]
        self.pool = env["STOWAGE_RADOS_POOL"]
        self.etcd = env["STOWAGE_ETCD"].split(",")
        # etcd's --max-txn-ops: the tests of what is larger than one transaction scale to it.
        self.max_txn_ops = int(env.get("MAX_TXN_OPS", "1024"))

    def client(self, gateway: int = 0, attempts: int = 2, **config):
        """A boto3 client of one gateway; `attempts` counts the first try (botocore's own
        `max_attempts` counts retries only)."""
        return boto3.session.Session().client(
            "s3", endpoint_url=self.gateways[gateway],
            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key,
            region_name="us-east-1",
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                          retries={"mode": "standard", "total_max_attempts": attempts},
                          connect_timeout=5, read_timeout=60, max_pool_connections=32, **config))

    def script(self, *args: str, timeout: int = 120) -> str:
        return subprocess.run([str(SCRIPT), *args[:1], str(self.directory), *args[1:]], check=True,
                              capture_output=True, text=True, timeout=timeout).stdout

    def rados(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["rados", "-c", self.ceph_conf, "-p", self.pool, *args],
                              capture_output=True, timeout=60)

    def rados_objects(self) -> set[str]:
        listed = self.rados("ls")
        assert listed.returncode == 0, listed.stderr
        return {line for line in listed.stdout.decode().splitlines() if line.startswith("stowage.blob.")}

    def etcd_keys(self, prefix: bytes) -> list[bytes]:
        """Keys under `prefix` in etcd (etcdctl prints key and value on separate lines)."""
        out = subprocess.run(["etcdctl", "--endpoints", ",".join(self.etcd), "get", "--prefix", "--keys-only",
                              prefix.decode("latin-1")], capture_output=True, timeout=30, check=True).stdout
        return [line for line in out.split(b"\n") if line]


@pytest.fixture(scope="session")
def cluster():
    given = os.environ.get("STOWAGE_E2E_CLUSTER")
    if given:
        path = pathlib.Path(given)
        yield Cluster(path.parent, read_cluster_env(str(path)))
        return
    directory = pathlib.Path(tempfile.mkdtemp(prefix="stowage-cluster-"))
    env = dict(os.environ, OSDS=os.environ.get("OSDS", "3"), DELETION_GRACE="2", MAX_TXN_OPS="512")
    started = subprocess.run([str(SCRIPT), "up", str(directory)], env=env, capture_output=True, text=True, timeout=600)
    if started.returncode != 0:
        subprocess.run([str(SCRIPT), "down", str(directory)], timeout=120)
        pytest.fail(f"the cluster did not start:\n{started.stderr[-4000:]}", pytrace=False)
    try:
        yield Cluster(directory, read_cluster_env(str(directory / "cluster.env")))
    finally:
        subprocess.run([str(SCRIPT), "down", str(directory)], timeout=180)


@pytest.fixture
def bucket(cluster):
    name = f"c-{uuid.uuid4().hex[:12]}"
    client = cluster.client(0)
    client.create_bucket(Bucket=name)
    yield name
    # Emptied and removed, so that bytes do not pile up in the OSDs' files over a long
    # `make soak-cluster` (a full pool refuses writes).
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=name, Delete={"Objects": keys})
    for upload in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
        client.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
    client.delete_bucket(Bucket=name)
