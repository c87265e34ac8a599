#!/usr/bin/env python3
"""Two builds of Stowage side by side in one run, driven by `stowage bench`: for a change
to the request path (issue 18, point 3), `before` and `after` serve fresh data directories
with the same durability, and each measure runs on both, alternating, for --rounds rounds;
the table gives the median round and after ÷ before.

    cp .build/release/stowage /tmp/stowage-before   # then make the change and build it
    python3 Benchmarks/http/bench_ab.py --before /tmp/stowage-before --after .build/release/stowage \
        --label "SigV4 signing-key cache" --out docs/bench/sigv4-key-cache.json
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_side as side  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
# (label, mix, connections)
MEASURES = [("GET 4 KiB, 1 conn", "get", 1), ("GET 4 KiB, 16 conn", "get", 16), ("GET 4 KiB, 64 conn", "get", 64),
            ("PUT 4 KiB, 64 conn", "put", 64), ("RenameObject 4 KiB, 64 conn", "rename-object", 64)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True)
    parser.add_argument("--after", required=True)
    parser.add_argument("--client", default=str(REPO / ".build" / "release" / "stowage"), help="the stowage bench binary")
    parser.add_argument("--durability", default="strict")
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--label", default="before vs after")
    parser.add_argument("--presigned", action="store_true",
                        help="sign with presigned URLs (`stowage bench --presigned`): the GET and PUT measures only")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    measures = [(label + (", presigned" if args.presigned else ""), mix, connections) for label, mix, connections in MEASURES
                if not args.presigned or mix in ("get", "put")]
    scratch = pathlib.Path(os.environ.get("BENCH_TMPDIR", REPO / ".bench-tmp"))
    scratch.mkdir(parents=True, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="ab-", dir=scratch))
    servers = {}
    runs = []
    load_start = os.getloadavg()
    try:
        for name, binary in (("before", args.before), ("after", args.after)):
            (work / name).mkdir()
            target = side.start_stowage(os.path.abspath(binary), work / name, args.durability)
            target.name = name
            servers[name] = target
        for round_index in range(args.rounds):
            for label, mix, connections in measures:
                for name, target in servers.items():
                    bucket = f"ab-{mix}"
                    setup = mix != "get" or bucket not in target.prepared
                    result = side.bench(args.client, target, mix, connections, args.seconds, 1.0, bucket, setup,
                                        args.presigned)
                    if mix == "get" and "failed" not in result:
                        target.prepared.add(bucket)
                    runs.append({"measure": label, "round": round_index + 1, "build": name, **result})
                    shown = result.get("failed") or f"{result['ops_per_s']:9.0f} ops/s  p50 {result['latency_ms']['p50']:.3f} ms"
                    print(f"round {round_index + 1}  {label:28} {name:6} {shown}", flush=True)
    finally:
        for target in servers.values():
            side.stop(target.process)
        shutil.rmtree(work, ignore_errors=True)
    table = []
    for label, _, _ in measures:
        row = {"measure": label}
        for name in ("before", "after"):
            good = sorted((r for r in runs if r["measure"] == label and r["build"] == name and "failed" not in r),
                          key=lambda r: r["ops_per_s"])
            if good:
                middle = good[(len(good) - 1) // 2]
                row[name] = {"ops_per_s": statistics.median(r["ops_per_s"] for r in good),
                             "p50_ms": middle["latency_ms"]["p50"], "p99_ms": middle["latency_ms"]["p99"]}
        if "before" in row and "after" in row:
            row["after ÷ before (ops/s)"] = round(row["after"]["ops_per_s"] / row["before"]["ops_per_s"], 3)
        table.append(row)
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h"], capture_output=True, text=True).stdout.strip()
    report = {"label": args.label, "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "commit": commit, "durability": args.durability, "rounds": args.rounds, "seconds": args.seconds,
              "cpus": os.cpu_count(), "presigned": args.presigned, "load_average": {"start": load_start, "end": os.getloadavg()},
              "medians": table, "runs": runs}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\n{args.label}; durability {args.durability}; median of {args.rounds} rounds of {args.seconds:g} s")
    print("| measure | before ops/s | before p50 ms | after ops/s | after p50 ms | after ÷ before |")
    print("|---|---|---|---|---|---|")
    for row in table:
        b, a = row.get("before", {}), row.get("after", {})
        print(f"| {row['measure']} | {b.get('ops_per_s', 0):,.0f} | {b.get('p50_ms', 0):.3f} | {a.get('ops_per_s', 0):,.0f} | "
              f"{a.get('p50_ms', 0):.3f} | {row.get('after ÷ before (ops/s)', '—')} |")


if __name__ == "__main__":
    main()
