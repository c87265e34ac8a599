#!/usr/bin/env python3
"""Compaction rate next to the disk's sequential write rate, measured in one run.

Fills a data directory through the real server (release build, 64 MiB segments), deletes
every other object so each segment is about half garbage, stops the server, then in
this order: `dd` (sequential write with fdatasync, the disk's rate), `stowage compact`
(strict durability: copies fdatasync'ed before each repoint commit), `dd` again. The page
cache is dropped before compaction when possible, so the live data is read from disk.

    python3 Benchmarks/http/bench_compaction.py [--gib 4] [--binary .build/release/stowage]
"""

import argparse
import json
import os
import pathlib
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import boto3
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
KEY, SECRET = "BENCHCOMPACTKEY", "bench-compact-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def dd_rate(directory: pathlib.Path, mib: int) -> float:
    target = directory / "dd.tmp"
    started = time.monotonic()
    subprocess.run(["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}", "conv=fdatasync"],
                   check=True, capture_output=True)
    seconds = time.monotonic() - started
    target.unlink()
    return mib * 1048576 / seconds / 1e6


def drop_caches() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        pathlib.Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=4.0, help="data written before the deletes")
    parser.add_argument("--binary", default=str(REPO / ".build" / "release" / "stowage"))
    parser.add_argument("--object-mib", type=int, default=8)
    args = parser.parse_args()

    root = pathlib.Path(tempfile.mkdtemp(prefix="stowage-bench-compact-", dir=REPO / ".build"))
    data = root / "data"
    port = free_port()
    log = open(root / "serve.log", "wb")
    server = subprocess.Popen([args.binary, "serve", "--data", str(data), "--address", "127.0.0.1",
                               "--port", str(port), "--access-key", KEY, "--secret-key", SECRET,
                               "--segment-size", "64", "--compaction-interval", "0", "--durability", "relaxed"],
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id=KEY,
                          aws_secret_access_key=SECRET, region_name="us-east-1",
                          config=Config(s3={"addressing_style": "path"}))
        deadline = time.monotonic() + 60
        while True:
            try:
                s3.create_bucket(Bucket="bench")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        body = os.urandom(args.object_mib << 20)
        count = int(args.gib * 1024 / args.object_mib)
        for i in range(count):
            s3.put_object(Bucket="bench", Key=f"o{i}", Body=body)
        for i in range(0, count, 2):
            s3.delete_object(Bucket="bench", Key=f"o{i}")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
        log.close()

    # The relaxed server's writes may still be draining: settle first, then three dd runs.
    subprocess.run(["sync"], check=True)
    time.sleep(2)
    disk_before = sorted(dd_rate(root, 1024) for _ in range(3))[1]
    dropped = drop_caches()
    done = subprocess.run([args.binary, "compact", "--data", str(data), "--compaction-threshold", "0.4", "--json"],
                          check=True, capture_output=True, text=True)
    report = json.loads(done.stdout)
    disk_after = sorted(dd_rate(root, 1024) for _ in range(3))[1]
    shutil.rmtree(root)

    print(f"written {args.gib} GiB in {args.object_mib} MiB objects, half deleted; 64 MiB segments")
    print(f"page cache dropped before compaction: {dropped}")
    print(f"disk sequential write (dd bs=1M conv=fdatasync, 1 GiB, median of 3): {disk_before:.0f} MB/s before, {disk_after:.0f} MB/s after")
    print(f"compaction (strict): moved {report['bytesMoved'] / 1e6:.0f} MB of live data in {report['seconds']:.2f} s "
          f"= {report['moveRateMBps']:.0f} MB/s; retired {report['segmentsRetired']} segments, "
          f"reclaimed {report['bytesReclaimed'] / 1e6:.0f} MB; capacity {report['capacityBefore'] / 1e6:.0f} -> "
          f"{report['capacityAfter'] / 1e6:.0f} MB for {report['liveBytes'] / 1e6:.0f} MB live")
    disk = min(disk_before, disk_after)
    print(f"ratio compaction / disk write: {report['moveRateMBps'] / disk:.2f}")


if __name__ == "__main__":
    main()
