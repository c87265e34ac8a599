#!/usr/bin/env python3
"""Prefix rename over HTTP, in one run against one server: the time to move a prefix of N
objects with Stowage's atomic endpoint (`POST /{bucket}?renamePrefix`, one request, one
index transaction) against N single RenameObject calls (boto3 `rename_object`, sequential,
a fresh client token each, as boto3 sends them) — and, with --stowage-bin, `stowage mv
--client-side` (the fallback: concurrent RenameObject batches with a journal).

By default the script starts `stowage serve --durability strict` itself on a temporary
data directory and a free loopback port (the durability mode is printed with the figures);
with --endpoint it uses a running server instead.

Usage: bench_prefix_rename.py --stowage-bin .build/release/stowage [--counts 1000,10000]
       bench_prefix_rename.py --endpoint http://127.0.0.1:9000   (credentials from
       AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, default Stowage's dev pair)
"""
import argparse
import concurrent.futures
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
import xml.etree.ElementTree as ET

import boto3
import botocore.auth
import botocore.config
import requests
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

REGION = "us-east-1"


def client(endpoint, access_key, secret_key):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name=REGION, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      max_pool_connections=16, request_checksum_calculation="when_required"))


def rename_prefix(endpoint, access_key, secret_key, bucket, source, destination):
    body = (f"<RenamePrefix><SourcePrefix>{source}</SourcePrefix>"
            f"<DestinationPrefix>{destination}</DestinationPrefix></RenamePrefix>").encode()
    url = f"{endpoint}/{bucket}?renamePrefix"
    request = AWSRequest(method="POST", url=url, data=body,
                         headers={"x-amz-content-sha256": hashlib.sha256(body).hexdigest()})
    botocore.auth.S3SigV4Auth(Credentials(access_key, secret_key), "s3", REGION).add_auth(request)
    response = requests.post(url, data=body, headers=dict(request.headers), timeout=600)
    response.raise_for_status()
    return int(ET.fromstring(response.content).find("{*}Moved").text)


def seed(s3, bucket, prefix, count):
    def put(i):
        s3.put_object(Bucket=bucket, Key=f"{prefix}shard-{i:06d}", Body=b"%06d" % i)
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(count)))


def count_keys(s3, bucket, prefix):
    return sum(page.get("KeyCount", 0) for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, access_key, secret_key):
    data = tempfile.mkdtemp(prefix="stowage-bench-prefix-")
    port = free_port()
    log = open(os.path.join(data, "server.log"), "wb")
    process = subprocess.Popen([binary, "serve", "--data", os.path.join(data, "data"), "--port", str(port),
                                "--access-key", access_key, "--secret-key", secret_key, "--durability", "strict",
                                "--log-level", "warning"], stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            requests.get(endpoint, timeout=1)
            return process, data, endpoint
        except requests.RequestException:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the server did not start")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint")
    parser.add_argument("--stowage-bin")
    parser.add_argument("--counts", default="1000,10000")
    args = parser.parse_args()
    if args.stowage_bin:
        args.stowage_bin = os.path.abspath(args.stowage_bin)
    access_key = os.environ.get("AWS_ACCESS_KEY_ID", "stowage-dev")
    secret_key = os.environ.get("AWS_SECRET_ACCESS_KEY", "stowage-dev-secret")
    process = data = None
    if args.endpoint:
        endpoint, durability = args.endpoint.rstrip("/"), "as the server was started"
    elif args.stowage_bin:
        process, data, endpoint = start_server(args.stowage_bin, access_key, secret_key)
        durability = "strict"
    else:
        raise SystemExit("give --stowage-bin (to start a strict server) or --endpoint")
    try:
        s3 = client(endpoint, access_key, secret_key)
        bucket = "bench-" + uuid.uuid4().hex[:12]
        s3.create_bucket(Bucket=bucket)
        rows = []
        for count in (int(c) for c in args.counts.split(",")):
            seed(s3, bucket, f"atomic-{count}/tmp/", count)
            seed(s3, bucket, f"single-{count}/tmp/", count)
            if args.stowage_bin:
                seed(s3, bucket, f"mv-{count}/tmp/", count)

            started = time.perf_counter()
            moved = rename_prefix(endpoint, access_key, secret_key, bucket, f"atomic-{count}/tmp/", f"atomic-{count}/final/")
            atomic = time.perf_counter() - started
            assert moved == count and count_keys(s3, bucket, f"atomic-{count}/final/") == count

            keys = [f"single-{count}/tmp/shard-{i:06d}" for i in range(count)]
            started = time.perf_counter()
            for key in keys:
                s3.rename_object(Bucket=bucket, Key=key.replace("/tmp/", "/final/", 1), RenameSource=key)
            single = time.perf_counter() - started
            assert count_keys(s3, bucket, f"single-{count}/final/") == count

            fallback = None
            if args.stowage_bin:
                environment = dict(os.environ, AWS_ACCESS_KEY_ID=access_key, AWS_SECRET_ACCESS_KEY=secret_key)
                workdir = tempfile.mkdtemp(prefix="stowage-bench-mv-")
                started = time.perf_counter()
                done = subprocess.run([args.stowage_bin, "mv", f"s3://{bucket}/mv-{count}/tmp/", f"s3://{bucket}/mv-{count}/final/",
                                       "--endpoint", endpoint, "--client-side"], env=environment, cwd=workdir,
                                      capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"stowage mv failed:\n{done.stdout}{done.stderr}")
                fallback = time.perf_counter() - started
                shutil.rmtree(workdir, ignore_errors=True)
                assert count_keys(s3, bucket, f"mv-{count}/final/") == count
            rows.append((count, atomic, single, fallback))

        print(f"prefix rename over HTTP, endpoint {endpoint}, durability {durability}, one run, objects of 6 bytes")
        print("objects,atomic_renamePrefix_s,single_RenameObject_sequential_s,single_per_object_ms,speedup"
              + (",stowage_mv_client_side_s" if args.stowage_bin else ""))
        for count, atomic, single, fallback in rows:
            line = f"{count},{atomic:.3f},{single:.2f},{single / count * 1000:.2f},{single / atomic:.0f}x"
            print(line + (f",{fallback:.2f}" if fallback is not None else ""))
    finally:
        if process is not None:
            process.terminate()
            process.wait(timeout=30)
            shutil.rmtree(data, ignore_errors=True)


if __name__ == "__main__":
    main()
