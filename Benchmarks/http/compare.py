#!/usr/bin/env python3
"""`make bench-compare`: Stowage and moto's S3 server side by side over HTTP, in one run,
with the filesystem's rename(2) and cp+rm and the machine's own limits as references.

It starts `stowage serve --durability strict` (on a fresh data directory under
$BENCH_TMPDIR, default <repo>/.bench-tmp, i.e. on the repository's disk) and
`python -m moto.server`, each on a free loopback port; measures the machine (disk
sequential write, fdatasync, MD5, loopback TCP) and the filesystem (rename(2), cp+rm) in
the same directory; runs bench_compare.py's S3 workload against both servers; stops both
servers (also on failure or Ctrl-C); and writes

  docs/bench/compare.csv           one row per measurement (plot-ready)
  docs/bench/compare-tables.md     the medians and ratios as Markdown tables
  docs/bench/rename-latency.png    rename latency against object size, log-log

Environment / options:
  STOWAGE_BIN     the binary (default <repo>/.build/release/stowage)
  QUICK=1         small sizes and short phases (--quick), for development; the outputs
                  then go to $BENCH_TMPDIR/quick/ unless given explicitly
  MOTO_MAX_SIZE   the largest object moto is given (--moto-max-size, default: no cap)
  BENCH_TMPDIR    where the data directories and test files go
"""
from __future__ import annotations

import argparse
import datetime
import os
import pathlib
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import bench_compare as bc  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[2]
READY_SECONDS = 60
STOP_GRACE_SECONDS = 30

FULL = dict(
    sizes="1KiB,1MiB,64MiB,256MiB,1GiB", large_size="1GiB", part_size="64MiB", threads=4,
    concurrency="1,8,32", small_seconds=5.0, reps=15, reps_large=15, large_from="64MiB",
    dd_mib=1024, md5_mib=1024, loopback_seconds=4,
)
QUICK = dict(
    sizes="1KiB,1MiB,16MiB", large_size="64MiB", part_size="16MiB", threads=4,
    concurrency="1,8", small_seconds=1.0, reps=5, reps_large=3, large_from="16MiB",
    dd_mib=128, md5_mib=128, loopback_seconds=1,
)

DISPLAY = {"stowage": "Stowage", "moto": "moto", "filesystem": "filesystem", "machine": "machine"}


# ---------------------------------------------------------------------------
# Servers
# ---------------------------------------------------------------------------


class Server:
    def __init__(self, name: str, argv: list[str], port: int, log_path: pathlib.Path,
                 env: dict | None = None):
        self.name, self.argv, self.port, self.log_path = name, argv, port, log_path
        self.url = f"http://127.0.0.1:{port}"
        self.log = open(log_path, "wb")
        # Own session: a Ctrl-C reaches this driver only, which then stops the server.
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env, start_new_session=True)

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited with status {self.proc.returncode} at start:\n"
                                   f"{self.log_tail()}")
            try:
                requests.get(self.url + "/", timeout=2)  # any HTTP answer will do
                return
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(f"{self.name} was not ready on port {self.port} after {READY_SECONDS} s")

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError as error:
            return f"(no log: {error})"

    def stop(self) -> str:
        """SIGTERM by PID, SIGKILL after the grace period. Returns a one-line outcome."""
        outcome = ""
        if self.proc.poll() is not None:
            outcome = f"{self.name} had already exited with status {self.proc.returncode}"
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_GRACE_SECONDS)
                outcome = f"{self.name} stopped (status {self.proc.returncode})"
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=30)
                outcome = f"{self.name} ignored SIGTERM for {STOP_GRACE_SECONDS} s and was killed"
        self.log.close()
        return outcome


def start_stowage(binary: str, workdir: pathlib.Path, access_key: str, secret_key: str) -> Server:
    port = bc.free_port()
    argv = [binary, "serve", "--data", str(workdir / "stowage-data"), "--address", "127.0.0.1",
            "--port", str(port), "--access-key", access_key, "--secret-key", secret_key,
            "--durability", "strict", "--log-level", "warning"]
    return Server("stowage", argv, port, workdir / "stowage.log")


def start_moto(workdir: pathlib.Path) -> Server:
    port = bc.free_port()
    env = dict(os.environ, TMPDIR=str(workdir))  # moto spills large objects to temp files
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return Server("moto", argv, port, workdir / "moto.log", env)


def git_head() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h %cI"], capture_output=True, text=True)
    return done.stdout.strip() or "?"


def section(title: str) -> None:
    """A section header with the time and the load average: on a shared machine, the log
    then tells which figures were taken while other work ran."""
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"\n== {title}  [{datetime.datetime.now():%H:%M:%S}, load {load}]", flush=True)


def _raise_exit(signum, frame):
    raise SystemExit(128 + signum)


# ---------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------


def machine_description(directory: pathlib.Path) -> list[str]:
    model = "?"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemTotal:"):
                memory = f"{int(line.split()[1]) / (1 << 20):.1f} GiB"
    df = subprocess.run(["df", "-T", str(directory)], capture_output=True, text=True).stdout.splitlines()
    fields = df[-1].split() if len(df) > 1 else ["?"] * 7
    moto_version = subprocess.run([sys.executable, "-c", "import moto; print(moto.__version__)"],
                                  capture_output=True, text=True).stdout.strip()
    import boto3
    return [
        f"date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"cores (nproc): {os.cpu_count()}; CPU: {model}; memory: {memory}",
        f"filesystem of the data directory: {fields[1]} on {fields[0]} (mounted at {fields[-1]})",
        f"kernel: {platform.release()}; Python {platform.python_version()}; boto3 {boto3.__version__}; "
        f"moto {moto_version}",
        f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}",
    ]


# ---------------------------------------------------------------------------
# Tables and plot
# ---------------------------------------------------------------------------


def find(rows, **match):
    for row in rows:
        if all(row[k] == v for k, v in match.items()):
            return row
    return None


def ratio(a, b):
    if a is None or b is None or b == 0:
        return "—"
    value = a / b
    return f"{value:.0f}×" if value >= 100 else f"{value:.1f}×" if value >= 10 else f"{value:.2f}×"


def cell(row, key="median"):
    return "—" if row is None or row[key] is None else bc.fmt(row[key])


def markdown_tables(rows, header_lines) -> str:
    out = []
    out.append("Machine and run:\n")
    out += [f"- {line}" for line in header_lines]
    out.append("")

    out.append("### Machine references (same run)\n")
    out.append("| measure | method | value |")
    out.append("|---|---|---|")
    for row in rows:
        if row["endpoint"] != "machine":
            continue
        if row["unit"] == "ms":
            value = f"p50 {bc.fmt(row['median'])} ms, p90 {bc.fmt(row['p90'])} ms (n={row['n']})"
        else:
            value = f"{bc.fmt(row['median'])} {row['unit']}"
        out.append(f"| {row['workload']} ({bc.size_label(row['size_bytes'])}) | {row['method']} | {value} |")
    out.append("")

    out.append("### Small objects (4 KiB), one boto3 client per thread\n")
    out.append("| operation | threads | Stowage ops/s | Stowage p50 / p90 / p99 ms | moto ops/s "
               "| moto p50 / p90 / p99 ms | Stowage ÷ moto (ops/s) | client CPU (cores) Stowage / moto |")
    out.append("|---|---|---|---|---|---|---|---|")
    concurrencies = sorted({r["concurrency"] for r in rows if r["workload"] == "small_put"})
    for workload in ("small_put", "small_get"):
        for c in concurrencies:
            cells = []
            rates = []
            for endpoint in ("stowage", "moto"):
                rate = find(rows, endpoint=endpoint, workload=workload, concurrency=c, unit="ops/s")
                lat = find(rows, endpoint=endpoint, workload=workload, concurrency=c, unit="ms")
                rates.append(rate["median"] if rate else None)
                cells.append(cell(rate))
                cells.append("—" if lat is None else
                             f"{bc.fmt(lat['median'])} / {bc.fmt(lat['p90'])} / {bc.fmt(lat['p99'])}")
            cpu = [find(rows, endpoint=e, workload=workload, concurrency=c, method="client CPU")
                   for e in ("stowage", "moto")]
            name = "PUT" if workload == "small_put" else "GET"
            out.append(f"| {name} | {c} | {' | '.join(cells)} | {ratio(*rates)} | "
                       f"{cell(cpu[0])} / {cell(cpu[1])} |")
    out.append("")

    out.append("### Large objects (MB/s = 10^6 bytes/s)\n")
    out.append("| transfer | size (Stowage / moto) | Stowage MB/s | moto MB/s | Stowage ÷ moto "
               "| server CPU (cores) Stowage / moto |")
    out.append("|---|---|---|---|---|---|")
    seen = []
    for row in rows:
        if row["endpoint"] == "stowage" and row["workload"] in ("large_put", "large_get") \
                and row["unit"] == "MB/s":
            seen.append((row["workload"], row["concurrency"], row["method"]))
    for workload, c, method in seen:
        s = find(rows, endpoint="stowage", workload=workload, concurrency=c, method=method)
        m = find(rows, endpoint="moto", workload=workload, concurrency=c, method=method)
        cpu = [find(rows, endpoint=e, workload=workload, concurrency=c, method=method + " server CPU")
               for e in ("stowage", "moto")]
        name = ("PUT " if workload == "large_put" else "GET ") + method + (f", {c} threads" if c > 1 else "")
        sizes = f"{bc.size_label(s['size_bytes'])} / {bc.size_label(m['size_bytes']) if m else '—'}"
        out.append(f"| {name} | {sizes} | {cell(s)} | {cell(m)} | {ratio(s['median'], m['median'] if m else None)} "
                   f"| {cell(cpu[0])} / {cell(cpu[1])} |")
    out.append("")

    out.append("### \"Rename\" latency against object size (median ms; n per cell in the CSV)\n")
    columns = [("stowage", "RenameObject"), ("stowage", "copy+delete"), ("moto", "copy+delete"),
               ("filesystem", "rename(2)"), ("filesystem", "rename(2)+fsync(dir)"), ("filesystem", "cp+rm")]
    moto_rename = any(r["endpoint"] == "moto" and r["method"] == "RenameObject" for r in rows)
    if moto_rename:
        columns.insert(2, ("moto", "RenameObject"))
    out.append("| size | " + " | ".join(f"{DISPLAY[e]} {m}" for e, m in columns)
               + " | Stowage copy+delete ÷ RenameObject | moto copy+delete ÷ Stowage RenameObject "
               "| Stowage RenameObject ÷ rename(2) | Stowage RenameObject ÷ rename(2)+fsync(dir) |")
    out.append("|---" * (len(columns) + 5) + "|")
    sizes = sorted({r["size_bytes"] for r in rows if r["workload"] == "rename"})
    for size in sizes:
        got = {(e, m): find(rows, endpoint=e, workload="rename", size_bytes=size, method=m) for e, m in columns}
        med = {k: (v["median"] if v else None) for k, v in got.items()}
        out.append(f"| {bc.size_label(size)} | " + " | ".join(cell(got[k]) for k in columns)
                   + f" | {ratio(med[('stowage', 'copy+delete')], med[('stowage', 'RenameObject')])}"
                   + f" | {ratio(med[('moto', 'copy+delete')], med[('stowage', 'RenameObject')])}"
                   + f" | {ratio(med[('stowage', 'RenameObject')], med[('filesystem', 'rename(2)')])}"
                   + f" | {ratio(med[('stowage', 'RenameObject')], med[('filesystem', 'rename(2)+fsync(dir)')])} |")
    out.append("")
    out.append(targets_table(rows))
    return "\n".join(out) + "\n"


def targets_table(rows) -> str:
    out = ["### The issue's targets, as far as an HTTP run can tell\n",
           "| target | measured | verdict |", "|---|---|---|"]

    def verdict(ok):
        return "met" if ok else "short"

    renames = sorted((r for r in rows if r["endpoint"] == "stowage" and r["method"] == "RenameObject"),
                     key=lambda r: r["size_bytes"])
    if len(renames) >= 2:
        small, big = renames[0], renames[-1]
        change = big["median"] / small["median"] - 1
        out.append(f"| RenameObject at {bc.size_label(big['size_bytes'])} at most 10% slower than at "
                   f"{bc.size_label(small['size_bytes'])} (over HTTP, strict) | {bc.fmt(big['median'])} ms vs "
                   f"{bc.fmt(small['median'])} ms ({change:+.0%}) | {verdict(change <= 0.10)} |")
    disk = find(rows, endpoint="machine", workload="disk_seq_write")
    md5 = find(rows, endpoint="machine", workload="md5")
    loop = [r for r in rows if r["endpoint"] == "machine" and r["workload"] == "loopback_tcp"]
    put1 = find(rows, endpoint="stowage", workload="large_put", concurrency=1, unit="MB/s")
    putn = next((r for r in rows if r["endpoint"] == "stowage" and r["workload"] == "large_put"
                 and r["concurrency"] > 1 and r["unit"] == "MB/s"), None)
    get1 = find(rows, endpoint="stowage", workload="large_get", concurrency=1, unit="MB/s")
    if put1 and disk and md5:
        floor = min(disk["median"], md5["median"])
        out.append(f"| single-stream PUT ≥ 80% of min(disk {bc.fmt(disk['median'])}, MD5 {bc.fmt(md5['median'])}) "
                   f"= {bc.fmt(0.8 * floor)} MB/s | {bc.fmt(put1['median'])} MB/s ({put1['median'] / floor:.0%}) "
                   f"| {verdict(put1['median'] >= 0.8 * floor)} |")
    if putn and disk:
        out.append(f"| parallel multipart PUT ≥ 80% of disk = {bc.fmt(0.8 * disk['median'])} MB/s "
                   f"| {bc.fmt(putn['median'])} MB/s ({putn['median'] / disk['median']:.0%}) "
                   f"| {verdict(putn['median'] >= 0.8 * disk['median'])} |")
    if get1 and loop:
        best = max(loop, key=lambda r: r["median"])
        out.append(f"| single-stream GET ≥ 80% of one loopback connection ({best['method']}: "
                   f"{bc.fmt(best['median'])} MB/s) | {bc.fmt(get1['median'])} MB/s "
                   f"({get1['median'] / best['median']:.0%}) | {verdict(get1['median'] >= 0.8 * best['median'])} |")
    puts = [r for r in rows if r["endpoint"] == "stowage" and r["workload"] == "small_put" and r["unit"] == "ops/s"]
    if puts:
        best = max(puts, key=lambda r: r["median"])
        out.append(f"| small durable PUT ≥ 10,000/s | {bc.fmt(best['median'])}/s at {best['concurrency']} "
                   f"threads (Python client) | {verdict(best['median'] >= 10000)} |")
    return "\n".join(out) + "\n"


def plot(rows, path: pathlib.Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lines = [
        ("stowage", "RenameObject", "Stowage RenameObject", "tab:blue", "o", "-"),
        ("stowage", "copy+delete", "Stowage copy+delete", "tab:cyan", "s", "--"),
        ("moto", "RenameObject", "moto RenameObject", "tab:brown", "^", "-"),
        ("moto", "copy+delete", "moto copy+delete", "tab:red", "^", "--"),
        ("filesystem", "rename(2)", "rename(2)", "tab:green", "D", "-"),
        ("filesystem", "rename(2)+fsync(dir)", "rename(2) + fsync(dir)", "tab:olive", "D", ":"),
        ("filesystem", "cp+rm", "cp + rm", "tab:gray", "v", "--"),
    ]
    figure, axes = plt.subplots(figsize=(8, 5.2))
    all_sizes = set()
    for endpoint, method, label, color, marker, style in lines:
        points = sorted((r["size_bytes"], r["median"], r["p90"]) for r in rows
                        if r["workload"] == "rename" and r["endpoint"] == endpoint and r["method"] == method)
        if not points:
            continue
        xs = [p[0] for p in points]
        all_sizes.update(xs)
        axes.plot(xs, [p[1] for p in points], marker=marker, linestyle=style, color=color, label=label)
        axes.fill_between(xs, [p[1] for p in points], [p[2] for p in points], color=color, alpha=0.12,
                          linewidth=0)
    axes.set_xscale("log")
    axes.set_yscale("log")
    ticks = sorted(all_sizes)
    axes.set_xticks(ticks)
    axes.set_xticklabels([bc.size_label(t).replace(" ", "\u00a0") for t in ticks])
    axes.minorticks_off()
    axes.set_xlabel("object size")
    axes.set_ylabel("latency, median ms (shade: up to p90)")
    axes.set_title(title, fontsize=10)
    axes.grid(True, which="major", alpha=0.3)
    axes.legend(fontsize=8, loc="upper left")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


# ---------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", default=os.environ.get("QUICK", "") not in ("", "0"))
    parser.add_argument("--stowage-bin", default=os.environ.get("STOWAGE_BIN", str(REPO / ".build/release/stowage")))
    parser.add_argument("--moto-max-size", default=os.environ.get("MOTO_MAX_SIZE", ""),
                        help="largest object given to moto (e.g. 256MiB); default no cap")
    parser.add_argument("--tmpdir", default=os.environ.get("BENCH_TMPDIR", str(REPO / ".bench-tmp")))
    parser.add_argument("--csv", default=str(REPO / "docs/bench/compare.csv"))
    parser.add_argument("--tables", default=str(REPO / "docs/bench/compare-tables.md"))
    parser.add_argument("--plot", default=str(REPO / "docs/bench/rename-latency.png"))
    args = parser.parse_args()
    p = QUICK if args.quick else FULL
    if args.quick:  # development figures never overwrite the committed ones by default
        for name, default in (("csv", "docs/bench/compare.csv"), ("tables", "docs/bench/compare-tables.md"),
                              ("plot", "docs/bench/rename-latency.png")):
            if getattr(args, name) == str(REPO / default):
                setattr(args, name, str(pathlib.Path(args.tmpdir) / "quick" / pathlib.Path(default).name))

    binary = os.path.abspath(args.stowage_bin)
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"no stowage binary at {binary} (make release, or set STOWAGE_BIN)")
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.signal(signal.SIGHUP, _raise_exit)

    os.makedirs(args.tmpdir, exist_ok=True)
    workdir = pathlib.Path(tempfile.mkdtemp(prefix="compare-", dir=args.tmpdir))
    same_disk = os.stat(workdir).st_dev == os.stat(REPO).st_dev
    header = machine_description(workdir)
    built = datetime.datetime.fromtimestamp(os.stat(binary).st_mtime).astimezone().isoformat(timespec="seconds")
    header.append(f"mode: {'QUICK (development sizes)' if args.quick else 'full'}; stowage binary: {binary} "
                  f"(built {built}); repository at {git_head()}")
    header.append(f"data directory and test files under {args.tmpdir}"
                  f" ({'same filesystem as the repository' if same_disk else 'NOT the repository filesystem'})")
    print("\n".join(header), flush=True)

    sizes = bc.parse_sizes(p["sizes"])
    large_size = bc.parse_size(p["large_size"])
    moto_cap = bc.parse_size(args.moto_max_size) if args.moto_max_size else None
    results = bc.Results()
    servers: list[Server] = []
    notes: list[str] = []
    started = time.monotonic()
    try:
        access_key = "BENCH" + secrets.token_hex(8).upper()
        secret_key = secrets.token_urlsafe(30)
        stowage = start_stowage(binary, workdir, access_key, secret_key)
        servers.append(stowage)
        moto = start_moto(workdir)
        servers.append(moto)
        stowage.wait_ready()
        moto.wait_ready()
        print(f"stowage (strict) on {stowage.url}, pid {stowage.proc.pid}; moto on {moto.url}, pid {moto.proc.pid}",
              flush=True)

        section("machine references")
        bc.machine_references(str(workdir), results, p["dd_mib"], p["md5_mib"], p["loopback_seconds"])

        source = str(workdir / "source.bin")
        section(f"generating a {bc.size_label(max(sizes + [large_size]))} source file")
        bc.make_file(source, max(sizes + [large_size]))

        large_from = bc.parse_size(p["large_from"])
        section("filesystem references (same filesystem as the data directory)")
        bc.fs_references(str(workdir), source, sizes, p["reps"], p["reps_large"], large_from, results)

        for server, key, secret, durability in ((stowage, access_key, secret_key, "strict"),
                                                (moto, "moto", "moto", "none")):
            label = server.name
            capped = [s for s in sizes if moto_cap is None or label != "moto" or s <= moto_cap]
            large = large_size if moto_cap is None or label != "moto" else min(large_size, moto_cap)
            section(f"{label} ({durability})")
            bench = bc.S3Bench(server.url, key, secret, label, durability, results, str(workdir),
                               server.proc.pid)
            note = bc.run_s3(bench, large_file=source, small_size=4 * bc.KiB,
                             concurrencies=[int(c) for c in p["concurrency"].split(",")],
                             small_seconds=p["small_seconds"], small_max_ops=100000, large_size=large,
                             part_size=bc.parse_size(p["part_size"]), threads=p["threads"],
                             rename_sizes=capped, rename_reps=p["reps"], rename_reps_large=p["reps_large"],
                             large_from=large_from)
            notes.append(f"{DISPLAY[label]}: {note}")
            if server.proc.poll() is not None:
                raise RuntimeError(f"{label} died during the run:\n{server.log_tail()}")
    finally:
        for server in servers:
            outcome = server.stop()
            print(outcome, flush=True)
            if server.name == "stowage" and "status 0" not in outcome:
                print(f"--- stowage log tail ---\n{server.log_tail()}")
        shutil.rmtree(workdir, ignore_errors=True)

    elapsed = time.monotonic() - started
    section("done")
    header.append(f"durability: Stowage --durability strict (data fdatasync'ed and the index commit "
                  f"synced before each answer); moto keeps objects in memory / unsynced temp files")
    header += [f"rename method detection — {n}" for n in notes]
    if moto_cap:
        header.append(f"moto was given objects up to {bc.size_label(moto_cap)} only (MOTO_MAX_SIZE)")
    header.append(f"run time: {elapsed / 60:.1f} min; load average at the end: "
                  f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (other work on the machine shows here)")

    for output in (args.csv, args.tables, args.plot):
        pathlib.Path(output).parent.mkdir(parents=True, exist_ok=True)
    results.write_csv(args.csv)
    tables = markdown_tables(results.rows, header)
    pathlib.Path(args.tables).write_text(tables)
    plot(results.rows, pathlib.Path(args.plot),
         f"Rename latency vs object size — Stowage (strict) and moto over HTTP (boto3), "
         f"filesystem refs\n{os.cpu_count()} cores, {'quick mode' if args.quick else 'full run'}")
    print("\n" + tables)
    print(f"wrote {args.csv} ({len(results.rows)} rows), {args.tables}, {args.plot}")


if __name__ == "__main__":
    main()
