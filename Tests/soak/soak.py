#!/usr/bin/env python3
"""Crash-safety soak for Stowage (issue 7): kill -9 the real server at random moments
under a mixed S3 workload and check that nothing acknowledged is ever lost.

One cycle:
  1. start `stowage serve --durability strict` on the data directory (the same one every
     cycle), wait until it answers;
  2. abort the multipart uploads a kill left behind; replay, with its client token, every
     rename acknowledged so far in this cycle's predecessor (and a sample of older ones):
     each must answer 200 and change nothing;
  3. WORKERS client threads (each its own boto3 client, no automatic retries) run a mixed
     workload: PUT, overwrite, conditional PUT (If-None-Match: *, If-Match right/wrong
     ETag), RenameObject (plain, destination If-None-Match / If-Match, source If-Match;
     always an explicit ClientToken), CopyObject, multipart upload (one small part, or a
     5 MiB part and a small last one), DELETE;
  4. after a random delay (0.2–2 s) SIGKILL the server; workers stop;
  5. `stowage fsck --data DIR --json` on the stopped directory must exit 0 (notices
     allowed, no problem);
  6. restart and check every key against the model (below), then go on with the next cycle.
At the end the server is stopped with SIGTERM (it must exit 0) and fsck runs once more.

The model is exact. Each worker owns its keys (`w<N>/k<M>`): it is their only writer and
issues one request at a time, so the state of its keys is determined by its acknowledged
operations, and at a kill at most one operation of it is in flight. For every operation
the worker computes, before sending it, the answer it must get (200, 412, 404) and the
state of its keys after it. An acknowledged operation must get exactly that answer; an
operation whose answer was lost in the kill leaves the worker's keys in one of two
states, all of "before" or all of "after", checked key by key: content (MD5 of the bytes
read back), ETag, Content-Type and user metadata. Anything else is a violation: a lost
or corrupted acknowledged write, a half-applied operation, a wrong answer, a 5xx, a
connection dropped while the server was up, a rename replay that did not answer 200.

Usage: soak.py [--cycles 50] [--workers 4] [--seed N] [--workdir DIR] [--keep]
Binary: $STOWAGE_BIN (default <repo>/.build/debug/stowage). Exit status 0 when no
violation was found, 1 otherwise.
"""

from __future__ import annotations

import argparse
import shlex
import collections
import dataclasses
import hashlib
import json
import os
import pathlib
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

REPO = pathlib.Path(__file__).resolve().parents[2]
ACCESS_KEY = "STOWAGESOAKKEY000001"
SECRET_KEY = "stowage/soak+Secret0123456789abcdefghij"
REGION = "us-east-1"
BUCKET = "soak"
KEYS_PER_WORKER = 6
MIN_PART = 5 << 20
READY_TIMEOUT = 60
FSCK_TIMEOUT = 300
KILL_DELAY = (0.2, 2.0)
CONTENT_TYPES = ["application/octet-stream", "text/plain", "application/x-checkpoint",
                 "image/png", "application/json; charset=utf-8"]


# ---------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Obj:
    """What a key holds: its bytes (by MD5), size, ETag and attributes — its server-side
    encryption (None, AES256, aws:kms) and its tags among them."""
    md5: str
    size: int
    etag: str
    content_type: str
    metadata: tuple
    sse: str | None = None
    tags: tuple = ()

    def describe(self) -> str:
        return (f"md5={self.md5} size={self.size} etag={self.etag} "
                f"type={self.content_type!r} meta={dict(self.metadata)} sse={self.sse} tags={dict(self.tags)}")


def single_etag(body: bytes) -> str:
    return f'"{hashlib.md5(body).hexdigest()}"'


def multipart_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    return f'"{digest}-{len(parts)}"'


def describe_world(world: dict) -> str:
    return "{" + ", ".join(f"{k}: {v.describe() if v else 'absent'}"
                           for k, v in sorted(world.items())) + "}"


@dataclasses.dataclass
class Op:
    """One logical operation: what it must answer and the worker's keys after it."""
    op_id: int
    kind: str                # put, overwrite, put_if_none_match, put_if_match, rename, copy, multipart, delete
    variant: str             # e.g. rename's condition, "wrong-etag"
    expect: str              # "ok" or the S3 error code it must get
    after: dict              # the worker's keys after the operation (== before if it must fail)
    send: callable           # (client) -> None; raises ClientError / transport errors
    rename: dict | None = None   # rename parameters, for the token replay


@dataclasses.dataclass
class Stats:
    acked: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    acked_refused: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    in_flight: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    resolved: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    replays: int = 0
    uploads_aborted: int = 0
    keys_checked: int = 0
    encrypted_checked: int = 0   # keys read back (after kills too) that were encrypted at rest
    tagged_checked: int = 0
    bytes_written: int = 0
    fsck: list = dataclasses.field(default_factory=list)
    violations: list = dataclasses.field(default_factory=list)
    lost: int = 0
    half_visible: int = 0
    cycles: int = 0
    kills: int = 0
    clean_stop: bool | None = None
    segments_compacted: int = 0


class Worker:
    def __init__(self, index: int, rng: random.Random, stats: Stats, lock: threading.Lock):
        self.index = index
        self.keys = [f"w{index}/k{m}" for m in range(KEYS_PER_WORKER)]
        self.world: dict[str, Obj | None] = {k: None for k in self.keys}
        self.rng = rng
        self.stats = stats
        self.lock = lock
        self.pending: Op | None = None           # sent, answer not received (in flight at the kill)
        self.acked_renames: list[dict] = []      # successful renames, for the token replay
        self.renames_this_cycle: list[dict] = []
        self.stopped_on_violation = False

    # -- choosing an operation ---------------------------------------------------

    def body(self, op_id: int) -> bytes:
        r = self.rng.random()
        if r < 0.05:
            size = 0
        elif r < 0.70:
            size = self.rng.randint(1, 64 << 10)
        elif r < 0.95:
            size = self.rng.randint(64 << 10, 1536 << 10)
        else:
            size = self.rng.randint(1536 << 10, 4 << 20)
        if size == 0:
            return b""
        head = f"op {op_id} w{self.index};".encode()
        return (head + self.rng.randbytes(max(0, size - len(head))))[:size]

    def attributes(self, op_id: int) -> tuple[str, dict]:
        meta = {"op": str(op_id), "writer": f"w{self.index}"}
        if self.rng.random() < 0.3:
            meta["note"] = self.rng.choice(["ckpt", "shard-0007", "tmp", "final"])
        return self.rng.choice(CONTENT_TYPES), meta

    def plan(self, op_id: int) -> Op:
        existing = [k for k in self.keys if self.world[k] is not None]
        absent = [k for k in self.keys if self.world[k] is None]
        choices = ["put", "overwrite", "put_if_none_match", "put_if_match", "rename", "rename",
                   "copy", "multipart", "delete"]
        if not existing:
            choices = ["put", "put_if_none_match", "multipart", "put_if_match"]
        kind = self.rng.choice(choices)
        if kind == "put" and not absent:
            kind = "overwrite"
        if kind in ("put", "overwrite", "put_if_none_match", "put_if_match"):
            return self.plan_put(op_id, kind, existing, absent)
        if kind == "rename":
            return self.plan_rename(op_id, existing)
        if kind == "copy":
            return self.plan_copy(op_id, existing)
        if kind == "multipart":
            return self.plan_multipart(op_id)
        return self.plan_delete(op_id, existing)

    def encryption(self) -> tuple[str | None, dict]:
        """Encrypted at rest, sometimes: SSE-S3, or SSE-KMS under the built-in key."""
        r = self.rng.random()
        if r < 0.25:
            return "AES256", {"ServerSideEncryption": "AES256"}
        if r < 0.35:
            return "aws:kms", {"ServerSideEncryption": "aws:kms"}
        return None, {}

    def tagging(self, op_id: int) -> tuple[tuple, dict]:
        if self.rng.random() < 0.3:
            tags = {"op": str(op_id), "stage": self.rng.choice(["tmp", "final", "ckpt"])}
            return tuple(sorted(tags.items())), {"Tagging": "&".join(f"{k}={v}" for k, v in tags.items())}
        return (), {}

    def plan_put(self, op_id, kind, existing, absent) -> Op:
        body = self.body(op_id)
        content_type, meta = self.attributes(op_id)
        sse, extra = self.encryption()
        tags, tagging = self.tagging(op_id)
        extra.update(tagging)
        new = Obj(hashlib.md5(body).hexdigest(), len(body), single_etag(body), content_type,
                  tuple(sorted(meta.items())), sse, tags)
        variant = "-"
        if kind == "put":
            key = self.rng.choice(absent)
        elif kind == "overwrite":
            key = self.rng.choice(existing)
        elif kind == "put_if_none_match":
            key = self.rng.choice(self.keys)
            extra["IfNoneMatch"] = "*"
        else:  # put_if_match
            key = self.rng.choice(self.keys)
            current = self.world[key]
            if current is not None and self.rng.random() < 0.7:
                extra["IfMatch"] = current.etag
                variant = "right-etag"
            else:
                extra["IfMatch"] = '"0123456789abcdef0123456789abcdef"'
                variant = "wrong-etag" if current is not None else "absent-key"
        after = dict(self.world)
        current = self.world[key]
        if kind == "put_if_none_match" and current is not None:
            expect = "PreconditionFailed"
        elif kind == "put_if_match" and current is None:
            expect = "NoSuchKey"
        elif kind == "put_if_match" and variant != "right-etag":
            expect = "PreconditionFailed"
        else:
            expect = "ok"
            after[key] = new

        def send(s3):
            answer = s3.put_object(Bucket=BUCKET, Key=key, Body=body, ContentType=content_type,
                                   Metadata=meta, **extra)
            if answer["ETag"] != new.etag:
                raise Violation(f"PUT {key} answered ETag {answer['ETag']}, body MD5 is {new.etag}")
            self.count_bytes(len(body))

        return Op(op_id, kind, variant, expect, after, send)

    def plan_rename(self, op_id, existing) -> Op:
        source = self.rng.choice(existing)
        destination = self.rng.choice([k for k in self.keys if k != source])
        token = uuid.uuid4().hex
        params = {"Bucket": BUCKET, "Key": destination, "RenameSource": source, "ClientToken": token}
        variants = ["plain", "dest-if-none-match", "source-if-match"]
        if self.world[destination] is not None:
            variants.append("dest-if-match")
        variant = self.rng.choice(variants)
        expect = "ok"
        if variant == "dest-if-none-match":
            params["DestinationIfNoneMatch"] = "*"
            if self.world[destination] is not None:
                expect = "PreconditionFailed"
        elif variant == "source-if-match":
            params["SourceIfMatch"] = self.world[source].etag
        elif variant == "dest-if-match":
            params["DestinationIfMatch"] = self.world[destination].etag
        after = dict(self.world)
        if expect == "ok":
            after[destination] = self.world[source]
            after[source] = None

        def send(s3):
            s3.rename_object(**params)

        return Op(op_id, "rename", variant, expect, after, send, rename=params)

    def plan_copy(self, op_id, existing) -> Op:
        source = self.rng.choice(existing)
        destination = self.rng.choice([k for k in self.keys if k != source])
        after = dict(self.world)
        after[destination] = self.world[source]

        def send(s3):
            s3.copy_object(Bucket=BUCKET, Key=destination,
                           CopySource={"Bucket": BUCKET, "Key": source})

        return Op(op_id, "copy", "-", "ok", after, send)

    def plan_multipart(self, op_id) -> Op:
        key = self.rng.choice(self.keys)
        content_type, meta = self.attributes(op_id)
        if self.rng.random() < 0.2:
            first = f"op {op_id} part 1;".encode() + self.rng.randbytes(MIN_PART)
            parts = [first, self.rng.randbytes(self.rng.randint(1, 256 << 10))]
            variant = "2-parts"
        else:
            parts = [f"op {op_id} part 1;".encode() + self.rng.randbytes(self.rng.randint(0, 256 << 10))]
            variant = "1-part"
        whole = b"".join(parts)
        sse, extra = self.encryption()
        tags, tagging = self.tagging(op_id)
        extra.update(tagging)
        new = Obj(hashlib.md5(whole).hexdigest(), len(whole), multipart_etag(parts), content_type,
                  tuple(sorted(meta.items())), sse, tags)
        after = dict(self.world)
        after[key] = new

        def send(s3):
            upload = s3.create_multipart_upload(Bucket=BUCKET, Key=key, ContentType=content_type,
                                                Metadata=meta, **extra)["UploadId"]
            done = []
            for number, part in enumerate(parts, start=1):
                etag = s3.upload_part(Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=number,
                                      Body=part)["ETag"]
                done.append({"PartNumber": number, "ETag": etag})
            answer = s3.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=upload,
                                                  MultipartUpload={"Parts": done})
            if answer["ETag"] != new.etag:
                raise Violation(f"Complete {key} answered ETag {answer['ETag']}, expected {new.etag}")
            self.count_bytes(len(whole))

        return Op(op_id, "multipart", variant, "ok", after, send)

    def plan_delete(self, op_id, existing) -> Op:
        key = self.rng.choice(existing) if self.rng.random() < 0.85 else self.rng.choice(self.keys)
        after = dict(self.world)
        after[key] = None

        def send(s3):
            s3.delete_object(Bucket=BUCKET, Key=key)

        return Op(op_id, "delete", "-" if self.world[key] else "absent-key", "ok", after, send)

    def count_bytes(self, n):
        with self.lock:
            self.stats.bytes_written += n

    # -- running -------------------------------------------------------------------

    def violation(self, text: str):
        with self.lock:
            self.stats.violations.append(f"w{self.index}: {text}")

    def run(self, s3, next_op_id, stop: threading.Event, killed: threading.Event):
        while not stop.is_set() and not self.stopped_on_violation:
            op = self.plan(next_op_id())
            self.pending = op
            try:
                op.send(s3)
                outcome = "ok"
            except ClientError as error:
                outcome = error.response.get("Error", {}).get("Code", "?")
                status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
                outcome_status = status
            except Violation as error:
                self.violation(f"op {op.op_id} {op.kind}/{op.variant}: {error}")
                self.stopped_on_violation = True   # state unknown: leave it pending
                return
            except Exception as error:  # transport: connection refused/reset, timeout
                if killed.is_set():
                    with self.lock:
                        self.stats.in_flight[op.kind] += 1
                    return                         # op stays pending: before or after
                self.violation(f"op {op.op_id} {op.kind}/{op.variant}: transport error while "
                               f"the server was up: {type(error).__name__}: {error}")
                self.stopped_on_violation = True
                return
            else:
                outcome_status = 200
            if outcome != op.expect:
                self.violation(f"op {op.op_id} {op.kind}/{op.variant}: answered {outcome_status} "
                               f"{outcome}, the model says {op.expect}")
                self.stopped_on_violation = True   # leave it pending: before or after
                return
            self.pending = None
            self.world = op.after
            with self.lock:
                self.stats.acked[op.kind] += 1
                if outcome != "ok":
                    self.stats.acked_refused[f"{op.kind} {outcome}"] += 1
            if op.kind == "rename" and outcome == "ok":
                self.renames_this_cycle.append(op.rename)


class Violation(Exception):
    pass


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, binary: pathlib.Path, data_dir: pathlib.Path, log_path: pathlib.Path,
                 extra_args: list[str] | None = None):
        self.binary = binary
        self.extra_args = list(extra_args or [])
        self.data_dir = data_dir
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None
        self.port = 0
        # The master key outlives every restart, as an operator's would.
        self.master_key = data_dir.parent / "master.key"
        if not self.master_key.exists():
            self.master_key.write_text(os.urandom(32).hex())

    def start(self, label: str):
        self.port = free_port()
        log = open(self.log_path, "ab")
        log.write(f"\n===== {label}: starting on port {self.port} =====\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [str(self.binary), "serve", "--data", str(self.data_dir), "--address", "127.0.0.1",
             "--port", str(self.port), "--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY,
             "--durability", "strict", "--master-key-file", str(self.master_key), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"stowage exited with {self.proc.returncode} at start "
                                   f"(log: {self.log_path})")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    if sock.recv(16).startswith(b"HTTP/1.1"):
                        return
            except OSError:
                pass
            time.sleep(0.05)
        self.proc.kill()
        raise RuntimeError(f"stowage not ready after {READY_TIMEOUT} s (log: {self.log_path})")

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def terminate(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=30)
            return -9

    def client(self, pool: int = 4):
        return boto3.session.Session().client(
            "s3", endpoint_url=f"http://127.0.0.1:{self.port}", aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY, region_name=REGION,
            config=Config(region_name=REGION, signature_version="s3v4",
                          s3={"addressing_style": "path"},
                          retries={"mode": "standard", "max_attempts": 1},
                          connect_timeout=5, read_timeout=60, max_pool_connections=pool,
                          tcp_keepalive=False))


def run_fsck(binary: pathlib.Path, data_dir: pathlib.Path, label: str, stats: Stats):
    started = time.monotonic()
    done = subprocess.run([str(binary), "fsck", "--data", str(data_dir), "--json"],
                          capture_output=True, text=True, timeout=FSCK_TIMEOUT,
                          stdin=subprocess.DEVNULL)
    seconds = time.monotonic() - started
    entry = {"label": label, "exit": done.returncode, "seconds": round(seconds, 2)}
    try:
        parsed = json.loads(done.stdout)
        report = parsed.get("report", {})
        findings = report.get("findings", [])
        entry["problems"] = sorted({f["kind"] for f in findings if f.get("severity") == "problem"})
        entry["notices"] = dict(collections.Counter(f["kind"] for f in findings
                                                    if f.get("severity") != "problem"))
        entry["clean"] = report.get("clean")
        entry["live"] = report.get("live")
        entry["objects"] = report.get("statistics", {}).get("objects")
        entry["bytesVerified"] = report.get("statistics", {}).get("bytesVerified")
        entry["orphanedBytes"] = report.get("statistics", {}).get("orphanedBytes")
    except (json.JSONDecodeError, AttributeError) as error:
        entry["problems"] = [f"unparseable output: {error}: {done.stdout[:300]!r} {done.stderr[:300]!r}"]
    stats.fsck.append(entry)
    if done.returncode != 0 or entry.get("problems") or entry.get("clean") is not True \
            or entry.get("live") is not False:
        stats.violations.append(f"{label}: fsck exit {done.returncode}, clean={entry.get('clean')}, "
                                f"live={entry.get('live')}, problems {entry.get('problems')}\n"
                                f"{done.stdout[:4000]}{done.stderr[-2000:]}")
    return entry


# ---------------------------------------------------------------------------
# Checking a restarted server against the model
# ---------------------------------------------------------------------------


def read_key(s3, key) -> Obj | None:
    try:
        answer = s3.get_object(Bucket=BUCKET, Key=key)
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") == "NoSuchKey":
            return None
        raise
    body = answer["Body"].read()
    tags = ()
    if answer.get("TagCount"):
        tag_set = s3.get_object_tagging(Bucket=BUCKET, Key=key)["TagSet"]
        tags = tuple(sorted((t["Key"], t["Value"]) for t in tag_set))
    return Obj(hashlib.md5(body).hexdigest(), len(body), answer["ETag"], answer.get("ContentType", ""),
               tuple(sorted(answer.get("Metadata", {}).items())), answer.get("ServerSideEncryption"), tags)


def read_world(s3, worker: Worker, stats: Stats) -> dict:
    stats.keys_checked += len(worker.keys)
    world = {k: read_key(s3, k) for k in worker.keys}
    stats.encrypted_checked += sum(1 for v in world.values() if v is not None and v.sse)
    stats.tagged_checked += sum(1 for v in world.values() if v is not None and v.tags)
    return world


def verify(s3, workers: list[Worker], stats: Stats, label: str, settle: bool):
    """Check every worker's keys against its model. With `settle`, resolve the operation
    that was in flight (before or after, never a mix) and make the observed world the model."""
    listed = set()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
        listed.update(o["Key"] for o in page.get("Contents", []))
    owned = {k for w in workers for k in w.keys}
    for key in sorted(listed - owned):
        stats.violations.append(f"{label}: unexpected key {key!r} in the listing")
    for worker in workers:
        actual = read_world(s3, worker, stats)
        present = {k for k, v in actual.items() if v is not None}
        if present != {k for k in worker.keys if k in listed}:
            stats.violations.append(f"{label}: w{worker.index}: listing {sorted(listed & set(worker.keys))} "
                                    f"disagrees with GET {sorted(present)}")
        before = worker.world
        op = worker.pending if settle else None
        if actual == before:
            if op is not None:
                stats.resolved["not applied" if op.after != before else "indistinguishable"] += 1
        elif op is not None and actual == op.after:
            stats.resolved["applied"] += 1
            if op.kind == "rename" and op.rename is not None:
                worker.renames_this_cycle.append(op.rename)
        else:
            wrong = [k for k in worker.keys if actual[k] != before[k]
                     and (op is None or actual[k] != op.after[k])]
            mixed = [k for k in worker.keys if k not in wrong and actual[k] != before[k]]
            stats.lost += len(wrong)
            if op is not None and not wrong:
                stats.half_visible += 1
            lines = [f"{label}: w{worker.index}: keys do not match the model"
                     + (f" (in flight: op {op.op_id} {op.kind}/{op.variant})" if op else "")]
            for k in worker.keys:
                marker = "WRONG" if k in wrong else ("mix" if k in mixed else "ok")
                lines.append(f"  {marker:5} {k}: actual {actual[k].describe() if actual[k] else 'absent'}"
                             f" | before {before[k].describe() if before[k] else 'absent'}"
                             + (f" | after {op.after[k].describe() if op.after[k] else 'absent'}" if op else ""))
            stats.violations.append("\n".join(lines))
        if settle:
            worker.world = actual
            worker.pending = None
            worker.stopped_on_violation = False


def replay_renames(s3, workers: list[Worker], rng: random.Random, stats: Stats, label: str):
    """Every rename acknowledged (or found applied) in the last cycle, and up to 16 older
    ones, again with the same client token and parameters: 200, nothing done."""
    for worker in workers:
        older = rng.sample(worker.acked_renames, min(16, len(worker.acked_renames)))
        for params in worker.renames_this_cycle + older:
            try:
                s3.rename_object(**params)
                stats.replays += 1
            except ClientError as error:
                stats.violations.append(
                    f"{label}: replaying rename {params['RenameSource']} -> {params['Key']} with token "
                    f"{params['ClientToken']} answered {error.response['ResponseMetadata']['HTTPStatusCode']} "
                    f"{error.response['Error'].get('Code')}")
        worker.acked_renames.extend(worker.renames_this_cycle)
        worker.renames_this_cycle = []


def abort_leftover_uploads(s3, stats: Stats):
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=BUCKET):
        for upload in page.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
            stats.uploads_aborted += 1


# ---------------------------------------------------------------------------
# The soak
# ---------------------------------------------------------------------------


def run(cycles: int = 50, workers: int = 4, seed: int | None = None, workdir: pathlib.Path | None = None,
        binary: pathlib.Path | None = None, log=print, serve_args: list[str] | None = None) -> Stats:
    binary = pathlib.Path(binary or os.environ.get("STOWAGE_BIN", REPO / ".build" / "debug" / "stowage"))
    if not binary.is_file():
        raise FileNotFoundError(f"stowage binary not found at {binary} (set STOWAGE_BIN)")
    seed = seed if seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    workdir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="stowage-soak-"))
    data_dir = workdir / "data"
    server = Server(binary, data_dir, workdir / "stowage.log", serve_args)
    stats = Stats()
    lock = threading.Lock()
    pool = [Worker(i, random.Random(rng.randrange(1 << 32)), stats, lock) for i in range(workers)]
    op_counter = iter(range(1, 1 << 62))
    counter_lock = threading.Lock()

    def next_op_id():
        with counter_lock:
            return next(op_counter)

    log(f"soak: {cycles} cycles, {workers} workers, seed {seed}, binary {binary}, data {data_dir}")
    started = time.monotonic()
    server.start("cycle 1")
    server.client().create_bucket(Bucket=BUCKET)
    for cycle in range(1, cycles + 1):
        label = f"cycle {cycle}"
        check = server.client()
        abort_leftover_uploads(check, stats)
        replay_renames(check, pool, rng, stats, label + " (replay)")
        if cycle > 1:
            verify(check, pool, stats, label + " (after replay)", settle=False)
        acked_before = sum(stats.acked.values())
        in_flight_before = sum(stats.in_flight.values())
        stop, killed = threading.Event(), threading.Event()
        threads = [threading.Thread(target=w.run, args=(server.client(), next_op_id, stop, killed),
                                    daemon=True) for w in pool]
        for t in threads:
            t.start()
        delay = rng.uniform(*KILL_DELAY)
        time.sleep(delay)
        stop.set()
        killed.set()
        if not server.alive():
            stats.violations.append(f"{label}: the server died on its own (status "
                                    f"{server.proc.returncode}; log {server.log_path})")
        else:
            server.kill()
            stats.kills += 1
        for t in threads:
            t.join(timeout=120)
            if t.is_alive():
                stats.violations.append(f"{label}: a client thread hung after the kill")
        entry = run_fsck(binary, data_dir, label + " fsck after kill", stats)
        server.start(f"cycle {cycle + 1}" if cycle < cycles else "final check")
        check = server.client()
        verify(check, pool, stats, label + " (after restart)", settle=True)
        stats.cycles = cycle
        log(f"cycle {cycle:3}: killed after {delay:.2f} s, {sum(stats.acked.values()) - acked_before} ops "
            f"acknowledged, {sum(stats.in_flight.values()) - in_flight_before} in flight, "
            f"resolved so far {dict(stats.resolved)}, fsck exit {entry['exit']} "
            f"notices {entry.get('notices')}, violations so far {len(stats.violations)}")
    check = server.client()
    abort_leftover_uploads(check, stats)
    replay_renames(check, pool, rng, stats, "final (replay)")
    verify(check, pool, stats, "final (after replay)", settle=False)
    status = server.terminate()
    stats.clean_stop = status == 0
    if status != 0:
        stats.violations.append(f"final: SIGTERM stop exited {status} (log {server.log_path})")
    run_fsck(binary, data_dir, "final fsck after SIGTERM", stats)
    # Segments the server's background compaction retired across all the cycles (it runs
    # a pass at every start, and with --compaction-interval while the clients work).
    stats.segments_compacted = server.log_path.read_text(errors="replace").count(" retired (")
    stats.seconds = time.monotonic() - started
    stats.seed = seed
    stats.workdir = workdir
    return stats


def summary(stats: Stats) -> str:
    lines = [
        f"soak summary (seed {stats.seed}, {stats.seconds:.0f} s, data {stats.workdir})",
        f"  cycles: {stats.cycles}   SIGKILLs survived: {stats.kills}   clean SIGTERM stop: {stats.clean_stop}",
        f"  operations acknowledged: {sum(stats.acked.values())}",
        f"  segments compacted by the server meanwhile: {stats.segments_compacted}",
    ]
    for kind, n in sorted(stats.acked.items()):
        refused = {k.split(' ', 1)[1]: v for k, v in stats.acked_refused.items() if k.startswith(kind + " ")}
        lines.append(f"    {kind:18} {n:6}" + (f"   (of which refused as the model predicted: {refused})"
                                                 if refused else ""))
    lines += [
        f"  bytes acknowledged: {stats.bytes_written}",
        f"  in flight at a kill: {sum(stats.in_flight.values())} {dict(sorted(stats.in_flight.items()))}",
        f"  in-flight resolved: {dict(sorted(stats.resolved.items()))}",
        f"  rename token replays answered 200: {stats.replays}",
        f"  multipart uploads left by kills, aborted: {stats.uploads_aborted}",
        f"  key reads checked against the model: {stats.keys_checked}",
        f"  of which encrypted at rest: {stats.encrypted_checked}, tagged: {stats.tagged_checked}",
        f"  lost or corrupted acknowledged keys: {stats.lost}   half-visible operations: {stats.half_visible}",
    ]
    exits = collections.Counter(e["exit"] for e in stats.fsck)
    notices = collections.Counter()
    for e in stats.fsck:
        notices.update(e.get("notices") or {})
    lines.append(f"  fsck runs: {len(stats.fsck)}, exit codes {dict(exits)}, "
                 f"problems {sum(len(e.get('problems') or []) for e in stats.fsck)}, "
                 f"notices {dict(notices)}")
    lines.append(f"  violations: {len(stats.violations)}")
    for v in stats.violations[:50]:
        lines.append("    - " + v.replace("\n", "\n      "))
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cycles", type=int, default=50)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--workdir", type=pathlib.Path, help="default: a new temporary directory")
    parser.add_argument("--keep", action="store_true", help="keep the data directory when clean")
    parser.add_argument("--serve-args", default="",
                        help="more `stowage serve` arguments, e.g. '--segment-size 8 --compaction-interval 1'")
    args = parser.parse_args(argv)
    if args.workdir:
        args.workdir.mkdir(parents=True, exist_ok=True)
    stats = run(cycles=args.cycles, workers=args.workers, seed=args.seed, workdir=args.workdir,
                serve_args=shlex.split(args.serve_args))
    print(summary(stats))
    if not stats.violations and not args.keep:
        shutil.rmtree(stats.workdir, ignore_errors=True)
    return 0 if not stats.violations else 1


if __name__ == "__main__":
    sys.exit(main())
