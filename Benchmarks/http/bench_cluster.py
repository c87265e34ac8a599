#!/usr/bin/env python3
"""Embedded vs cluster, side by side in one run (issue 14).

Starts an embedded server (strict, on a local data directory) and a cluster
(scripts/cluster.sh: 3 etcd members, 3 bluestore OSDs, pool size 3, 2 gateways), both
from the same binary, and measures against each with boto3 in one process:

- RenameObject of a 1 KiB and a 1 GiB object (median of N renames back and forth);
- PUT and GET of 4 KiB: median latency, and throughput with 16 client threads;
- one PUT and one GET of 256 MiB (MB/s);
- cluster only: small-PUT throughput through one gateway vs both.

The client is Python (boto3): throughputs are the client's ceiling as much as the
server's; latencies and ratios measured side by side are what to read.

    python3 Benchmarks/http/bench_cluster.py [--binary .build/release/stowage] [--renames 50]
"""

import argparse
import concurrent.futures
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import boto3
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "Tests" / "e2e"))
from cluster_env import read_cluster_env  # noqa: E402

KEY, SECRET = "BENCHCLUSTERKEY", "bench-cluster-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(url: str, threads: int = 32):
    return boto3.session.Session().client(
        "s3", endpoint_url=url, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}, max_pool_connections=threads,
                      read_timeout=600))


def median_ms(samples):
    return round(statistics.median(samples) * 1000, 2)


def timed(call):
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def measure(urls, label, renames):
    s3 = client(urls[0])
    bucket = f"bench-{int(time.time())}"
    s3.create_bucket(Bucket=bucket)
    result = {"target": label}
    for size, name in ((1024, "1 KiB"), (1 << 30, "1 GiB")):
        body = os.urandom(size) if size < (64 << 20) else None
        if body is None:
            path = pathlib.Path(tempfile.mkstemp()[1])
            with open(path, "wb") as f:
                for _ in range(size >> 26):
                    f.write(os.urandom(64 << 20))
            s3.upload_file(str(path), bucket, "r0")
            path.unlink()
        else:
            s3.put_object(Bucket=bucket, Key="r0", Body=body)
        samples = []
        for i in range(renames):
            samples.append(timed(lambda: s3.rename_object(Bucket=bucket, Key=f"r{(i + 1) % 2}", RenameSource=f"r{i % 2}")))
        result[f"rename {name} ms"] = median_ms(samples)
        s3.delete_object(Bucket=bucket, Key=f"r{renames % 2}")
    small = os.urandom(4096)
    puts = [timed(lambda i=i: s3.put_object(Bucket=bucket, Key=f"s{i}", Body=small)) for i in range(200)]
    gets = [timed(lambda i=i: s3.get_object(Bucket=bucket, Key=f"s{i}")["Body"].read()) for i in range(200)]
    result["PUT 4 KiB ms"] = median_ms(puts)
    result["GET 4 KiB ms"] = median_ms(gets)
    result["PUT 4 KiB /s, 16 threads"] = throughput(urls, bucket, small, 16, 1000)
    result["GET 4 KiB /s, 16 threads"] = throughput(urls, bucket, None, 16, 1000)
    big = os.urandom(256 << 20)
    seconds = timed(lambda: s3.put_object(Bucket=bucket, Key="big", Body=big))
    result["PUT 256 MiB MB/s"] = round(len(big) / seconds / 1e6, 1)
    seconds = timed(lambda: s3.get_object(Bucket=bucket, Key="big")["Body"].read())
    result["GET 256 MiB MB/s"] = round(len(big) / seconds / 1e6, 1)
    if len(urls) > 1:
        result["PUT 4 KiB /s, 16 threads, one gateway"] = throughput(urls[:1], bucket, small, 16, 1000)
    return result


def throughput(urls, bucket, body, threads, count):
    clients = [client(urls[i % len(urls)]) for i in range(threads)]

    def work(t):
        c = clients[t]
        for i in range(t, count, threads):
            if body is None:
                c.get_object(Bucket=bucket, Key=f"s{i % 200}")["Body"].read()
            else:
                c.put_object(Bucket=bucket, Key=f"t{i}", Body=body)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, range(threads)))
    return round(count / (time.perf_counter() - started))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build" / "release" / "stowage"))
    parser.add_argument("--renames", type=int, default=50)
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "cluster.json"))
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-cluster-"))
    port = free_port()
    embedded = subprocess.Popen([args.binary, "serve", "--data", str(work / "data"), "--port", str(port),
                                 "--access-key", KEY, "--secret-key", SECRET],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cluster_dir = work / "cluster"
    env = dict(os.environ, STOWAGE_BIN=args.binary, STOWAGE_ACCESS=KEY, STOWAGE_SECRET=SECRET, BASE_PORT="25000")
    results = []
    try:
        subprocess.run([str(REPO / "scripts" / "cluster.sh"), "up", str(cluster_dir)], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        urls = read_cluster_env(str(cluster_dir / "cluster.env"))["STOWAGE_ENDPOINTS"].split(",")
        time.sleep(1)
        results.append(measure([f"http://127.0.0.1:{port}"], "embedded (strict)", args.renames))
        results.append(measure(urls, "cluster (3 etcd, 3 bluestore OSDs, size 3, 2 gateways)", args.renames))
    finally:
        embedded.send_signal(signal.SIGTERM)
        embedded.wait(60)
        subprocess.run([str(REPO / "scripts" / "cluster.sh"), "down", str(cluster_dir)], env=env)
        shutil.rmtree(work, ignore_errors=True)
    pathlib.Path(args.out).write_text(json.dumps(results, indent=2) + "\n")
    keys = [k for k in results[0]] + [k for k in results[1] if k not in results[0]]
    print("| measure | " + " | ".join(r["target"] for r in results) + " |")
    print("|---|" + "---|" * len(results))
    for key in keys[1:]:
        print(f"| {key} | " + " | ".join(str(r.get(key, "—")) for r in results) + " |")


if __name__ == "__main__":
    main()
