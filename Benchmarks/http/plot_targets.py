#!/usr/bin/env python3
"""Issue 18's eight targets, one panel each, from the runs recorded in docs/bench: every
side by side (`bench_side.py`: side-by-side*.json), every large-object run
(`bench_large.py`: large-*.json, strict) and every memory run (`bench_memory.py`:
memory*.json), in the order they were run, with the issue's own figure first where it gave
one (measured with wrk before `stowage bench` existed) and the target as a line. A bar is
green where its run met the target. Side-by-side runs that measured Stowage with presigned
URLs as well have a second bar, "presigned", in the GET and PUT panels; runs of
`bench_wrk.py` (wrk*.json: wrk on presigned URLs, the issue's own method) a bar "wrk".

    python3 Benchmarks/http/plot_targets.py --out docs/bench/targets.png
"""
from __future__ import annotations

import argparse
import json
import pathlib
import re

REPO = pathlib.Path(__file__).resolve().parents[2]
BENCH = REPO / "docs" / "bench"

# The issue's "now" figures (issue 18, "Why" and "Targets"), where it gave one.
ISSUE = {"get64": 0.12, "get1": 6.6, "put64": 0.11, "put1": 0.61}


def side_runs() -> list[dict]:
    """Per side-by-side run: its label and the four small-object ratios (None if not measured)."""
    runs = []
    for path in sorted(BENCH.glob("side-by-side*.json")) + sorted(BENCH.glob("side-by-side-*/side-by-side.json")):
        data = json.loads(path.read_text())
        match = re.match(r"run (\d{4}-\d\d-\d\d \d\d:\d\d) UTC at commit (\w+)", data["header"][0])
        if match is None:
            continue

        def median(measure: str, server: str) -> dict | None:
            for row in data["medians"]:
                if row["measure"] == measure and row["server"] == server and row.get("ops_per_s"):
                    return row
            return None
        nginx64, nginx1 = median("GET 4 KiB, 64 conn", "nginx (static files)"), median("GET 4 KiB, 1 conn", "nginx (static files)")
        get64, get1 = median("GET 4 KiB, 64 conn", "Stowage strict"), median("GET 4 KiB, 1 conn", "Stowage strict")
        put64, rename64 = median("PUT 4 KiB, 64 conn", "Stowage strict"), median("RenameObject 4 KiB, 64 conn", "Stowage strict")
        runs.append({"when": match.group(1), "label": f"{match.group(1)[5:10]} {match.group(2)}",
                     "get64": get64["ops_per_s"] / nginx64["ops_per_s"] if get64 and nginx64 else None,
                     "get1": get1["p50_ms"] / nginx1["p50_ms"] if get1 and nginx1 else None,
                     "put64": put64["ops_per_s"] / nginx64["ops_per_s"] if put64 and nginx64 else None,
                     "rename": rename64["ops_per_s"] / put64["ops_per_s"] if rename64 and put64 else None})
        # The same run's presigned-URL measures (since session 13), a bar of their own.
        get64p, put64p = median("GET 4 KiB, 64 conn, presigned", "Stowage strict"), median("PUT 4 KiB, 64 conn, presigned", "Stowage strict")
        if nginx64 and (get64p or put64p):
            runs.append({"when": match.group(1) + " presigned", "label": f"{match.group(1)[5:10]} {match.group(2)} presigned",
                         "get64": get64p["ops_per_s"] / nginx64["ops_per_s"] if get64p else None,
                         "put64": put64p["ops_per_s"] / nginx64["ops_per_s"] if put64p else None})
    return sorted(runs + wrk_runs(), key=lambda run: run["when"])


def wrk_runs() -> list[dict]:
    """Per `bench_wrk.py` run (wrk*.json, the issue's own method: wrk on presigned URLs):
    a bar of its own, "wrk", in the GET and strict PUT panels."""
    runs = []
    for path in sorted(BENCH.glob("wrk*.json")):
        data = json.loads(path.read_text())
        match = re.match(r"run (\d{4}-\d\d-\d\d \d\d:\d\d) UTC at commit (\w+)", data["header"][0])
        if match is None:
            continue
        rate = {(row["measure"], row["server"]): row for row in data["medians"] if row.get("requests_per_s")}
        nginx64, nginx1 = rate.get(("GET 4 KiB, 64 conn", "nginx (static files)")), rate.get(("GET 4 KiB, 1 conn", "nginx (static files)"))
        get64, get1 = rate.get(("GET 4 KiB, 64 conn", "Stowage strict")), rate.get(("GET 4 KiB, 1 conn", "Stowage strict"))
        put64 = rate.get(("PUT 4 KiB, 64 conn", "Stowage strict"))
        # The ceilings (since 2026-12-05): Hummingbird answering from memory with the
        # signature checked, S3's headers and PUT bodies through MD5, storing nothing.
        ceiling_get = rate.get(("GET 4 KiB, 64 conn", "Hummingbird floor + SigV4"))
        ceiling_put = rate.get(("PUT 4 KiB, 64 conn", "Hummingbird floor + SigV4"))

        def ratio(row):
            return row["requests_per_s"] / nginx64["requests_per_s"] if row and nginx64 else None

        runs.append({"when": match.group(1) + " wrk", "label": f"{match.group(1)[5:10]} {match.group(2)} wrk",
                     "get64": ratio(get64), "get1": get1["p50_ms"] / nginx1["p50_ms"] if get1 and nginx1 else None,
                     "put64": ratio(put64), "get64_ceiling": ratio(ceiling_get), "put64_ceiling": ratio(ceiling_put)})
    return runs


def large_runs() -> list[dict]:
    runs = []
    for path in sorted(BENCH.glob("large-*.json")):
        data = json.loads(path.read_text())
        if data.get("durability") != "strict":
            continue
        # The ratios as bench_large.py computed and recorded them, by the start of their names.
        ratio = {name.split(" ÷ ")[0]: value for name, value in data["ratios"].items()}
        runs.append({"when": data["date"], "label": f"{data['date'][5:10]} {data['commit']}",
                     "put1": ratio["PUT 1 stream"], "get1stream": ratio["GET 1 stream"],
                     "multipart": ratio["multipart 4 streams"]})
    return sorted(runs, key=lambda run: run["when"])


def memory_runs() -> list[dict]:
    runs = []
    for path in sorted(BENCH.glob("memory*.json")):
        data = json.loads(path.read_text())
        peaks = {phase["phase"]: phase["peak_rss_mib"] for phase in data["phases"]}
        runs.append({"when": data["date"], "label": f"{data['date'][5:10]} {data['commit']} ({path.stem})",
                     "memory": max(peaks.get("downloads", 0), peaks.get("uploads", 0))})
    return sorted(runs, key=lambda run: run["when"])


# (key, title, target, higher is better, runs' source, y label)
PANELS = [("get64", "GET 4 KiB, 64 conn ÷ nginx", 0.40, True, "side", "ratio"),
          ("get1", "GET 4 KiB, 1 conn: p50 ÷ nginx's", 3.0, False, "side", "ratio (lower is better)"),
          ("put64", "strict PUT 4 KiB, 64 conn ÷ nginx GET", 0.25, True, "side", "ratio"),
          ("rename", "RenameObject ÷ strict PUT, 64 conn", 1.0, True, "side", "ratio"),
          ("put1", "PUT 1 GiB, 1 stream ÷ one core's MD5", 0.85, True, "large", "ratio"),
          ("get1stream", "GET 1 GiB, 1 stream ÷ nginx", 0.85, True, "large", "ratio"),
          ("multipart", "multipart PUT, 4 streams ÷ one core's MD5", 1.0, True, "large", "ratio (target: above)"),
          ("memory", "peak RSS, 64 × 1 GiB GET or PUT", 1024, False, "memory", "MiB (lower is better)")]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=str(BENCH / "targets.png"))
    args = parser.parse_args()
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    sources = {"side": side_runs(), "large": large_runs(), "memory": memory_runs()}
    figure, axes = plt.subplots(4, 2, figsize=(13, 15))
    for axis, (key, title, target, higher, source, ylabel) in zip(axes.flat, PANELS):
        points = [("issue #18 (wrk)", ISSUE[key])] if key in ISSUE else []
        shown = [run for run in sources[source] if run.get(key) is not None]
        points += [(run["label"], run[key]) for run in shown]
        ceilings = [(len(points) - len(shown) + index, run[key + "_ceiling"])
                    for index, run in enumerate(shown) if run.get(key + "_ceiling") is not None]
        labels = [label for label, _ in points]
        values = [value for _, value in points]
        met = [(value > target if key == "multipart" else value >= target) if higher else value <= target for value in values]
        colors = ["tab:green" if ok else "tab:orange" for ok in met]
        if points and points[0][0].startswith("issue"):
            colors[0] = "tab:gray"
        axis.bar(range(len(values)), values, color=colors)
        axis.axhline(target, color="black", linestyle="--", linewidth=1)
        axis.set_title(f"{title} (target {'≥' if higher and key != 'multipart' else '>' if higher else '≤'} {target:g})", fontsize=10)
        axis.set_xticks(range(len(values)))
        axis.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
        axis.set_ylabel(ylabel, fontsize=8)
        for index, value in enumerate(values):
            axis.annotate(f"{value:.2f}" if value < 100 else f"{value:.0f}", (index, value), ha="center", va="bottom", fontsize=7)
        if ceilings:
            axis.scatter([index for index, _ in ceilings], [value for _, value in ceilings], marker="_", s=400,
                         linewidths=2, color="tab:blue", zorder=3,
                         label="Hummingbird floor + SigV4, storing nothing (same wrk run)")
            for index, value in ceilings:
                axis.annotate(f"{value:.2f}", (index, value), ha="left", va="bottom", fontsize=7, color="tab:blue",
                              xytext=(6, 0), textcoords="offset points")
            # Room above the bars for the legend.
            axis.set_ylim(top=max(values + [value for _, value in ceilings] + [target]) * 1.35)
            axis.legend(fontsize=7, loc="upper left")
    figure.suptitle("Issue 18's targets, run by run (gray: the issue's figure; green: met; orange: not met).\n"
                    "Small objects: Stowage strict beside nginx in one `bench_side.py` run each; large: `bench_large.py` strict; "
                    "memory: `bench_memory.py`. Large objects and memory: only the runs kept in docs/bench "
                    "(BENCHMARKS.md's targets table lists every run)", fontsize=10)
    figure.tight_layout(rect=(0, 0, 1, 0.96))
    figure.savefig(args.out, dpi=90)
    for source, runs in sources.items():
        print(f"{source}: {len(runs)} run(s)")


if __name__ == "__main__":
    main()
