#!/usr/bin/env python3
"""Side by side, driven by `stowage bench` (issue 18): Stowage embedded `--durability
strict` and `relaxed`, moto's S3 server, Ceph's RADOS Gateway where it can be started
here (Benchmarks/http/rgw.sh), nginx serving the same objects as static files as the
HTTP floor, and Hummingbird's floor (`stowage http-floor`: the same files answered from
memory through the HTTP stack `stowage serve` runs on, no signature, no index, no disk)
and NIO's (`--stack nio`: the same from NIO's HTTP/1 channel handlers alone),
all on this machine in one run.

Measures (4 KiB objects, 1,024 of them):
  GET        at 1, 16 and 64 connections — every server (nginx and the two floors:
             `stowage bench --unsigned` over files written by `stowage bench --write-files`,
             so the same client, the same bytes and the same body check);
  PUT        at 64 connections — the S3 servers;
  RenameObject at 64 connections — Stowage (moto answers 200 and stores an empty
             destination: not measured; radosgw 16 has no RenameObject);
  GET and PUT at 64 connections with presigned URLs (`stowage bench --presigned`: SigV4
             in the query, one URL per object sent again, as the issue's wrk baseline
             did) — Stowage: the server checks every signature, the client signs less.
Each measure runs every server in turn, for --rounds rounds (alternating, so that a
noisy moment hits all), and the tables give the median round. Every answer is checked
by the bench; a run with any error is reported as failed, not as a figure.

Writes docs/bench/side-by-side.json (every run), side-by-side.md (the tables) and
side-by-side.png; QUICK=1: one short round, outputs in .bench-tmp/quick/.

    python3 Benchmarks/http/bench_side.py [--binary .build/release/stowage] [--seconds 5] [--rounds 3]
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
ACCESS, SECRET = "SIDEBYSIDEKEY", "side-by-side-secret"
OBJECTS = 1024
SIZE = "4KiB"
READY_SECONDS = 60
GET_CONNECTIONS = (1, 16, 64)
WRITE_CONNECTIONS = 64


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, process: subprocess.Popen | None, name: str, log: pathlib.Path,
              seconds: float = READY_SECONDS) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{tail(log)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{name} not listening on {port} after {seconds} s:\n{tail(log)}")


def tail(path: pathlib.Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError as error:
        return f"(no log: {error})"


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the PID, SIGKILL after 30 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class Target:
    def __init__(self, name: str, durability: str, url: str, process: subprocess.Popen | None,
                 unsigned: bool = False, renames: bool = False, puts: bool = True):
        self.name, self.durability, self.url, self.process = name, durability, url, process
        self.unsigned, self.renames, self.puts = unsigned, renames, puts
        self.prepared: set[str] = set()


def start_stowage(binary: str, work: pathlib.Path, durability: str) -> Target:
    port = free_port()
    log = work / f"stowage-{durability}.log"
    process = subprocess.Popen([binary, "serve", "--data", str(work / f"stowage-{durability}"), "--address", "127.0.0.1",
                                "--port", str(port), "--access-key", ACCESS, "--secret-key", SECRET,
                                "--durability", durability, "--log-level", "warning"],
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, process, f"stowage ({durability})", log)
    return Target(f"Stowage {durability}", durability, f"http://127.0.0.1:{port}", process, renames=True)


def start_moto(work: pathlib.Path) -> Target:
    port = free_port()
    log = work / "moto.log"
    process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True,
                               env=dict(os.environ, TMPDIR=str(work)))
    wait_port(port, process, "moto", log)
    return Target("moto", "none (memory)", f"http://127.0.0.1:{port}", process)


def write_files(binary: str, work: pathlib.Path) -> pathlib.Path:
    """The bench's objects as files (`stowage bench --write-files`), once per run."""
    root = work / "www"
    if not root.exists():
        subprocess.run([binary, "bench", "--write-files", str(root), "--bucket", "files", "--obj-size", SIZE,
                        "--objects", str(OBJECTS), "--unsigned"], check=True)
    return root


def start_nginx(binary: str, work: pathlib.Path) -> Target:
    """nginx on its own config and prefix, in the foreground, serving the bench's objects
    as files (`stowage bench --write-files`)."""
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not os.access(nginx, os.X_OK):
        raise RuntimeError("nginx is not installed (make bench-deps installs it)")
    prefix = work / "nginx"
    root = write_files(binary, work)
    for sub in ("logs", "tmp"):
        (prefix / sub).mkdir(parents=True, exist_ok=True)
    for top in (prefix, root):  # workers run as nobody when started by root
        for directory, _, files in os.walk(top):
            os.chmod(directory, 0o755)
            for name in files:
                os.chmod(os.path.join(directory, name), 0o644)
    work.chmod(0o755)
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(f"""worker_processes auto;
error_log {prefix}/logs/error.log warn;
pid {prefix}/nginx.pid;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nodelay on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
""")
    log = prefix / "logs" / "stdout.log"
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(prefix), "-g", "daemon off;"],
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, process, "nginx", prefix / "logs" / "error.log")
    target = Target("nginx (static files)", "n/a (static files)", f"http://127.0.0.1:{port}", process, unsigned=True, puts=False)
    target.prepared.add("files")
    return target


def start_floor(binary: str, work: pathlib.Path, stack: str = "hummingbird", signed: bool = False) -> Target:
    """`stowage http-floor`: the same files from memory, no S3, through Hummingbird (the
    stack `stowage serve` runs on) or NIO's channel handlers alone (`--stack nio`).
    `signed`: every request's SigV4 signature checked (of ACCESS), S3's GET headers, PUT
    bodies read through MD5 and not kept (`--signed`)."""
    root = write_files(binary, work)
    port = free_port()
    log = work / f"http-floor-{stack}{'-signed' if signed else ''}.log"
    extra = ["--signed", "--access-key", ACCESS, "--secret-key", SECRET] if signed else []
    process = subprocess.Popen([binary, "http-floor", "--root", str(root), "--address", "127.0.0.1", "--port", str(port),
                                "--stack", stack, *extra],
                               stdout=open(log, "wb"), stderr=subprocess.STDOUT, start_new_session=True)
    wait_port(port, process, f"http-floor ({stack})", log)
    name = ("Hummingbird floor" if stack == "hummingbird" else "NIO floor") + (" + SigV4" if signed else " (memory)")
    target = Target(name, "n/a (memory)", f"http://127.0.0.1:{port}", process, unsigned=not signed, puts=False)
    target.prepared.add("files")
    return target


def start_rgw(work: pathlib.Path) -> tuple[Target | None, str, list[str]]:
    """Ceph's RADOS Gateway on a one-OSD bluestore cluster (Benchmarks/http/rgw.sh), or None
    and the reason it could not be started here."""
    script = REPO / "Benchmarks" / "http" / "rgw.sh"
    missing = [tool for tool in ("radosgw", "radosgw-admin", "ceph-mon", "ceph-osd", "ceph") if shutil.which(tool) is None]
    if missing:
        return None, f"radosgw not measured: {', '.join(missing)} not installed (apt-get install radosgw ceph-mon ceph-osd)", []
    directory = work / "rgw"
    started = time.monotonic()
    done = subprocess.run([str(script), "up", str(directory)], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, RGW_ACCESS=ACCESS, RGW_SECRET=SECRET))
    if done.returncode != 0:
        subprocess.run([str(script), "down", str(directory)], capture_output=True, timeout=120)
        return None, f"radosgw not measured: rgw.sh up failed after {time.monotonic() - started:.0f} s: " \
                     f"{(done.stderr.strip().splitlines() or ['?'])[-1]}", []
    url = done.stdout.strip().splitlines()[-1]
    target = Target("Ceph RGW (1 bluestore OSD)", "bluestore (synced WAL), 1 replica", url, None)
    return target, f"radosgw started in {time.monotonic() - started:.0f} s", [str(script), "down", str(directory)]


def bench(binary: str, target: Target, mix: str, connections: int, seconds: float, warmup: float,
          bucket: str, setup: bool, presigned: bool = False) -> dict:
    argv = [binary, "bench", "--endpoint", target.url, "--bucket", bucket, "--mix", mix, "--obj-size", SIZE,
            "--objects", str(OBJECTS), "--concurrency", str(connections), "--duration", str(seconds),
            "--warmup", str(warmup), "--json"]
    if target.unsigned:
        argv.append("--unsigned")
    elif not setup:
        argv.append("--no-setup")
    if presigned:
        argv.append("--presigned")
    env = dict(os.environ, AWS_ACCESS_KEY_ID=ACCESS if target.name != "moto" else "moto",
               AWS_SECRET_ACCESS_KEY=SECRET if target.name != "moto" else "moto")
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=600)
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        report = {}
    operation = mix
    figures = report.get("operations", {}).get(operation)
    if done.returncode != 0 or figures is None:
        errors = (figures or {}).get("errors")
        reason = f"errors {errors}" if errors else (done.stderr.strip()[-300:] or "no report")
        return {"failed": f"exit {done.returncode}: {reason}", "errors": errors}
    return {"ops_per_s": figures["ops_per_s"], "mb_per_s": figures["mb_per_s"], "ops": figures["ops"],
            "latency_ms": figures["latency_ms"], "client_cpu_cores": report["client_cpu"]["cores"],
            "errors": figures["errors"]}


def measures(targets: list[Target]) -> list[tuple[str, str, int, list[Target], bool]]:
    """(label, mix, connections, targets, presigned)."""
    out = [(f"GET 4 KiB, {c} conn", "get", c, targets, False) for c in GET_CONNECTIONS]
    out.append((f"PUT 4 KiB, {WRITE_CONNECTIONS} conn", "put", WRITE_CONNECTIONS, [t for t in targets if t.puts], False))
    out.append((f"RenameObject 4 KiB, {WRITE_CONNECTIONS} conn", "rename-object", WRITE_CONNECTIONS,
                [t for t in targets if t.renames], False))
    stowage = [t for t in targets if t.name.startswith("Stowage")]
    out.append((f"GET 4 KiB, {WRITE_CONNECTIONS} conn, presigned", "get", WRITE_CONNECTIONS, stowage, True))
    out.append((f"PUT 4 KiB, {WRITE_CONNECTIONS} conn, presigned", "put", WRITE_CONNECTIONS, stowage, True))
    return out


def run(binary: str, targets: list[Target], rounds: int, seconds: float, warmup: float) -> list[dict]:
    runs = []
    for round_index in range(rounds):
        for label, mix, connections, which, presigned in measures(targets):
            for target in which:
                bucket = "files" if target.unsigned else f"side-{mix}"
                setup = mix != "get" or bucket not in target.prepared  # GET objects are written once per server
                result = bench(binary, target, mix, connections, seconds, warmup, bucket, setup, presigned)
                if mix == "get" and "failed" not in result:
                    target.prepared.add(bucket)
                runs.append({"measure": label, "mix": mix, "connections": connections, "presigned": presigned,
                             "round": round_index + 1,
                             "server": target.name, "durability": target.durability, **result})
                shown = result.get("failed") or (f"{result['ops_per_s']:10.0f} ops/s  p50 {result['latency_ms']['p50']:.3f} ms"
                                                 f"  p99 {result['latency_ms']['p99']:.3f} ms  client {result['client_cpu_cores']:.2f} cores")
                print(f"round {round_index + 1}  {label:28} {target.name:28} {shown}", flush=True)
    return runs


def medians(runs: list[dict], targets: list[Target]) -> list[dict]:
    """Per measure and server: the round with the median ops/s (its latencies with it)."""
    table = []
    for label, mix, connections, which, _ in measures(targets):
        for target in which:
            good = [r for r in runs if r["measure"] == label and r["server"] == target.name and "failed" not in r]
            failed = [r for r in runs if r["measure"] == label and r["server"] == target.name and "failed" in r]
            if not good:
                table.append({"measure": label, "server": target.name, "durability": target.durability,
                              "failed": failed[0]["failed"] if failed else "not run"})
                continue
            good.sort(key=lambda r: r["ops_per_s"])
            middle = good[(len(good) - 1) // 2]
            table.append({"measure": label, "mix": mix, "connections": connections, "server": target.name,
                          "durability": target.durability, "rounds": len(good), "failed_rounds": len(failed),
                          "ops_per_s": statistics.median(r["ops_per_s"] for r in good),
                          "p50_ms": middle["latency_ms"]["p50"], "p99_ms": middle["latency_ms"]["p99"],
                          "client_cpu_cores": middle["client_cpu_cores"]})
    return table


def markdown(table: list[dict], header: list[str]) -> str:
    lines = [f"- {line}" for line in header] + [""]
    nginx_get = {row["connections"]: row["ops_per_s"] for row in table
                 if row["server"].startswith("nginx") and row.get("mix") == "get" and "ops_per_s" in row}
    lines += ["| measure | server | durability | ops/s (median) | p50 ms | p99 ms | ÷ nginx GET, same conns | bench client CPU (cores) |",
              "|---|---|---|---|---|---|---|---|"]
    for row in table:
        if "failed" in row:
            lines.append(f"| {row['measure']} | {row['server']} | {row['durability']} | failed: {row['failed'][:120]} | | | | |")
            continue
        floor = nginx_get.get(row["connections"])
        against = f"{row['ops_per_s'] / floor:.1%}" if floor else "—"
        lines.append(f"| {row['measure']} | {row['server']} | {row['durability']} | {row['ops_per_s']:,.0f} | "
                     f"{row['p50_ms']:.3f} | {row['p99_ms']:.3f} | {against} | {row['client_cpu_cores']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(table: list[dict], path: pathlib.Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = [r for r in table if "ops_per_s" in r]
    labels = list(dict.fromkeys(r["measure"] for r in rows))
    servers = list(dict.fromkeys(r["server"] for r in rows))
    figure, axis = plt.subplots(figsize=(11, 6.5))
    width = 0.8 / max(1, len(servers))
    for index, server in enumerate(servers):
        values = [next((r["ops_per_s"] for r in rows if r["measure"] == label and r["server"] == server), 0) for label in labels]
        positions = [i + index * width for i in range(len(labels))]
        durability = next(r["durability"] for r in rows if r["server"] == server)
        axis.bar(positions, values, width, label=f"{server} — durability: {durability}")
    axis.set_xticks([i + width * (len(servers) - 1) / 2 for i in range(len(labels))])
    axis.set_xticklabels(labels, rotation=15, ha="right")
    axis.set_ylabel("operations/s (median round)")
    axis.set_yscale("log")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2)
    axis.grid(axis="y", which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.environ.get("STOWAGE_BIN", str(REPO / ".build" / "release" / "stowage")))
    parser.add_argument("--quick", action="store_true", default=os.environ.get("QUICK", "") not in ("", "0"))
    parser.add_argument("--seconds", type=float, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--no-rgw", action="store_true", help="do not try to start radosgw")
    parser.add_argument("--no-floor", action="store_true",
                        help="do not run the HTTP floors (`stowage http-floor`, Hummingbird's and NIO's)")
    parser.add_argument("--tmpdir", default=os.environ.get("BENCH_TMPDIR", str(REPO / ".bench-tmp")))
    parser.add_argument("--out", default=None, help="directory for side-by-side.{json,md,png} (default docs/bench)")
    args = parser.parse_args()
    seconds = args.seconds or (1.0 if args.quick else 5.0)
    rounds = args.rounds or (1 if args.quick else 3)
    warmup = 0.3 if args.quick else 1.0
    out = pathlib.Path(args.out or (pathlib.Path(args.tmpdir) / "quick" if args.quick else REPO / "docs" / "bench"))
    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"no stowage binary at {binary} (make release, or set STOWAGE_BIN)")
    signal.signal(signal.SIGTERM, lambda signum, frame: (_ for _ in ()).throw(SystemExit(128 + signum)))

    os.makedirs(args.tmpdir, exist_ok=True)
    work = pathlib.Path(tempfile.mkdtemp(prefix="side-", dir=args.tmpdir))
    targets: list[Target] = []
    rgw_down: list[str] = []
    notes: list[str] = []
    started = time.monotonic()
    load_start = os.getloadavg()
    try:
        targets.append(start_stowage(binary, work, "strict"))
        targets.append(start_stowage(binary, work, "relaxed"))
        targets.append(start_moto(work))
        if args.no_rgw:
            notes.append("radosgw not measured: --no-rgw")
        else:
            rgw, note, rgw_down = start_rgw(work)
            notes.append(note)
            print(note, flush=True)
            if rgw:
                targets.append(rgw)
        targets.append(start_nginx(binary, work))
        if not args.no_floor:
            targets.append(start_floor(binary, work))
            targets.append(start_floor(binary, work, "nio"))
        for target in targets:
            print(f"{target.name:28} {target.url}  durability: {target.durability}", flush=True)
        runs = run(binary, targets, rounds, seconds, warmup)
    finally:
        for target in targets:
            if target.process is not None:
                stop(target.process)
        if rgw_down:
            subprocess.run(rgw_down, capture_output=True, timeout=300)
        shutil.rmtree(work, ignore_errors=True)

    table = medians(runs, targets)
    commit = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%h"], capture_output=True, text=True).stdout.strip()
    header = [
        f"run {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC at commit {commit}, "
        f"{'QUICK' if args.quick else 'full'}: {rounds} round(s) of {seconds:g} s per measure after {warmup:g} s of warm-up, "
        f"servers alternating; {os.cpu_count()} cores shared by every server and the client",
        f"client: `stowage bench` (release build), {OBJECTS} objects of {SIZE}, every body checked; "
        f"nginx and the HTTP floors read with `--unsigned` (no signature), the S3 servers with SigV4 (UNSIGNED-PAYLOAD) in the Authorization header, "
        f"or in the query where the measure says presigned",
        f"load average {' '.join(f'{x:.2f}' for x in load_start)} at the start, "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} at the end; {(time.monotonic() - started) / 60:.1f} min",
        *notes,
    ]
    out.mkdir(parents=True, exist_ok=True)
    report = {"header": header, "medians": table, "runs": runs}
    (out / "side-by-side.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    text = markdown(table, header)
    (out / "side-by-side.md").write_text(text)
    plot(table, out / "side-by-side.png",
         f"4 KiB operations/s, stowage bench as the client, {os.cpu_count()} cores shared, median of {rounds} round(s)")
    print("\n" + text)
    print(f"wrote {out}/side-by-side.json, side-by-side.md, side-by-side.png")


if __name__ == "__main__":
    main()
