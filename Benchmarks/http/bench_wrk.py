#!/usr/bin/env python3
"""Issue 18's targets measured the way its baseline was: wrk (C, 2 threads) on presigned
URLs, nginx and Stowage in one run.

`bench_side.py` drives every server with `stowage bench`, which checks every body byte
and whose client costs more per request than wrk's. This cross-check runs the issue's
own method beside it: the same 1,024 objects of 4 KiB (written by `stowage bench
--write-files`), served by

- nginx (static files, the floor the ratios are taken against),
- the Hummingbird floor (`stowage http-floor`: the same files from memory through the
  HTTP stack `stowage serve` runs on) and the NIO floor (`--stack nio`: the same from NIO's
  HTTP/1 channel handlers alone, no Swift Concurrency and no Hummingbird),
- the same two floors signed (`--signed`, the ceilings): each request's SigV4 signature
  checked by Stowage's verifier, GETs answered with S3's headers, PUT bodies read through
  MD5 for their ETag and not kept — what any S3 server on that stack must do before it
  stores or reads anything,
- Stowage `--durability strict` and `--durability relaxed`, read through SigV4 presigned
  GET URLs (botocore's presigner, `host` the one signed header, valid an hour) and written
  through presigned PUT URLs (UNSIGNED-PAYLOAD), one URL per object, which wrk's Lua
  script (bench_wrk.lua) sends in turn, so the server checks a signature on every request.

GET at 1, 16 and 64 connections on every server, PUT at 1, 16 and 64 connections on
Stowage strict and at 64 on relaxed and the signed floors (wrk -t1 -c1, -t2 -c16, -t2 -c64, as the issue's).
Each measure runs the servers in turn for --rounds rounds; the table gives the median
round. A run with any non-2xx answer or socket error fails. wrk does not check bodies:
after the runs every object on Stowage is read back with boto3 and checked against what
the PUTs wrote (bytes, and the ETag the MD5 of them).
The client's CPU is wrk's own (getrusage of the child).

    python3 Benchmarks/http/bench_wrk.py [--binary .build/release/stowage] [--seconds 5] [--rounds 3] [--out docs/bench/wrk.json]
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import resource
import shutil
import signal
import statistics
import subprocess
import tempfile
import time

import boto3
from botocore.config import Config

from bench_side import ACCESS, OBJECTS, SECRET, start_floor, start_nginx, start_stowage, stop, write_files
from bench_tls import wrk

REPO = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = pathlib.Path(__file__).resolve().parent / "bench_wrk.lua"
SIZE_BYTES = 4096
BUCKET = "wrk"
# The floors serve <root>/files/<key> at /files/<key>: bucket `files` to a presigner.
FLOOR_BUCKET = "files"
# The byte the PUTs write (wrk sends one body for every request).
PUT_FILL = "w"
# (connections, wrk threads): -t2 needs two connections at least.
CONNECTIONS = ((1, 1), (16, 2), (64, 2))


def s3_client(url: str):
    return boto3.session.Session().client(
        "s3", endpoint_url=url, aws_access_key_id=ACCESS, aws_secret_access_key=SECRET, region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}))


def file_paths(root: pathlib.Path) -> list[str]:
    """The request paths of the bench's files, `/files/<key>`, in a fixed order."""
    files = sorted((root / "files").rglob("*"))
    return ["/" + str(path.relative_to(root)) for path in files if path.is_file()]


def key_of(path: str) -> str:
    """`/files/<key>` → `<key>`: the object key a file's path stands for."""
    return path.split("/", 2)[2]


def presign(url: str, bucket: str, paths: list[str]) -> dict[str, list[str]]:
    """Presigned GET and PUT paths (and queries) of every object, for the server at `url`."""
    s3 = s3_client(url)
    out: dict[str, list[str]] = {"GET": [], "PUT": []}
    for path in paths:
        for method, operation in (("GET", "get_object"), ("PUT", "put_object")):
            signed = s3.generate_presigned_url(operation, Params={"Bucket": bucket, "Key": key_of(path)}, ExpiresIn=3600)
            out[method].append(signed[len(url):])
    return out


def prepare_stowage(url: str, root: pathlib.Path, paths: list[str]) -> dict[str, list[str]]:
    """Puts the files in bucket `wrk` and returns the presigned GET and PUT paths (and queries)."""
    s3 = s3_client(url)
    s3.create_bucket(Bucket=BUCKET)
    for path in paths:
        s3.put_object(Bucket=BUCKET, Key=key_of(path), Body=(root / path.lstrip("/")).read_bytes())
    return presign(url, BUCKET, paths)


def run_wrk(url: str, paths_file: pathlib.Path, method: str, connections: int, threads: int, seconds: int) -> dict:
    """One wrk run over the paths in `paths_file`, with wrk's own CPU per second of the run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    result = wrk(url, threads, connections, ["-s", str(SCRIPT)], seconds,
                 script_args=[str(paths_file), method, str(SIZE_BYTES), PUT_FILL])
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    result["client_cpu_cores"] = ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) / elapsed
    return result


def measures(servers: dict) -> list[tuple[str, str, int, int, list[str]]]:
    """(label, method, connections, wrk threads, server names), in the order they run."""
    out = []
    for connections, threads in CONNECTIONS:
        out.append((f"GET 4 KiB, {connections} conn", "GET", connections, threads, list(servers)))
    ceilings = [name for name in servers if name.endswith("+ SigV4")]
    for connections, threads in CONNECTIONS:
        which = ["Stowage strict"] + (["Stowage relaxed", *ceilings] if connections == 64 else [])
        out.append((f"PUT 4 KiB, {connections} conn", "PUT", connections, threads, which))
    return out


def verify(url: str, paths: list[str]) -> str:
    """Every object on a Stowage server read back after the PUT runs: what they wrote,
    its size, and its ETag the MD5 of it."""
    s3 = s3_client(url)
    written = (PUT_FILL * SIZE_BYTES).encode()
    for path in paths:
        key = key_of(path)
        answer = s3.get_object(Bucket=BUCKET, Key=key)
        body = answer["Body"].read()
        if body != written:
            raise RuntimeError(f"{url}: {key} reads {len(body)} bytes that are not what the PUTs wrote")
        if answer["ETag"].strip('"') != hashlib.md5(body).hexdigest():
            raise RuntimeError(f"{url}: {key}'s ETag {answer['ETag']} is not the MD5 of its body")
    return f"{len(paths)} objects read back after the PUTs and checked"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.environ.get("STOWAGE_BIN", str(REPO / ".build" / "release" / "stowage")))
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--tmpdir", default=os.environ.get("BENCH_TMPDIR", str(REPO / ".bench-tmp")))
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "wrk.json"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (or make bench-wrk)")
    binary = os.path.abspath(args.binary)
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(SystemExit(128 + signum)))
    os.makedirs(args.tmpdir, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="wrk-", dir=args.tmpdir))
    started = time.monotonic()
    load_start = os.getloadavg()
    processes, runs, checks = [], [], []
    try:
        root = write_files(binary, work)
        paths = file_paths(root)
        if len(paths) != OBJECTS:
            raise RuntimeError(f"expected {OBJECTS} files under {root}, found {len(paths)}")
        files = work / "files.paths"
        files.write_text("\n".join(paths) + "\n")
        servers: dict[str, dict] = {}
        for target in (start_nginx(binary, work), start_floor(binary, work), start_floor(binary, work, "nio")):
            processes.append(target.process)
            servers[target.name] = {"url": target.url, "durability": target.durability, "GET": files}
        for stack in ("hummingbird", "nio"):
            target = start_floor(binary, work, stack, signed=True)
            processes.append(target.process)
            entry = {"url": target.url, "durability": target.durability}
            for method, lines in presign(target.url, FLOOR_BUCKET, paths).items():
                entry[method] = work / f"{stack}-signed-{method}.paths"
                entry[method].write_text("\n".join(lines) + "\n")
            servers[target.name] = entry
        for durability in ("strict", "relaxed"):
            target = start_stowage(binary, work, durability)
            processes.append(target.process)
            signed = prepare_stowage(target.url, root, paths)
            entry = {"url": target.url, "durability": target.durability}
            for method, lines in signed.items():
                entry[method] = work / f"{durability}-{method}.paths"
                entry[method].write_text("\n".join(lines) + "\n")
            servers[target.name] = entry
        gets = {name: s for name, s in servers.items() if name != "Stowage relaxed"}
        for name, server in servers.items():
            print(f"{name:28} {server['url']}  durability: {server['durability']}", flush=True)
        for round_index in range(args.rounds):
            for label, method, connections, threads, which in measures(gets):
                for name in which:
                    server = servers[name]
                    try:
                        result = run_wrk(server["url"], server[method], method, connections, threads, args.seconds)
                    except (RuntimeError, subprocess.CalledProcessError) as error:
                        result = {"failed": str(error)[-400:]}
                    runs.append({"measure": label, "method": method, "connections": connections, "threads": threads,
                                 "round": round_index + 1, "server": name, "durability": server["durability"], **result})
                    shown = result.get("failed") or (f"{result['requests/s']:10.0f} req/s  p50 {result['latency median ms']:.3f} ms"
                                                     f"  wrk {result['client_cpu_cores']:.2f} cores")
                    print(f"round {round_index + 1}  {label:20} {name:28} {shown}", flush=True)
        for name in ("Stowage strict", "Stowage relaxed"):
            checks.append(f"{name}: " + verify(servers[name]["url"], paths))
    finally:
        for process in processes:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)

    table = medians(runs)
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h"], capture_output=True, text=True).stdout.strip()
    header = [
        f"run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC at commit {commit}: {args.rounds} round(s) "
        f"of {args.seconds} s per measure, servers alternating; {os.cpu_count()} cores shared by every server and wrk",
        f"client: wrk {wrk_version()} (bench_wrk.lua), {OBJECTS} objects of 4 KiB; nginx and the floors by path, "
        f"Stowage and the signed floors by SigV4 presigned URLs (one per object and method); wrk checks statuses, not bodies",
        *checks,
        f"load average {' '.join(f'{x:.2f}' for x in load_start)} at the start, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; {(time.monotonic() - started) / 60:.1f} min",
    ]
    report = {"header": header, "medians": table, "runs": runs}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print("\n" + markdown(table, header))
    print(f"wrote {args.out}")


def wrk_version() -> str:
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    words = (out.stdout + out.stderr).split()
    return words[1] if len(words) > 1 else "?"


def medians(runs: list[dict]) -> list[dict]:
    """Per measure and server: the median round's rate, and that round's latency."""
    table = []
    for label in dict.fromkeys(r["measure"] for r in runs):
        for name in dict.fromkeys(r["server"] for r in runs if r["measure"] == label):
            rows = [r for r in runs if r["measure"] == label and r["server"] == name]
            good = sorted((r for r in rows if "failed" not in r), key=lambda r: r["requests/s"])
            if not good:
                table.append({"measure": label, "server": name, "failed": rows[0]["failed"]})
                continue
            middle = good[(len(good) - 1) // 2]
            table.append({"measure": label, "method": middle["method"], "connections": middle["connections"],
                          "server": name, "durability": middle["durability"], "rounds": len(good),
                          "failed_rounds": len(rows) - len(good),
                          "requests_per_s": statistics.median(r["requests/s"] for r in good),
                          "p50_ms": middle["latency median ms"], "client_cpu_cores": middle["client_cpu_cores"]})
    return table


def markdown(table: list[dict], header: list[str]) -> str:
    nginx = {r["connections"]: r for r in table if r["server"].startswith("nginx") and "requests_per_s" in r}
    lines = [f"- {line}" for line in header] + ["",
             "| measure | server | durability | req/s (median) | p50 ms | ÷ nginx GET, same conns | p50 ÷ nginx's | wrk CPU (cores) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in table:
        if "failed" in r:
            lines.append(f"| {r['measure']} | {r['server']} | | failed: {r['failed'][:120]} | | | | |")
            continue
        floor = nginx.get(r["connections"])
        ratio = f"{r['requests_per_s'] / floor['requests_per_s']:.1%}" if floor else "—"
        latency = f"{r['p50_ms'] / floor['p50_ms']:.2f}×" if floor and r["method"] == "GET" else "—"
        lines.append(f"| {r['measure']} | {r['server']} | {r['durability']} | {r['requests_per_s']:,.0f} | "
                     f"{r['p50_ms']:.3f} | {ratio} | {latency} | {r['client_cpu_cores']:.2f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
