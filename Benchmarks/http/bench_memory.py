#!/usr/bin/env python3
"""Issue 18, point 4: the server's memory stays bounded under many concurrent large
transfers. One release `stowage serve` (strict unless told), driven by `stowage bench`:

  downloads  --concurrency connections each GET one --size object at once (they share
             --download-objects objects: every body is compared byte for byte), twice;
  uploads    --concurrency connections each PUT their own --size object at once.

The server's resident set is sampled every 20 ms from /proc (RssAnon: heap and buffers;
RssFile: mapped segment pages), and its kernel high-water mark (VmHWM) is reset before
each phase (clear_refs 5) and read after it. Uploads need --concurrency × --size of free
disk; where the disk has less, --upload-size is lowered to fit and the report says so.

    python3 Benchmarks/http/bench_memory.py --binary .build/release/stowage --out docs/bench/memory.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_side as side  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
GIB = 1 << 30
MIB = 1 << 20


def status_kib(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
                values[name] = int(rest.split()[0])
    return values


class Sampler(threading.Thread):
    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid, self.peak, self.samples, self.running = pid, {}, 0, True

    def run(self) -> None:
        while self.running:
            try:
                for name, kib in status_kib(self.pid).items():
                    self.peak[name] = max(self.peak.get(name, 0), kib)
                self.samples += 1
            except (FileNotFoundError, ProcessLookupError):
                return
            time.sleep(0.02)


def phase(args, target, label: str, mix: str, objects: int, size: int, count: int) -> dict:
    pathlib.Path(f"/proc/{target.process.pid}/clear_refs").write_text("5")
    sampler = Sampler(target.process.pid)
    sampler.start()
    started = time.monotonic()
    env = dict(os.environ, AWS_ACCESS_KEY_ID=side.ACCESS, AWS_SECRET_ACCESS_KEY=side.SECRET)
    command = [args.binary, "bench", "--endpoint", target.url, "--bucket", f"mem-{mix}", "--json", "--mix", mix,
               "--objects", str(objects), "--concurrency", str(args.concurrency), "--obj-size", str(size),
               "--count", str(count), "--warmup", "0"]
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    seconds = time.monotonic() - started
    sampler.running = False
    sampler.join()
    hwm = status_kib(target.process.pid)["VmHWM"]
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {}
    figures = report.get("operations", {}).get(mix, {})
    result = {"phase": label, "connections": args.concurrency, "object_bytes": size, "objects": objects,
              "operations": figures.get("ops", 0), "errors": report.get("errors"), "exit": done.returncode,
              "seconds": round(seconds, 1), "mb_per_s": figures.get("mb_per_s"),
              "peak_rss_mib": round(hwm / 1024, 1), "sampled_peak_mib": {k: round(v / 1024, 1) for k, v in sampler.peak.items()},
              "samples": sampler.samples}
    if done.returncode != 0:
        result["output"] = (done.stdout + done.stderr)[-2000:]
    print(json.dumps(result), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build" / "release" / "stowage"))
    parser.add_argument("--durability", default="strict")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--size", type=int, default=GIB, help="bytes of each download")
    parser.add_argument("--upload-size", type=int, default=GIB, help="bytes of each upload (lowered to fit the disk)")
    parser.add_argument("--download-objects", type=int, default=1)
    parser.add_argument("--phases", default="downloads,uploads")
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "memory.json"))
    args = parser.parse_args()
    scratch = pathlib.Path(os.environ.get("BENCH_TMPDIR", REPO / ".bench-tmp"))
    scratch.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="memory-", dir=scratch))
    results = []
    notes = []
    try:
        # Each phase on a server of its own, started on an empty data directory: memory
        # that one phase's allocator keeps is not counted in the next one's peak.
        for name in args.phases.split(","):
            directory = work / name
            directory.mkdir()
            target = side.start_stowage(os.path.abspath(args.binary), directory, args.durability)
            try:
                idle = status_kib(target.process.pid)["VmRSS"]
                if name == "downloads":
                    result = phase(args, target, name, "get", args.download_objects, args.size, 2 * args.concurrency)
                else:
                    upload = args.upload_size
                    fit = (int(shutil.disk_usage(work).free * 0.7) // args.concurrency) // MIB * MIB
                    if fit < upload:
                        notes.append(f"uploads of {upload // MIB} MiB × {args.concurrency} do not fit the disk's "
                                     f"{shutil.disk_usage(work).free // GIB} GiB free: {fit // MIB} MiB each instead")
                        upload = fit
                    result = phase(args, target, name, "put", args.concurrency, upload, args.concurrency)
                result["idle_rss_mib"] = round(idle / 1024, 1)
                results.append(result)
            finally:
                side.stop(target.process)
                shutil.rmtree(directory, ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h"], capture_output=True, text=True).stdout.strip()
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
              "durability": args.durability, "cpus": os.cpu_count(), "notes": notes, "phases": results}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nserver peak RSS, durability {args.durability}")
    print("| phase | connections | object | operations | errors | MB/s | idle RSS | peak RSS (VmHWM) | peak anon | peak file |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        sampled = r["sampled_peak_mib"]
        print(f"| {r['phase']} | {r['connections']} | {r['object_bytes'] // MIB} MiB | {r['operations']} | {r['errors']} | "
              f"{r['mb_per_s'] or 0:,.0f} | {r['idle_rss_mib']} MiB | {r['peak_rss_mib']} MiB | {sampled.get('RssAnon')} MiB | "
              f"{sampled.get('RssFile')} MiB |")
    for note in notes:
        print("note:", note)


if __name__ == "__main__":
    main()
