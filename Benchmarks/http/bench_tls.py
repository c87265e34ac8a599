#!/usr/bin/env python3
"""HTTPS beside plain HTTP, in one run.

Starts two servers from the same binary, each on its own temporary data directory with
--durability relaxed: one over plain HTTP, one with --tls-cert/--tls-key (a self-signed
P-256 certificate made with openssl). Puts a 4 KiB and a 64 MiB object in each, then
measures with wrk against presigned GET URLs (no signing in the client):

- GET 4 KiB over keep-alive connections (wrk -t2 -c16): requests/s and median latency;
- GET 64 MiB (wrk -t1 -c2): MB/s (10^6 bytes/s);
- GET 4 KiB with "Connection: close" (wrk -t2 -c16): new connections/s, so every
  request pays a TCP (and a TLS) handshake; resumed TLS handshakes after each connection's
  first, as wrk reuses the server's TLS 1.3 session ticket.

Each measure runs plain, TLS, plain, TLS, ... for --rounds rounds; the table gives the
median of the rounds and the ratio HTTPS ÷ HTTP. The servers and wrk share the machine:
read the ratios more than the absolute figures. A run with any non-2xx response or
socket error fails (the server answers "Connection: close" when it closes, so wrk never
writes to a closing connection). Raw results: docs/bench/tls.json.

    python3 Benchmarks/http/bench_tls.py [--binary .build/release/stowage] [--seconds 10] [--rounds 3]
"""

import argparse
import datetime
import json
import os
import pathlib
import re
import shutil
import signal
import socket
import ssl
import statistics
import subprocess
import tempfile
import time
import urllib.request

import boto3
import urllib3
from botocore.config import Config

REPO = pathlib.Path(__file__).resolve().parents[2]
KEY, SECRET = "BENCHTLSKEY", "bench-tls-secret"
DURABILITY = "relaxed"
SMALL_BYTES, LARGE_BYTES = 4096, 64 << 20
READY_TIMEOUT_SECONDS = 30

# (name, object key, wrk threads, wrk connections, extra wrk arguments)
MEASURES = (
    ("GET 4 KiB, keep-alive", "small", 2, 16, []),
    ("GET 64 MiB", "large", 1, 2, []),
    ("GET 4 KiB, Connection: close", "small", 2, 16, ["-H", "Connection: close"]),
)
CLOSING = "GET 4 KiB, Connection: close"

# wrk's units (src/units.c): times in us/ms/s/m/h, byte counts 1024-based.
TIME_MS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
BINARY_PREFIX = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def client(url: str):
    # s3v4: boto3 presigns with SigV2 query parameters otherwise, which the server refuses.
    return boto3.session.Session().client(
        "s3", endpoint_url=url, aws_access_key_id=KEY, aws_secret_access_key=SECRET, region_name="us-east-1",
        verify=False, config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                    retries={"max_attempts": 1}, read_timeout=600))


def make_certificate(work: pathlib.Path):
    cert, key = work / "cert.pem", work / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                    "-days", "2", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def start_server(binary, work: pathlib.Path, name, tls_args):
    port = free_port()
    log = open(work / f"{name}.log", "wb")
    process = subprocess.Popen([binary, "serve", "--data", str(work / name), "--port", str(port),
                                "--access-key", KEY, "--secret-key", SECRET, "--durability", DURABILITY,
                                "--log-level", "warning", *tls_args], stdout=log, stderr=subprocess.STDOUT)
    log.close()
    scheme = "https" if tls_args else "http"
    return process, f"{scheme}://127.0.0.1:{port}"


def wait_ready(process, url, log: pathlib.Path):
    unverified = ssl._create_unverified_context()
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: server exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/-/ready", timeout=2, context=unverified) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url}: not ready after {READY_TIMEOUT_SECONDS} s:\n{log.read_text()}")


def negotiated(url):
    """Protocol and cipher of a handshake with openssl s_client, as the server chose them."""
    host_port = url.split("://", 1)[1]
    out = subprocess.run(["openssl", "s_client", "-connect", host_port], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=30).stdout
    lines = [line.strip() for line in out.splitlines() if re.search(r"Protocol|Cipher|Server Temp Key", line)]
    return sorted(set(lines))


def presigned_urls(url):
    s3 = client(url)
    bucket = f"bench-tls-{int(time.time())}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="small", Body=os.urandom(SMALL_BYTES))
    s3.put_object(Bucket=bucket, Key="large", Body=os.urandom(LARGE_BYTES))
    return {key: s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=3600)
            for key in ("small", "large")}


def wrk(url, threads, connections, extra, seconds, script_args=()):
    """One wrk run; any non-2xx answer or socket error fails it. `script_args` go to the
    Lua script of `-s` (in `extra`): wrk passes what follows the URL."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency",
               *extra, url, *script_args]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    requests = int(re.search(r"(\d+) requests in ", out).group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    connect, read, write, timeout = map(int, socket_errors.groups()) if socket_errors else (0, 0, 0, 0)
    if requests == 0 or non_2xx or connect or read or write or timeout:
        raise RuntimeError(f"wrk failed against {url.split('?')[0]} ({requests} requests):\n{out}")
    value, prefix = re.search(r"Transfer/sec:\s*([\d.]+)([KMGTP]?)B", out).groups()
    value_ms, unit = re.search(r"^\s*50%\s+([\d.]+)(us|ms|s|m|h)\s*$", out, re.MULTILINE).groups()
    return {
        "requests": requests,
        "requests/s": float(re.search(r"Requests/sec:\s*([\d.]+)", out).group(1)),
        "MB/s": float(value) * 1024 ** BINARY_PREFIX[prefix] / 1e6,
        "latency median ms": float(value_ms) * TIME_MS[unit],
        "read errors": read,
    }


def measure(urls, seconds, rounds):
    """Every measure over both servers, alternating plain and TLS, `rounds` times."""
    runs = []
    for name, key, threads, connections, extra in MEASURES:
        for round_index in range(rounds):
            for scheme in ("http", "https"):
                result = wrk(urls[scheme][key], threads, connections, extra, seconds)
                runs.append({"measure": name, "round": round_index + 1, "scheme": scheme,
                             "wrk": f"-t{threads} -c{connections} -d{seconds}s {' '.join(extra)}".strip(), **result})
                print(f"{name:30} round {round_index + 1} {scheme:5}  {result['requests/s']:10.1f} req/s  "
                      f"{result['MB/s']:8.1f} MB/s  p50 {result['latency median ms']:.3f} ms", flush=True)
    return runs


# (row of the table, measure, field of a wrk run, decimals). Not the latency of the closing
# measure: wrk starts its clock after the TCP and TLS handshakes.
CELLS = (
    ("GET 4 KiB keep-alive, req/s", "GET 4 KiB, keep-alive", "requests/s", 0),
    ("GET 4 KiB keep-alive, median ms", "GET 4 KiB, keep-alive", "latency median ms", 3),
    ("GET 64 MiB, MB/s", "GET 64 MiB", "MB/s", 1),
    ("GET 4 KiB new connection each, req/s", CLOSING, "requests/s", 0),
)


def medians(runs):
    table = []
    for row, name, field, decimals in CELLS:
        http, https = (statistics.median(r[field] for r in runs if r["measure"] == name and r["scheme"] == scheme)
                       for scheme in ("http", "https"))
        table.append({"measure": row, "http": round(http, decimals or None), "https": round(https, decimals or None),
                      "https ÷ http": round(https / http, 2)})
    return table


def stop(process):
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=str(REPO / ".build" / "release" / "stowage"))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(REPO / "docs" / "bench" / "tls.json"))
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is missing: apt-get install wrk (or make bench-tls)")
    urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    work = pathlib.Path(tempfile.mkdtemp(prefix="bench-tls-"))
    servers = []
    try:
        cert, key = make_certificate(work)
        for name, tls_args in (("http", []), ("https", ["--tls-cert", str(cert), "--tls-key", str(key)])):
            process, url = start_server(args.binary, work, name, tls_args)
            servers.append((name, process, url))
        for name, process, url in servers:
            wait_ready(process, url, work / f"{name}.log")
        urls = {name: presigned_urls(url) for name, _, url in servers}
        handshake = negotiated(servers[1][2])
        print(f"durability {DURABILITY}; TLS: {'; '.join(handshake)}", flush=True)
        runs = measure(urls, args.seconds, args.rounds)
    finally:
        for _, process, _ in servers:
            stop(process)
        shutil.rmtree(work, ignore_errors=True)
    table = medians(runs)
    commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()
    report = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "commit": commit,
              "durability": DURABILITY, "cpus": os.cpu_count(), "rounds": args.rounds, "seconds": args.seconds,
              "tls": handshake, "medians": table, "runs": runs}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    print(f"\nmedian of {args.rounds} rounds of {args.seconds} s, durability {DURABILITY}")
    print("| measure | HTTP | HTTPS | HTTPS ÷ HTTP |")
    print("|---|---|---|---|")
    for row in table:
        print(f"| {row['measure']} | {row['http']:,} | {row['https']:,} | {row['https ÷ http']} |")


if __name__ == "__main__":
    main()
