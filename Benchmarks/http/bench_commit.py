#!/usr/bin/env python3
"""Where a strict PUT's time goes beside a relaxed one (issue 18, point 3): one build, the
two durability modes alternating on fresh data directories, 4 KiB PUTs from `stowage bench`
at each connection count. For the measured PUTs it reads, besides the client's rate:

- the server's CPU per PUT (`/proc/PID/task/*/stat`), split by thread: the event loops
  (`NIO-*`), the index writer (`stowage-writer`: applies and commits the group, and makes
  its data durable), and the rest (Dispatch threads);
- the group commit from the server's own metrics: PUTs per batch, milliseconds per batch,
  and how much of the time the writer was committing;
- the machine's idle share (`/proc/stat`: idle and iowait), since client and server share
  its cores.

The table gives each measure's median round. Strict and relaxed differ only in the syncs
(the segment's `fdatasync` and LMDB's), so their difference per PUT is what durability
costs on this machine.

    python3 Benchmarks/http/bench_commit.py --out docs/bench/commit.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_side as side  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
TICKS = os.sysconf("SC_CLK_TCK")


def thread_ticks(pid: int) -> dict[str, int]:
    """CPU ticks (user + system) of the process's threads, summed by kind."""
    totals = {"loops": 0, "writer": 0, "other": 0}
    for task in pathlib.Path(f"/proc/{pid}/task").iterdir():
        try:
            stat = (task / "stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        name = stat[stat.index("(") + 1:stat.rindex(")")]
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12])
        kind = "loops" if name.startswith("NIO-") else "writer" if name == "stowage-writer" else "other"
        totals[kind] += ticks
    return totals


def machine_ticks() -> tuple[int, int]:
    """(all, idle + iowait) jiffies of the machine."""
    values = [int(v) for v in pathlib.Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    return sum(values), values[3] + values[4]


def commit_metrics(url: str) -> dict[str, float]:
    text = urllib.request.urlopen(url + "/metrics", timeout=10).read().decode()
    wanted = {}
    for name in ("stowage_commit_batch_size_sum", "stowage_commit_batch_size_count", "stowage_commit_duration_seconds_sum"):
        match = re.search(rf"^{name} (\S+)$", text, re.M)
        if match is None:
            raise SystemExit(f"{name} missing from {url}/metrics")
        wanted[name] = float(match.group(1))
    return wanted


def put(client: str, url: str, connections: int, count: int, setup: bool) -> dict:
    argv = [client, "bench", "--endpoint", url, "--bucket", "commit", "--mix", "put", "--obj-size", side.SIZE,
            "--objects", str(side.OBJECTS), "--concurrency", str(connections), "--count", str(count), "--warmup", "0", "--json"]
    if not setup:
        argv.append("--no-setup")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=side.ACCESS, AWS_SECRET_ACCESS_KEY=side.SECRET)
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    report = json.loads(done.stdout) if done.returncode == 0 else None
    figures = report["operations"]["put"] if report else None
    if figures is None or figures["errors"]:
        raise SystemExit(f"stowage bench failed (exit {done.returncode}): {done.stderr.strip()[-300:]} {figures}")
    return {"ops_per_s": figures["ops_per_s"], "p50_ms": figures["latency_ms"]["p50"],
            "client_cpu_cores": report["client_cpu"]["cores"]}


def measure(binary: str, client: str, work: pathlib.Path, durability: str, connections: int, count: int) -> dict:
    """One fresh server: a setup pass, then `count` PUTs measured."""
    directory = work / f"{durability}-{connections}"
    directory.mkdir()
    target = side.start_stowage(binary, directory, durability)
    try:
        put(client, target.url, connections, max(2000, count // 8), setup=True)
        pid = target.process.pid
        threads0, machine0, commit0, started = thread_ticks(pid), machine_ticks(), commit_metrics(target.url), time.monotonic()
        result = put(client, target.url, connections, count, setup=False)
        threads1, machine1, commit1, wall = thread_ticks(pid), machine_ticks(), commit_metrics(target.url), time.monotonic() - started
    finally:
        side.stop(target.process)
        shutil.rmtree(directory, ignore_errors=True)
    cpu_us = {kind: (threads1[kind] - threads0[kind]) / TICKS * 1e6 / count for kind in threads0}
    batches = commit1["stowage_commit_batch_size_count"] - commit0["stowage_commit_batch_size_count"]
    batched = commit1["stowage_commit_batch_size_sum"] - commit0["stowage_commit_batch_size_sum"]
    committing = commit1["stowage_commit_duration_seconds_sum"] - commit0["stowage_commit_duration_seconds_sum"]
    all_ticks, idle_ticks = machine1[0] - machine0[0], machine1[1] - machine0[1]
    return {**result, "server_us_per_put": sum(cpu_us.values()), "loops_us_per_put": cpu_us["loops"],
            "writer_us_per_put": cpu_us["writer"], "other_us_per_put": cpu_us["other"],
            "puts_per_batch": batched / batches if batches else 0, "ms_per_batch": committing / batches * 1e3 if batches else 0,
            "writer_busy": committing / wall, "machine_idle": idle_ticks / all_ticks if all_ticks else 0}


COLUMNS = [("ops_per_s", "PUT/s", "{:,.0f}"), ("p50_ms", "p50 ms", "{:.2f}"), ("server_us_per_put", "server µs/PUT", "{:.0f}"),
           ("loops_us_per_put", "loops µs", "{:.0f}"), ("writer_us_per_put", "writer µs", "{:.1f}"),
           ("other_us_per_put", "other µs", "{:.1f}"), ("puts_per_batch", "PUTs/batch", "{:.1f}"),
           ("ms_per_batch", "ms/batch", "{:.2f}"), ("writer_busy", "writer busy", "{:.0%}"),
           ("machine_idle", "machine idle", "{:.0%}"), ("client_cpu_cores", "client cores", "{:.2f}")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build" / "release" / "stowage"))
    parser.add_argument("--client", default=str(REPO / ".build" / "release" / "stowage"), help="the stowage bench binary")
    parser.add_argument("--connections", default="64,256", help="comma-separated connection counts")
    parser.add_argument("--count", type=int, default=20000, help="PUTs measured per run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    connection_counts = [int(c) for c in args.connections.split(",")]
    scratch = pathlib.Path(os.environ.get("BENCH_TMPDIR", REPO / ".bench-tmp"))
    scratch.mkdir(parents=True, exist_ok=True)
    runs = []
    started = datetime.datetime.now(datetime.timezone.utc)
    load_start = os.getloadavg()
    for round_index in range(args.rounds):
        for connections in connection_counts:
            for durability in ("strict", "relaxed"):
                work = pathlib.Path(tempfile.mkdtemp(prefix="commit-", dir=scratch))
                try:
                    row = measure(os.path.abspath(args.binary), os.path.abspath(args.client), work, durability, connections, args.count)
                finally:
                    shutil.rmtree(work, ignore_errors=True)
                runs.append({"round": round_index + 1, "durability": durability, "connections": connections, **row})
                print(f"round {round_index + 1}  {durability:7} {connections:4} conn  {row['ops_per_s']:8,.0f} PUT/s  "
                      f"server {row['server_us_per_put']:5.0f} µs/PUT  {row['puts_per_batch']:5.1f} PUTs/batch  "
                      f"{row['ms_per_batch']:.2f} ms/batch", flush=True)
    table = []
    for connections in connection_counts:
        for durability in ("strict", "relaxed"):
            mine = [r for r in runs if r["durability"] == durability and r["connections"] == connections]
            table.append({"durability": durability, "connections": connections,
                          **{key: statistics.median(r[key] for r in mine) for key, _, _ in COLUMNS}})
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    lines = [f"- run {started:%Y-%m-%d %H:%M} UTC at commit {commit}: {args.rounds} round(s), {args.count:,} PUTs of "
             f"{side.SIZE} measured per run, each on a fresh data directory after a setup pass; medians per column",
             f"- load average {' '.join(f'{v:.2f}' for v in load_start)} at the start, "
             f"{' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end",
             "", "| durability | connections | " + " | ".join(title for _, title, _ in COLUMNS) + " |",
             "|---|---|" + "---|" * len(COLUMNS)]
    for row in table:
        lines.append(f"| {row['durability']} | {row['connections']} | "
                     + " | ".join(fmt.format(row[key]) for key, _, fmt in COLUMNS) + " |")
    report = "\n".join(lines)
    print("\n" + report)
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"started": started.isoformat(), "commit": commit, "count": args.count, "table": table,
                               "runs": runs, "markdown": report}, indent=1))


if __name__ == "__main__":
    main()
