#!/usr/bin/env python3
"""The same S3 workload against any endpoint, plus the physical and machine references it
is judged against. Three subcommands, each printing tables and writing (or appending to) a
plot-ready CSV with one row per measurement:

  s3       --endpoint URL --access-key K --secret-key S [--label NAME] [--durability D]
           small-object (4 KiB) PUT and GET at several concurrencies (one boto3 client,
           hence one connection, per thread): ops/s and latency p50/p90/p99;
           large-object throughput: one single-stream PUT and GET, a parallel multipart
           upload and a parallel ranged GET;
           "rename" latency against object size: RenameObject where the endpoint has it
           (detected once, by renaming a probe object and checking the result), copy_object
           + delete_object always (what users of other stores do today); sizes interleaved.
  fs       --dir DIR: rename(2), rename(2) + fsync of the directory, and `cp` + unlink, for
           the same sizes, on DIR's filesystem.
  machine  --dir DIR: sequential write rate of DIR's disk (dd, O_DIRECT + fdatasync), one
           4 KiB overwrite + fdatasync, one core's MD5 rate (hashlib), and what one loopback
           TCP connection carries (iperf3 single stream when installed, and a Python
           sendall / recv_into pair, which is the ceiling for a Python client).

CSV columns: endpoint, workload, size_bytes, concurrency, method, durability, n, median,
p90, p99, unit. Rates are in MB/s (10^6 bytes per second) or ops/s, latencies in ms;
for a rate the `median` column holds the rate and p90/p99 are empty.

Client settings (the same for every endpoint): path-style addressing, no retries, payload
not SHA-256-signed (UNSIGNED-PAYLOAD, as SDKs send over HTTPS) and no flexible checksum
unless the operation requires one — so that the client's own hashing does not cap the
large transfers.

Examples:
  bench_compare.py machine --dir /var/tmp/x --csv out.csv
  bench_compare.py fs --dir /var/tmp/x --sizes 1KiB,1MiB,64MiB --csv out.csv
  bench_compare.py s3 --endpoint http://127.0.0.1:9000 --access-key stowage-dev \\
      --secret-key stowage-dev-secret --label stowage --durability strict --csv out.csv
"""
from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
import uuid

import boto3
import botocore.config
from botocore.exceptions import ClientError

KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
CHUNK = 8 * MiB
REGION = "us-east-1"
FIELDS = ["endpoint", "workload", "size_bytes", "concurrency", "method", "durability",
          "n", "median", "p90", "p99", "unit"]
UNSUPPORTED_RENAME_CODES = {"NotImplemented", "MethodNotAllowed", "InvalidRequest",
                            "InvalidArgument", "UnknownOperation", "UnsupportedOperation",
                            "501", "405", "400"}


# ---------------------------------------------------------------------------
# Sizes, statistics, results
# ---------------------------------------------------------------------------


def parse_size(text: str) -> int:
    text = text.strip()
    for suffix, factor in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB), ("G", GiB), ("M", MiB),
                           ("K", KiB), ("B", 1)):
        if text.endswith(suffix):
            return int(float(text[: -len(suffix)]) * factor)
    return int(text)


def parse_sizes(text: str) -> list[int]:
    return [parse_size(t) for t in text.split(",") if t.strip()]


def size_label(size: int) -> str:
    for factor, suffix in ((GiB, "GiB"), (MiB, "MiB"), (KiB, "KiB")):
        if size >= factor and size % factor == 0:
            return f"{size // factor} {suffix}"
    return f"{size} B"


def percentile(values, p):
    """Nearest-rank percentile (p in 0..1)."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, int(len(ordered) * p + 0.999999) - 1))]


class Results:
    """Rows for the CSV; each add() also prints one line at once."""

    def __init__(self, quiet: bool = False):
        self.rows: list[dict] = []
        self.quiet = quiet

    def latency(self, endpoint, workload, size, concurrency, method, durability, seconds):
        ms = [s * 1e3 for s in seconds]
        row = self._row(endpoint, workload, size, concurrency, method, durability, len(ms),
                        statistics.median(ms), percentile(ms, 0.90), percentile(ms, 0.99), "ms")
        if not self.quiet:
            print(f"  {endpoint:>9} {workload:<22} {size_label(size):>9} c={concurrency:<3} "
                  f"{method:<26} n={len(ms):<6} p50 {fmt(row['median'])} ms  "
                  f"p90 {fmt(row['p90'])}  p99 {fmt(row['p99'])}", flush=True)
        return row

    def rate(self, endpoint, workload, size, concurrency, method, durability, n, value, unit):
        row = self._row(endpoint, workload, size, concurrency, method, durability, n, value,
                        None, None, unit)
        if not self.quiet:
            print(f"  {endpoint:>9} {workload:<22} {size_label(size):>9} c={concurrency:<3} "
                  f"{method:<26} n={n:<6} {fmt(value)} {unit}", flush=True)
        return row

    def _row(self, endpoint, workload, size, concurrency, method, durability, n, median,
             p90, p99, unit):
        row = dict(endpoint=endpoint, workload=workload, size_bytes=size,
                   concurrency=concurrency, method=method, durability=durability, n=n,
                   median=median, p90=p90, p99=p99, unit=unit)
        self.rows.append(row)
        return row

    def write_csv(self, path: str, append: bool = False) -> None:
        exists = append and os.path.exists(path) and os.path.getsize(path) > 0
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        with open(path, "a" if append else "w", newline="") as out:
            writer = csv.DictWriter(out, fieldnames=FIELDS)
            if not exists:
                writer.writeheader()
            for row in self.rows:
                writer.writerow({k: csv_value(row[k]) for k in FIELDS})


def fmt(value) -> str:
    if value is None:
        return ""
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def csv_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    return value


def read_csv(path: str) -> list[dict]:
    rows = []
    with open(path, newline="") as source:
        for row in csv.DictReader(source):
            for key in ("size_bytes", "concurrency", "n"):
                row[key] = int(row[key])
            for key in ("median", "p90", "p99"):
                row[key] = float(row[key]) if row[key] != "" else None
            rows.append(row)
    return rows


# ---------------------------------------------------------------------------
# Files of a given size, without holding them in memory
# ---------------------------------------------------------------------------


def make_file(path: str, size: int) -> None:
    """`size` bytes of incompressible data (an 8 MiB random block, each copy stamped with
    its index so no two blocks are equal), synced."""
    block = bytearray(os.urandom(CHUNK))
    with open(path, "wb") as out:
        written, index = 0, 0
        while written < size:
            block[:8] = index.to_bytes(8, "little")
            n = min(CHUNK, size - written)
            out.write(memoryview(block)[:n])
            written += n
            index += 1
        out.flush()
        os.fsync(out.fileno())


class FileSlice(io.RawIOBase):
    """The first `length` bytes of a file, as a seekable stream (a request body that is
    never read into memory as a whole)."""

    def __init__(self, path: str, length: int):
        super().__init__()
        self._file = open(path, "rb")
        self._length = length
        self._position = 0

    def readable(self):
        return True

    def seekable(self):
        return True

    def __len__(self):
        return self._length

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._position, io.SEEK_END: self._length}[whence]
        self._position = max(0, min(self._length, base + offset))
        self._file.seek(self._position)
        return self._position

    def read(self, size=-1):
        remaining = self._length - self._position
        if size is None or size < 0 or size > remaining:
            size = remaining
        data = self._file.read(size)
        self._position += len(data)
        return data

    def readinto(self, buffer):
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self):
        self._file.close()
        super().close()


# ---------------------------------------------------------------------------
# CPU accounting (client: this process; server: a PID on this machine)
# ---------------------------------------------------------------------------

TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int | None) -> float | None:
    if pid is None:
        return None
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime
    except (OSError, IndexError, ValueError):
        return None


class CpuMeter:
    def __init__(self, server_pid: int | None):
        self.server_pid = server_pid

    def __enter__(self):
        self.wall = time.perf_counter()
        self.client = time.process_time()
        self.server = process_cpu_seconds(self.server_pid)
        return self

    def __exit__(self, *exc):
        self.wall = time.perf_counter() - self.wall
        self.client = (time.process_time() - self.client) / self.wall
        end = process_cpu_seconds(self.server_pid)
        self.server = None if end is None or self.server is None else (end - self.server) / self.wall
        return False


# ---------------------------------------------------------------------------
# The S3 workload
# ---------------------------------------------------------------------------


def make_client(endpoint: str, access_key: str, secret_key: str, pool: int = 1):
    config = botocore.config.Config(
        region_name=REGION,
        signature_version="s3v4",
        s3={"addressing_style": "path", "payload_signing_enabled": False},
        retries={"mode": "standard", "max_attempts": 1},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        connect_timeout=10,
        read_timeout=600,
        max_pool_connections=pool,
    )
    return boto3.session.Session().client(
        "s3", endpoint_url=endpoint, aws_access_key_id=access_key,
        aws_secret_access_key=secret_key, config=config)


def drain(body) -> int:
    received = 0
    while True:
        piece = body.read(CHUNK)
        if not piece:
            return received
        received += len(piece)


class S3Bench:
    def __init__(self, endpoint, access_key, secret_key, label, durability, results,
                 workdir, server_pid=None):
        self.endpoint = endpoint.rstrip("/")
        self.access_key = access_key
        self.secret_key = secret_key
        self.label = label
        self.durability = durability
        self.results = results
        self.workdir = workdir
        self.server_pid = server_pid
        self.s3 = self.client()
        self.bucket = f"bench-{label.lower()}-{uuid.uuid4().hex[:10]}"
        self._clients: list = []

    def client(self, pool: int = 1):
        return make_client(self.endpoint, self.access_key, self.secret_key, pool)

    def clients(self, count: int) -> list:
        while len(self._clients) < count:
            self._clients.append(self.client())
        return self._clients[:count]

    def setup(self):
        self.s3.create_bucket(Bucket=self.bucket)

    def cleanup(self):
        try:
            paginator = self.s3.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket):
                keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                for start in range(0, len(keys), 1000):
                    self.s3.delete_objects(Bucket=self.bucket,
                                           Delete={"Objects": keys[start:start + 1000], "Quiet": True})
            self.s3.delete_bucket(Bucket=self.bucket)
        except Exception as error:  # cleanup must not hide the figures
            print(f"  (cleanup of {self.bucket} on {self.label} failed: {error})")

    # -- small objects ------------------------------------------------------

    def small(self, size: int, concurrencies: list[int], seconds: float, max_ops: int) -> None:
        payload = os.urandom(size)
        for concurrency in concurrencies:
            clients = self.clients(concurrency)
            keys: list[list[str]] = [[] for _ in range(concurrency)]

            def put_worker(index, deadline_box, barrier):
                s3 = clients[index]
                s3.put_object(Bucket=self.bucket, Key=f"small/warm/{index}", Body=payload)
                samples = []
                barrier.wait()
                deadline = deadline_box[0]
                i = 0
                while time.perf_counter() < deadline and i < max_ops:
                    key = f"small/c{concurrency}/t{index}/{i:07d}"
                    started = time.perf_counter()
                    s3.put_object(Bucket=self.bucket, Key=key, Body=payload)
                    samples.append(time.perf_counter() - started)
                    keys[index].append(key)
                    i += 1
                return samples

            def get_worker(index, deadline_box, barrier):
                s3 = clients[index]
                mine = keys[index]
                samples = []
                barrier.wait()
                deadline = deadline_box[0]
                i = 0
                while time.perf_counter() < deadline and i < max_ops:
                    started = time.perf_counter()
                    body = s3.get_object(Bucket=self.bucket, Key=mine[i % len(mine)])["Body"].read()
                    samples.append(time.perf_counter() - started)
                    if len(body) != size:
                        raise RuntimeError(f"GET returned {len(body)} bytes, expected {size}")
                    i += 1
                return samples

            for workload, worker in (("small_put", put_worker), ("small_get", get_worker)):
                deadline_box = [0.0]
                barrier = threading.Barrier(concurrency + 1)
                with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
                    futures = [pool.submit(worker, i, deadline_box, barrier) for i in range(concurrency)]
                    # Release every worker at once; each reads the deadline after the barrier.
                    with CpuMeter(self.server_pid) as cpu:
                        deadline_box[0] = time.perf_counter() + seconds
                        barrier.wait()
                        samples = [s for f in futures for s in f.result()]
                ops = len(samples)
                self.results.rate(self.label, workload, size, concurrency, "boto3",
                                  self.durability, ops, ops / cpu.wall, "ops/s")
                self.results.latency(self.label, workload, size, concurrency, "boto3",
                                     self.durability, samples)
                self.results.rate(self.label, workload, size, concurrency, "client CPU",
                                  self.durability, ops, cpu.client, "cores")
                if cpu.server is not None:
                    self.results.rate(self.label, workload, size, concurrency, "server CPU",
                                      self.durability, ops, cpu.server, "cores")
            self._delete([k for ks in keys for k in ks] + [f"small/warm/{i}" for i in range(concurrency)])

    def _delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):
            self.s3.delete_objects(Bucket=self.bucket, Delete={
                "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})

    # -- large objects ------------------------------------------------------

    def large(self, path: str, size: int, part_size: int, threads: int) -> None:
        key = "large/single"
        with CpuMeter(self.server_pid) as cpu, FileSlice(path, size) as body:
            self.s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentLength=size)
        self._throughput("large_put", size, 1, "single stream", cpu)

        with CpuMeter(self.server_pid) as cpu:
            received = drain(self.s3.get_object(Bucket=self.bucket, Key=key)["Body"])
        if received != size:
            raise RuntimeError(f"GET returned {received} bytes, expected {size}")
        self._throughput("large_get", size, 1, "single stream", cpu)

        clients = self.clients(threads)
        ranges = [(offset, min(part_size, size - offset)) for offset in range(0, size, part_size)]

        # Parallel ranged GET of the single-stream object: one range per part.
        def get_range(index):
            offset, length = ranges[index]
            s3 = clients[index % threads]
            response = s3.get_object(Bucket=self.bucket, Key=key,
                                     Range=f"bytes={offset}-{offset + length - 1}")
            return drain(response["Body"])

        with CpuMeter(self.server_pid) as cpu, concurrent.futures.ThreadPoolExecutor(threads) as pool:
            received = sum(pool.map(get_range, range(len(ranges))))
        if received != size:
            raise RuntimeError(f"ranged GETs returned {received} bytes, expected {size}")
        self._throughput("large_get", size, threads, f"ranged GET {size_label(part_size)}", cpu)
        self.s3.delete_object(Bucket=self.bucket, Key=key)

        key = "large/multipart"
        fd = os.open(path, os.O_RDONLY)
        try:
            with CpuMeter(self.server_pid) as cpu:
                upload = self.s3.create_multipart_upload(Bucket=self.bucket, Key=key)["UploadId"]

                def put_part(index):
                    offset, length = ranges[index]
                    data = os.pread(fd, length, offset)
                    response = clients[index % threads].upload_part(
                        Bucket=self.bucket, Key=key, UploadId=upload, PartNumber=index + 1, Body=data)
                    return {"PartNumber": index + 1, "ETag": response["ETag"]}

                with concurrent.futures.ThreadPoolExecutor(threads) as pool:
                    parts = list(pool.map(put_part, range(len(ranges))))
                self.s3.complete_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload,
                                                  MultipartUpload={"Parts": parts})
        finally:
            os.close(fd)
        self._throughput("large_put", size, threads, f"multipart {size_label(part_size)} parts", cpu)
        head = self.s3.head_object(Bucket=self.bucket, Key=key)
        if head["ContentLength"] != size:
            raise RuntimeError(f"multipart object has {head['ContentLength']} bytes, expected {size}")
        self.s3.delete_object(Bucket=self.bucket, Key=key)

    def _throughput(self, workload, size, concurrency, method, cpu):
        self.results.rate(self.label, workload, size, concurrency, method, self.durability, 1,
                          size / cpu.wall / 1e6, "MB/s")
        self.results.rate(self.label, workload, size, concurrency, method + " client CPU",
                          self.durability, 1, cpu.client, "cores")
        if cpu.server is not None:
            self.results.rate(self.label, workload, size, concurrency, method + " server CPU",
                              self.durability, 1, cpu.server, "cores")

    # -- rename ------------------------------------------------------------

    def detect_rename(self) -> tuple[bool, str]:
        """Does the endpoint really rename? A server without RenameObject may answer
        200 to `PUT ?renameObject` and store an empty destination (moto does), so the
        answer is checked: the destination must hold the source's bytes and the source
        must be gone."""
        source, destination = "probe/rename-src", "probe/rename-dst"
        data = os.urandom(KiB)
        etag = self.s3.put_object(Bucket=self.bucket, Key=source, Body=data)["ETag"]
        try:
            try:
                self.s3.rename_object(Bucket=self.bucket, Key=destination, RenameSource=source)
            except ClientError as error:
                code = error.response.get("Error", {}).get("Code", "")
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                known = code in UNSUPPORTED_RENAME_CODES or str(status) in UNSUPPORTED_RENAME_CODES
                return False, f"RenameObject answered {status} {code}" + ("" if known else " (unexpected)")
            try:
                head = self.s3.head_object(Bucket=self.bucket, Key=destination)
            except ClientError:
                return False, "RenameObject answered 200 but the destination does not exist"
            if head["ContentLength"] != len(data) or head["ETag"] != etag:
                return False, (f"RenameObject answered 200 but stored a {head['ContentLength']}-byte "
                               f"destination (not a rename)")
            try:
                self.s3.head_object(Bucket=self.bucket, Key=source)
                return False, "RenameObject answered 200 but the source still exists"
            except ClientError:
                return True, "RenameObject renames (checked)"
        finally:
            self._delete([source, destination])

    def rename_curve(self, path: str, sizes: list[int], reps: int, reps_large: int,
                     large_from: int, methods: list[str]) -> None:
        """Every size is uploaded first; then the renames run in rounds, each round one
        operation per (size, method) — so a noisy moment hits every size alike. Sizes
        from `large_from` get `reps_large` rounds, smaller ones `reps` (plus one untimed
        warm-up round)."""
        current = {}
        for size in sizes:
            current[size] = f"rename/{size}/a"
            with FileSlice(path, size) as body:
                self.s3.put_object(Bucket=self.bucket, Key=current[size], Body=body, ContentLength=size)
        counts = {size: (1 + reps if size < large_from else reps_large) for size in sizes}
        samples = {(size, method): [] for size in sizes for method in methods}
        for round_ in range(max(counts.values())):
            for size in sizes:
                if round_ >= counts[size]:
                    continue
                for method in methods:
                    source = current[size]
                    destination = source[:-1] + ("b" if source.endswith("a") else "a")
                    started = time.perf_counter()
                    if method == "RenameObject":
                        self.s3.rename_object(Bucket=self.bucket, Key=destination, RenameSource=source)
                    else:
                        self.s3.copy_object(Bucket=self.bucket, Key=destination,
                                            CopySource={"Bucket": self.bucket, "Key": source})
                        self.s3.delete_object(Bucket=self.bucket, Key=source)
                    elapsed = time.perf_counter() - started
                    current[size] = destination
                    warmup = size < large_from and round_ == 0
                    if not warmup:
                        samples[(size, method)].append(elapsed)
        for size in sizes:
            for method in methods:
                self.results.latency(self.label, "rename", size, 1, method, self.durability,
                                     samples[(size, method)])
            head = self.s3.head_object(Bucket=self.bucket, Key=current[size])
            if head["ContentLength"] != size:
                raise RuntimeError(f"{current[size]} holds {head['ContentLength']} bytes after the "
                                   f"renames, expected {size}")
            self.s3.delete_object(Bucket=self.bucket, Key=current[size])


# ---------------------------------------------------------------------------
# Filesystem references
# ---------------------------------------------------------------------------


def fs_references(directory: str, source_file: str, sizes: list[int], reps: int,
                  reps_large: int, large_from: int, results: Results, label: str = "filesystem"):
    """rename(2); rename(2) + fsync(directory) (a durable rename); `cp` + unlink (the
    copy is not synced: it may still sit in the page cache when it is removed)."""
    work = tempfile.mkdtemp(prefix="fsref-", dir=directory)
    dir_fd = os.open(work, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for size in sizes:
            a, b = os.path.join(work, "a"), os.path.join(work, "b")
            with open(source_file, "rb") as source, open(a, "wb") as out:
                remaining = size
                while remaining:
                    piece = source.read(min(CHUNK, remaining))
                    out.write(piece)
                    remaining -= len(piece)
                out.flush()
                os.fsync(out.fileno())
            os.fsync(dir_fd)
            current, other = a, b

            samples = []
            for _ in range(201):
                started = time.perf_counter()
                os.rename(current, other)
                samples.append(time.perf_counter() - started)
                current, other = other, current
            results.latency(label, "rename", size, 1, "rename(2)", "no sync", samples[1:])

            samples = []
            for _ in range(21):
                started = time.perf_counter()
                os.rename(current, other)
                os.fsync(dir_fd)
                samples.append(time.perf_counter() - started)
                current, other = other, current
            results.latency(label, "rename", size, 1, "rename(2)+fsync(dir)", "fsync", samples[1:])

            count = reps if size < large_from else reps_large
            samples = []
            for _ in range(count):
                started = time.perf_counter()
                subprocess.run(["cp", current, other], check=True)
                os.unlink(current)
                samples.append(time.perf_counter() - started)
                current, other = other, current
            results.latency(label, "rename", size, 1, "cp+rm", "no sync", samples)
            os.unlink(current)
    finally:
        os.close(dir_fd)
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------------------
# Machine references
# ---------------------------------------------------------------------------


def disk_write(directory: str, mib: int, results: Results, label="machine"):
    target = os.path.join(directory, "dd-seq-write.tmp")
    argv = ["dd", "if=/dev/zero", f"of={target}", "bs=1M", f"count={mib}",
            "oflag=direct", "conv=fdatasync"]
    try:
        started = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        seconds = time.perf_counter() - started
    finally:
        with contextlib.suppress(OSError):
            os.unlink(target)
    results.rate(label, "disk_seq_write", mib * MiB, 1, "dd bs=1M oflag=direct conv=fdatasync",
                 "O_DIRECT+fdatasync", 1, mib * MiB / seconds / 1e6, "MB/s")


def fdatasync_latency(directory: str, count: int, results: Results, label="machine"):
    """4 KiB overwrite of an allocated, written block + fdatasync."""
    target = os.path.join(directory, "fdatasync.tmp")
    block = os.urandom(4 * KiB)
    fd = os.open(target, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, block * 256)
        os.fsync(fd)
        samples = []
        for i in range(count + 1):
            started = time.perf_counter()
            os.pwrite(fd, block, (i % 256) * 4 * KiB)
            os.fdatasync(fd)
            samples.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        os.unlink(target)
    results.latency(label, "fdatasync", 4 * KiB, 1, "pwrite 4 KiB + fdatasync", "fdatasync",
                    samples[1:])


def md5_rate(mib: int, results: Results, label="machine"):
    buffer = os.urandom(64 * MiB)
    digest = hashlib.md5()
    started = time.perf_counter()
    for _ in range(max(1, mib // 64)):
        digest.update(buffer)
    seconds = time.perf_counter() - started
    results.rate(label, "md5", max(1, mib // 64) * 64 * MiB, 1, "hashlib.md5, one core", "-", 1,
                 max(1, mib // 64) * 64 * MiB / seconds / 1e6, "MB/s")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loopback_python(seconds: float, results: Results, label="machine"):
    """One loopback TCP connection: sendall of an 8 MiB buffer in a loop, recv_into an
    8 MiB buffer on the other side (both release the GIL); bytes received / time."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    outcome = {}

    def receive():
        connection, _ = listener.accept()
        buffer = bytearray(CHUNK)
        view = memoryview(buffer)
        received = 0
        first = None
        while True:
            n = connection.recv_into(view)
            if n == 0:
                break
            if first is None:
                first = time.perf_counter()
            received += n
        outcome["bytes"] = received
        outcome["seconds"] = time.perf_counter() - first
        connection.close()

    receiver = threading.Thread(target=receive)
    receiver.start()
    sender = socket.create_connection(("127.0.0.1", port))
    payload = memoryview(os.urandom(CHUNK))
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        sender.sendall(payload)
    sender.close()
    receiver.join()
    listener.close()
    results.rate(label, "loopback_tcp", outcome["bytes"], 1, "python sendall/recv_into 8 MiB",
                 "-", 1, outcome["bytes"] / outcome["seconds"] / 1e6, "MB/s")


def loopback_iperf3(seconds: float, results: Results, label="machine") -> bool:
    if shutil.which("iperf3") is None:
        print("  (iperf3 not installed: the loopback figure is the Python pair's only)")
        return False
    port = free_port()
    server = subprocess.Popen(["iperf3", "-s", "-1", "-B", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        report = None
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            done = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-P", "1",
                                   "-t", str(max(1, int(seconds))), "-J"],
                                  capture_output=True, text=True)
            try:
                report = json.loads(done.stdout)
            except ValueError:
                report = None
            if done.returncode == 0 and report and "error" not in report:
                break
            report = None
            time.sleep(0.2)  # the server may not listen yet
        if report is None:
            print("  (iperf3 failed: the loopback figure is the Python pair's only)")
            return False
        bits = report["end"]["sum_received"]["bits_per_second"]
        total = report["end"]["sum_received"]["bytes"]
        results.rate(label, "loopback_tcp", int(total), 1, "iperf3 single stream", "-", 1,
                     bits / 8 / 1e6, "MB/s")
        return True
    finally:
        if server.poll() is None:
            server.terminate()
        server.wait(timeout=10)


def machine_references(directory: str, results: Results, dd_mib: int, md5_mib: int,
                       loopback_seconds: float):
    disk_write(directory, dd_mib, results)
    fdatasync_latency(directory, 50, results)
    md5_rate(md5_mib, results)
    loopback_iperf3(loopback_seconds, results)
    loopback_python(loopback_seconds, results)


# ---------------------------------------------------------------------------
# The S3 run as one call (used by compare.py too)
# ---------------------------------------------------------------------------


def run_s3(bench: S3Bench, *, large_file: str, small_size: int, concurrencies: list[int],
           small_seconds: float, small_max_ops: int, large_size: int, part_size: int,
           threads: int, rename_sizes: list[int], rename_reps: int, rename_reps_large: int,
           large_from: int, methods: str = "auto") -> str:
    """Runs the whole workload; returns a note on how "rename" was done."""
    bench.setup()
    try:
        supported, reason = bench.detect_rename()
        print(f"  {bench.label}: {reason}", flush=True)
        if methods == "auto":
            chosen = ["RenameObject", "copy+delete"] if supported else ["copy+delete"]
        else:
            chosen = methods.split(",")
        bench.small(small_size, concurrencies, small_seconds, small_max_ops)
        if large_size:
            bench.large(large_file, large_size, part_size, threads)
        bench.rename_curve(large_file, rename_sizes, rename_reps, rename_reps_large, large_from, chosen)
        return reason
    finally:
        bench.cleanup()


def common_arguments(parser):
    parser.add_argument("--csv", help="write the rows to this CSV file")
    parser.add_argument("--append", action="store_true", help="append to --csv (header once)")
    parser.add_argument("--sizes", default="1KiB,1MiB,64MiB,256MiB,1GiB",
                        help="rename / copy sizes (default %(default)s)")
    parser.add_argument("--reps", type=int, default=15, help="repetitions per size below --large-from")
    parser.add_argument("--reps-large", type=int, default=5, help="repetitions per size from --large-from")
    parser.add_argument("--large-from", default="64MiB")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    s3 = commands.add_parser("s3", help="the S3 workload against one endpoint")
    s3.add_argument("--endpoint", required=True)
    s3.add_argument("--access-key", default=os.environ.get("AWS_ACCESS_KEY_ID", "stowage-dev"))
    s3.add_argument("--secret-key", default=os.environ.get("AWS_SECRET_ACCESS_KEY", "stowage-dev-secret"))
    s3.add_argument("--label", default="endpoint", help="the endpoint's name in the output")
    s3.add_argument("--durability", default="unknown", help="recorded in every row")
    s3.add_argument("--server-pid", type=int, help="a local server's PID, for its CPU use")
    s3.add_argument("--small-size", default="4KiB")
    s3.add_argument("--concurrency", default="1,8,32")
    s3.add_argument("--small-seconds", type=float, default=4.0, help="per phase and level")
    s3.add_argument("--small-max-ops", type=int, default=100000, help="per thread and phase")
    s3.add_argument("--large-size", default="1GiB", help="0 skips the large-object part")
    s3.add_argument("--part-size", default="64MiB")
    s3.add_argument("--threads", type=int, default=4, help="multipart / ranged GET threads")
    s3.add_argument("--methods", default="auto",
                    help="auto (RenameObject when it works, and copy+delete), or a list")
    s3.add_argument("--workdir", help="where the source file is made (default: a temp dir)")
    common_arguments(s3)

    fs = commands.add_parser("fs", help="rename(2) and cp+rm on a directory's filesystem")
    fs.add_argument("--dir", required=True)
    common_arguments(fs)

    machine = commands.add_parser("machine", help="disk, MD5 and loopback references")
    machine.add_argument("--dir", required=True, help="on the disk to measure")
    machine.add_argument("--dd-mib", type=int, default=1024)
    machine.add_argument("--md5-mib", type=int, default=1024)
    machine.add_argument("--loopback-seconds", type=float, default=4)
    machine.add_argument("--csv")
    machine.add_argument("--append", action="store_true")

    args = parser.parse_args()
    results = Results()
    if args.command == "machine":
        machine_references(args.dir, results, args.dd_mib, args.md5_mib, args.loopback_seconds)
    else:
        sizes = parse_sizes(args.sizes)
        large_from = parse_size(args.large_from)
        workdir = getattr(args, "workdir", None) or (args.dir if args.command == "fs" else None)
        own = workdir is None
        workdir = workdir or tempfile.mkdtemp(prefix="bench-compare-")
        large_size = parse_size(args.large_size) if args.command == "s3" else 0
        source = os.path.join(workdir, f"source-{uuid.uuid4().hex[:8]}.bin")
        try:
            make_file(source, max(sizes + [large_size]))
            if args.command == "fs":
                fs_references(args.dir, source, sizes, args.reps, args.reps_large, large_from, results)
            else:
                bench = S3Bench(args.endpoint, args.access_key, args.secret_key, args.label,
                                args.durability, results, workdir, args.server_pid)
                run_s3(bench, large_file=source, small_size=parse_size(args.small_size),
                       concurrencies=[int(c) for c in args.concurrency.split(",")],
                       small_seconds=args.small_seconds, small_max_ops=args.small_max_ops,
                       large_size=large_size, part_size=parse_size(args.part_size),
                       threads=args.threads, rename_sizes=sizes, rename_reps=args.reps,
                       rename_reps_large=args.reps_large, large_from=large_from,
                       methods=args.methods)
        finally:
            os.unlink(source)
            if own:
                shutil.rmtree(workdir, ignore_errors=True)
    if args.csv:
        results.write_csv(args.csv, append=args.append)
        print(f"wrote {len(results.rows)} rows to {args.csv}")


if __name__ == "__main__":
    main()
