#!/usr/bin/env python3
"""Issue 18's large-object targets, measured side by side in one run with their references:

  PUT of 1 GiB, one stream          against one core's MD5 rate (the ETag caps a single PUT)
  GET of 1 GiB, one stream          against nginx sending the same bytes as a static file
                                    over one loopback connection
  multipart PUT, 4 streams          against one core's MD5 rate (each part's MD5 is its own)

One release `stowage serve` (strict unless told) and nginx, driven by `stowage bench` (which
checks every byte it reads), alternating for --rounds rounds; medians. The MD5 rate is
Python's hashlib (OpenSSL's MD5, one core) over a 256 MiB buffer, measured in the same run.

    python3 Benchmarks/http/bench_large.py --binary .build/release/stowage --out docs/bench/large.json
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_side as side  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
GIB = 1 << 30


def md5_rate() -> float:
    block = os.urandom(256 << 20)
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        hashlib.md5(block).digest()
        best = max(best, len(block) / (time.perf_counter() - started) / 1e6)
    return best


def disk_rate(directory: pathlib.Path, direct: bool = False) -> float:
    """1 GiB of new data written to the data directory's file system and fdatasync'ed (dd),
    MB/s. Buffered (as Stowage writes): through the page cache, whose new pages this VM
    backs on first touch, which caps any buffered writer of new data here; `direct`
    (O_DIRECT): the disk alone."""
    path = directory / "dd.bin"
    started = time.perf_counter()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M", "count=1024", "conv=fdatasync",
                    *(["oflag=direct"] if direct else [])], check=True, capture_output=True)
    rate = GIB / (time.perf_counter() - started) / 1e6
    path.unlink()
    return rate


def run_bench(binary: str, target, args: list[str]) -> dict:
    env = dict(os.environ, AWS_ACCESS_KEY_ID=side.ACCESS, AWS_SECRET_ACCESS_KEY=side.SECRET)
    argv = [binary, "bench", "--endpoint", target.url, "--json", "--warmup", "0", *args]
    if target.unsigned:
        argv.append("--unsigned")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=900)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {}
    if done.returncode != 0 or not report.get("operations"):
        return {"failed": (done.stdout + done.stderr)[-400:]}
    (operation, figures), = report["operations"].items()
    return {"mb_per_s": figures["mb_per_s"], "ops": figures["ops"], "p50_ms": figures["latency_ms"]["p50"]}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build" / "release" / "stowage"))
    parser.add_argument("--durability", default="strict")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--part-size", default="64MiB")
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "large.json"))
    args = parser.parse_args()
    binary = os.path.abspath(args.binary)
    scratch = pathlib.Path(os.environ.get("BENCH_TMPDIR", REPO / ".bench-tmp"))
    scratch.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="large-", dir=scratch))
    load_start = os.getloadavg()
    runs: list[dict] = []
    md5: list[float] = []
    disk: list[float] = []
    disk_direct: list[float] = []
    stowage = nginx = None
    try:
        stowage = side.start_stowage(binary, work, args.durability)
        side.SIZE, side.OBJECTS = "1GiB", 1   # nginx serves the bench's one 1 GiB object as a file
        nginx = side.start_nginx(binary, work)
        size = ["--obj-size", "1GiB"]
        measures = [
            ("PUT 1 GiB, 1 stream", stowage, ["--bucket", "large-put", "--mix", "put", "--objects", "1", "--concurrency", "1",
                                              "--count", "2", *size]),
            ("GET 1 GiB, 1 stream", stowage, ["--bucket", "files", "--mix", "get", "--objects", "1", "--concurrency", "1",
                                              "--count", "3", *size]),
            ("nginx GET 1 GiB, 1 stream (loopback reference)", nginx,
             ["--bucket", "files", "--mix", "get", "--objects", "1", "--concurrency", "1", "--count", "3", *size]),
            ("multipart PUT 1 GiB, 4 streams", stowage,
             ["--bucket", "large-mp", "--mix", "multipart", "--objects", "4", "--concurrency", "4", "--count", "4",
              "--part-size", args.part_size, *size]),
        ]
        # The GET object is written by the bench's setup, with O_DIRECT (whole chunks bypass
        # the page cache), while nginx's file was just written through it: one untimed read
        # of each first, so that every timed GET, Stowage's and nginx's, reads from memory.
        for label, target, bench_args in measures:
            if "GET" in label:
                warm = [*bench_args[:bench_args.index("--count")], "--count", "1", *size]
                result = run_bench(binary, target, warm)
                if "failed" in result:
                    raise SystemExit(f"warming {label} failed: {result['failed']}")
        for round_index in range(args.rounds):
            md5.append(md5_rate())
            disk.append(disk_rate(work))
            disk_direct.append(disk_rate(work, direct=True))
            print(f"round {round_index + 1}  MD5, one core: {md5[-1]:,.0f} MB/s; dd + fdatasync: buffered {disk[-1]:,.0f} MB/s, "
                  f"O_DIRECT {disk_direct[-1]:,.0f} MB/s", flush=True)
            for label, target, bench_args in measures:
                if label.startswith("GET"):
                    bench_args = [*bench_args, "--no-setup"]
                result = run_bench(binary, target, bench_args)
                runs.append({"measure": label, "round": round_index + 1, **result})
                shown = result.get("failed") or f"{result['mb_per_s']:,.0f} MB/s"
                print(f"round {round_index + 1}  {label:48} {shown}", flush=True)
    finally:
        for target in (stowage, nginx):
            if target is not None:
                side.stop(target.process)
        shutil.rmtree(work, ignore_errors=True)
    md5_median = statistics.median(md5)
    table = []
    for label, _, _ in measures:
        good = [r["mb_per_s"] for r in runs if r["measure"] == label and "failed" not in r]
        table.append({"measure": label, "mb_per_s": statistics.median(good) if good else None})
    by = {row["measure"]: row["mb_per_s"] for row in table}
    ratios = {
        "PUT 1 stream ÷ MD5 one core (target ≥ 0.85)": by["PUT 1 GiB, 1 stream"] / md5_median,
        "GET 1 stream ÷ nginx 1 stream (target ≥ 0.85)": by["GET 1 GiB, 1 stream"] / by["nginx GET 1 GiB, 1 stream (loopback reference)"],
        "multipart 4 streams ÷ MD5 one core (target > 1)": by["multipart PUT 1 GiB, 4 streams"] / md5_median,
    }
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h"], capture_output=True, text=True).stdout.strip()
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
              "durability": args.durability, "rounds": args.rounds, "cpus": os.cpu_count(),
              "load_average": {"start": load_start, "end": os.getloadavg()}, "md5_one_core_mb_per_s": md5,
              "disk_dd_fdatasync_mb_per_s": disk, "disk_dd_direct_fdatasync_mb_per_s": disk_direct,
              "medians": table, "ratios": {k: round(v, 3) for k, v in ratios.items()}, "runs": runs}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nlarge objects; durability {args.durability}; medians of {args.rounds} rounds (MB/s = 10^6 bytes/s)")
    print("| measure | MB/s |\n|---|---|")
    print(f"| MD5, one core (hashlib) | {md5_median:,.0f} |")
    print(f"| 1 GiB dd + fdatasync, buffered (page cache) | {statistics.median(disk):,.0f} |")
    print(f"| 1 GiB dd + fdatasync, O_DIRECT (the disk) | {statistics.median(disk_direct):,.0f} |")
    for row in table:
        print(f"| {row['measure']} | {row['mb_per_s'] or 0:,.0f} |")
    for name, value in ratios.items():
        print(f"| {name} | {value:.2f} |")


if __name__ == "__main__":
    main()
