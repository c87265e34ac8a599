#!/usr/bin/env python3
"""Encryption at rest beside plain objects, in one run (issue 17).

Starts one server (--durability strict, a master key) on a temporary data directory, and
puts two 1 GiB objects: one plain, one SSE-S3. Then, alternating plain and encrypted for
--rounds rounds, times with boto3:

- RenameObject of the object to a new key and back (two renames, the median of each);
- CopyObject to a new key (the copy keeps SSE-S3: a metadata-only clone) and its delete;
- GET of the whole object (the bytes are decrypted on the way out), MB/s;
- PUT of 256 MiB (encrypted on the way in), MB/s.

Rename and copy must be as fast for the encrypted object as for the plain one: neither
reads or writes a byte. The table gives medians and the ratio encrypted ÷ plain. Raw
results: docs/bench/sse.json.

    python3 Benchmarks/http/bench_sse.py [--binary .build/release/stowage] [--rounds 5]
"""

import argparse
import datetime
import json
import os
import pathlib
import signal
import socket
import statistics
import subprocess
import tempfile
import time

import boto3
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
KEY, SECRET = "BENCHSSEKEY", "bench-sse-secret"
DURABILITY = "strict"
BIG = 1 << 30
PUT_BYTES = 256 << 20


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def median_ms(samples):
    return statistics.median(samples) * 1000


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build" / "release" / "stowage"))
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-sse-"))
    (work / "master.key").write_text(os.urandom(32).hex())
    port = free_port()
    log = open(work / "server.log", "wb")
    server = subprocess.Popen([args.binary, "serve", "--data", str(work / "data"), "--port", str(port),
                               "--access-key", KEY, "--secret-key", SECRET, "--durability", DURABILITY,
                               "--master-key-file", str(work / "master.key"), "--compaction-interval", "0"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=KEY,
                          aws_secret_access_key=SECRET, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        s3.create_bucket(Bucket="bench")
        source = work / "big.bin"
        with open(source, "wb") as f:
            for _ in range(BIG >> 24):
                f.write(os.urandom(1 << 24))
        kinds = {"plain": {}, "SSE-S3": {"ServerSideEncryption": "AES256"}}
        for kind, extra in kinds.items():
            with open(source, "rb") as body:
                s3.put_object(Bucket="bench", Key=f"{kind}/obj", Body=body, **extra)
        small = os.urandom(PUT_BYTES)
        results = {kind: {"rename": [], "copy": [], "get_mbps": [], "put_mbps": []} for kind in kinds}
        for _ in range(args.rounds):
            for kind, extra in kinds.items():
                r = results[kind]
                started = time.perf_counter()
                s3.rename_object(Bucket="bench", Key=f"{kind}/moved", RenameSource=f"{kind}/obj")
                r["rename"].append(time.perf_counter() - started)
                s3.rename_object(Bucket="bench", Key=f"{kind}/obj", RenameSource=f"{kind}/moved")
                started = time.perf_counter()
                copied = s3.copy_object(Bucket="bench", Key=f"{kind}/copy", CopySource=f"bench/{kind}/obj")
                r["copy"].append(time.perf_counter() - started)
                assert copied["ResponseMetadata"]["HTTPHeaders"].get("x-amz-server-side-encryption") == extra.get("ServerSideEncryption")
                s3.delete_object(Bucket="bench", Key=f"{kind}/copy")
                started = time.perf_counter()
                got = s3.get_object(Bucket="bench", Key=f"{kind}/obj")["Body"]
                total = 0
                for chunk in got.iter_chunks(1 << 20):
                    total += len(chunk)
                assert total == BIG
                r["get_mbps"].append(BIG / (time.perf_counter() - started) / 1e6)
                started = time.perf_counter()
                s3.put_object(Bucket="bench", Key=f"{kind}/put", Body=small, **extra)
                r["put_mbps"].append(PUT_BYTES / (time.perf_counter() - started) / 1e6)
        table = {kind: {"rename_ms": median_ms(r["rename"]), "copy_ms": median_ms(r["copy"]),
                        "get_MBps": statistics.median(r["get_mbps"]), "put_MBps": statistics.median(r["put_mbps"])}
                 for kind, r in results.items()}
        print(f"durability {DURABILITY}, {args.rounds} rounds, 1 GiB objects (PUT: 256 MiB), medians")
        print(f"{'measure':14} {'plain':>10} {'SSE-S3':>10} {'ratio':>7}")
        for measure in ("rename_ms", "copy_ms", "get_MBps", "put_MBps"):
            plain, encrypted = table["plain"][measure], table["SSE-S3"][measure]
            print(f"{measure:14} {plain:10.2f} {encrypted:10.2f} {encrypted / plain:7.2f}")
        out = REPO / "docs" / "bench" / "sse.json"
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps({"when": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                                   "durability": DURABILITY, "rounds": args.rounds, "medians": table,
                                   "samples": results}, indent=2) + "\n")
        return 0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    raise SystemExit(main())
