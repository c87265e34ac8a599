#!/usr/bin/env python3
"""Over-HTTP figures for Stowage, in one run against one server:

* RenameObject latency (boto3 `rename_object`, a fresh client token each call, as boto3
  does) for a 1 KiB and a 1 GiB object, interleaved, median and p90;
* PUT and GET throughput of one 1 GiB object over loopback (single stream, single-part).

Usage: bench_http.py --endpoint http://127.0.0.1:PORT [--size-gib 1] [--renames 200]
Credentials from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (default: Stowage's dev pair).
"""
import argparse
import os
import statistics
import tempfile
import time
import uuid

import boto3
import botocore.config

CHUNK = 8 << 20


def client(endpoint):
    return boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1",
        aws_access_key_id=os.environ.get("AWS_ACCESS_KEY_ID", "stowage-dev"),
        aws_secret_access_key=os.environ.get("AWS_SECRET_ACCESS_KEY", "stowage-dev-secret"),
        config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1},
                                      request_checksum_calculation="when_required"))


def percentile(values, p):
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * p + 0.999999) - 1))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--endpoint", required=True)
    parser.add_argument("--size-gib", type=float, default=1.0)
    parser.add_argument("--renames", type=int, default=200)
    args = parser.parse_args()
    s3 = client(args.endpoint)
    bucket = "bench-" + uuid.uuid4().hex[:12]
    s3.create_bucket(Bucket=bucket)
    size = int(args.size_gib * (1 << 30))

    with tempfile.NamedTemporaryFile(dir=os.environ.get("TMPDIR", "/tmp")) as big:
        block = os.urandom(CHUNK)
        for _ in range(size // CHUNK):
            big.write(block)
        big.write(block[: size % CHUNK])
        big.flush()
        big.seek(0)
        started = time.perf_counter()
        s3.put_object(Bucket=bucket, Key="big/a", Body=big, ContentLength=size)
        put_seconds = time.perf_counter() - started

    started = time.perf_counter()
    body = s3.get_object(Bucket=bucket, Key="big/a")["Body"]
    received = 0
    while True:
        piece = body.read(CHUNK)
        if not piece:
            break
        received += len(piece)
    get_seconds = time.perf_counter() - started
    assert received == size

    s3.put_object(Bucket=bucket, Key="small/a", Body=os.urandom(1024))
    names = {"small": "small/a", "big": "big/a"}
    samples = {"small": [], "big": []}
    for i in range(args.renames):
        for kind in ("small", "big"):
            destination = f"{kind}/{'b' if i % 2 == 0 else 'a'}"
            started = time.perf_counter()
            s3.rename_object(Bucket=bucket, Key=destination, RenameSource=names[kind])
            samples[kind].append((time.perf_counter() - started) * 1e6)
            names[kind] = destination

    print(f"endpoint {args.endpoint}, object {size} bytes, {args.renames} renames per size (interleaved)")
    print("measure,value,unit")
    for kind, label in (("small", "1KiB"), ("big", f"{size}B")):
        print(f"rename_{label}_median,{statistics.median(samples[kind]):.0f},us")
        print(f"rename_{label}_p90,{percentile(samples[kind], 0.9):.0f},us")
    print(f"put_single_stream,{size / put_seconds / 1e6:.0f},MB/s")
    print(f"get_single_stream,{size / get_seconds / 1e6:.0f},MB/s")
    for key in names.values():
        s3.delete_object(Bucket=bucket, Key=key)
    s3.delete_bucket(Bucket=bucket)


if __name__ == "__main__":
    main()
