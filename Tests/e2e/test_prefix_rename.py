"""Stowage's atomic prefix rename (README "Atomic prefix rename"): the
`POST /{bucket}?renamePrefix` endpoint, signed and sent raw (boto3 has no such call), and
the `stowage mv` command both ways: one atomic request, and the client-side RenameObject
batches it falls back to elsewhere, including resuming an interrupted journal."""

import hashlib
import http.client
import http.server
import json
import os
import pathlib
import signal
import subprocess
import threading
import time
import uuid
import xml.sax.saxutils

import pytest
import requests

from conftest import clean_environment, parse_error_xml, parse_xml

REPO = pathlib.Path(__file__).resolve().parents[2]
STOWAGE_BIN = pathlib.Path(os.environ.get("STOWAGE_BIN", REPO / ".build" / "debug" / "stowage"))


def body_xml(source, destination, overwrite=None, expected_count=None, manifest=None):
    esc = xml.sax.saxutils.escape
    parts = [f"<SourcePrefix>{esc(source)}</SourcePrefix>", f"<DestinationPrefix>{esc(destination)}</DestinationPrefix>"]
    if overwrite is not None:
        parts.append(f"<Overwrite>{'true' if overwrite else 'false'}</Overwrite>")
    if expected_count is not None:
        parts.append(f"<ExpectedCount>{expected_count}</ExpectedCount>")
    if manifest is not None:
        objects = "".join(f"<Object><Key>{esc(k)}</Key><ETag>{esc(e)}</ETag></Object>" for k, e in manifest)
        parts.append(f"<Manifest>{objects}</Manifest>")
    return ("<RenamePrefix>" + "".join(parts) + "</RenamePrefix>").encode()


def rename_prefix(raw, bucket, body, **kwargs):
    return raw.request("POST", f"/{bucket}", query="renamePrefix", body=body,
                       headers={"Content-Type": "application/xml"}, **kwargs)


def keys(s3, bucket, prefix=""):
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [o["Key"] for o in page.get("Contents", [])]
    return found


def put_many(s3, bucket, names, body=lambda name: name.encode()):
    for name in names:
        s3.put_object(Bucket=bucket, Key=name, Body=body(name))


def assert_error(response, status, code, condition=None):
    assert response.status_code == status, response.text
    error = parse_error_xml(response.content)
    assert error["Code"] == code, error
    assert error["RequestId"] == response.headers["x-amz-request-id"]
    assert error.get("Condition") == condition, error
    return error


# ---------------------------------------------------------------------------
# The endpoint
# ---------------------------------------------------------------------------


def test_rename_prefix_moves_every_object_and_keeps_its_attributes(s3, raw, bucket):
    names = [f"tmp/step-1000/shard-{i:03d}.safetensors" for i in range(25)]
    for i, name in enumerate(names):
        s3.put_object(Bucket=bucket, Key=name, Body=os.urandom(100 + i), ContentType="application/x-shard",
                      Metadata={"shard": str(i)}, StorageClass="STANDARD_IA")
    neighbours = ["tmp/step-1000", "tmp/step-10000/x", "final/step-1000x"]
    put_many(s3, bucket, neighbours)
    before = {name: s3.get_object(Bucket=bucket, Key=name) for name in names}
    bodies = {name: before[name]["Body"].read() for name in names}

    response = rename_prefix(raw, bucket, body_xml("tmp/step-1000/", "final/step-1000/"))

    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == "application/xml"
    result = parse_xml(response.content)
    assert result.tag == "RenamePrefixResult"
    assert {child.tag: child.text for child in result} == {
        "SourcePrefix": "tmp/step-1000/", "DestinationPrefix": "final/step-1000/", "Moved": "25", "Replaced": "0"}
    assert keys(s3, bucket, "tmp/step-1000/") == []
    assert keys(s3, bucket, "final/step-1000/") == [n.replace("tmp/", "final/", 1) for n in names]
    for name in names:
        moved = s3.get_object(Bucket=bucket, Key=name.replace("tmp/", "final/", 1))
        assert moved["Body"].read() == bodies[name]
        for field in ("ETag", "ContentType", "Metadata", "LastModified", "StorageClass", "ContentLength"):
            assert moved.get(field) == before[name].get(field), field
    for name in neighbours:
        assert s3.get_object(Bucket=bucket, Key=name)["Body"].read() == name.encode()


def test_existing_destination_is_412_and_nothing_moves_until_overwrite(s3, raw, bucket):
    put_many(s3, bucket, ["new/a", "new/b", "new/c"])
    s3.put_object(Bucket=bucket, Key="live/b", Body=b"old b")
    s3.put_object(Bucket=bucket, Key="live/other", Body=b"stays")

    refused = rename_prefix(raw, bucket, body_xml("new/", "live/"))
    error = assert_error(refused, 412, "PreconditionFailed", condition="Overwrite")
    assert "live/b" in error["Message"]
    assert keys(s3, bucket) == ["live/b", "live/other", "new/a", "new/b", "new/c"]

    replaced = rename_prefix(raw, bucket, body_xml("new/", "live/", overwrite=True))
    assert replaced.status_code == 200, replaced.text
    result = {child.tag: child.text for child in parse_xml(replaced.content)}
    assert (result["Moved"], result["Replaced"]) == ("3", "1")
    assert keys(s3, bucket) == ["live/a", "live/b", "live/c", "live/other"]
    assert s3.get_object(Bucket=bucket, Key="live/b")["Body"].read() == b"new/b"


def test_expected_count_guards_against_a_racing_writer(s3, raw, bucket):
    put_many(s3, bucket, ["from/1", "from/2"])
    s3.put_object(Bucket=bucket, Key="from/late", Body=b"written after the caller counted")
    assert_error(rename_prefix(raw, bucket, body_xml("from/", "to/", expected_count=2)), 412, "PreconditionFailed",
                 condition="ExpectedCount")
    assert keys(s3, bucket) == ["from/1", "from/2", "from/late"]
    assert rename_prefix(raw, bucket, body_xml("from/", "to/", expected_count=3)).status_code == 200
    assert keys(s3, bucket) == ["to/1", "to/2", "to/late"]


def test_manifest_must_match_keys_and_etags_exactly(s3, raw, bucket):
    put_many(s3, bucket, ["from/1", "from/2"])
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="from/")["Contents"]
    manifest = [(o["Key"], o["ETag"]) for o in listed]  # quoted, as S3 lists them
    s3.put_object(Bucket=bucket, Key="from/2", Body=b"replaced since the manifest was taken")
    assert_error(rename_prefix(raw, bucket, body_xml("from/", "to/", manifest=manifest)), 412, "PreconditionFailed",
                 condition="Manifest")
    assert keys(s3, bucket) == ["from/1", "from/2"]
    fresh = [(o["Key"], o["ETag"]) for o in s3.list_objects_v2(Bucket=bucket, Prefix="from/")["Contents"]]
    assert rename_prefix(raw, bucket, body_xml("from/", "to/", manifest=fresh[::-1])).status_code == 200
    assert keys(s3, bucket) == ["to/1", "to/2"]


@pytest.mark.parametrize("body, status, code", [
    (body_xml("", "to/"), 400, "InvalidArgument"),
    (body_xml("from/", ""), 400, "InvalidArgument"),
    (body_xml("from/", "from/sub/"), 400, "InvalidRequest"),
    (body_xml("from/sub/", "from/"), 400, "InvalidRequest"),
    (body_xml("from/", "x" * 1025), 400, "KeyTooLongError"),
    (body_xml("from/", "d" * 1023), 400, "KeyTooLongError"),   # from/key → 1026 bytes
    (body_xml("nothing/", "to/"), 404, "NoSuchKey"),
    (body_xml("from/", "to/", expected_count=-1), 400, "InvalidArgument"),
    (b"<RenamePrefix><SourcePrefix>from/</SourcePrefix></RenamePrefix>", 400, "MalformedXML"),
    (b"<RenamePrefix><SourcePrefix>from/</SourcePrefix><DestinationPrefix>to/</DestinationPrefix>"
     b"<Overwrite>maybe</Overwrite></RenamePrefix>", 400, "MalformedXML"),
    (b"<RenamePrefix><SourcePrefix>from/</SourcePrefix><DestinationPrefix>to/</DestinationPrefix>"
     b"<ExpectedCount>two</ExpectedCount></RenamePrefix>", 400, "MalformedXML"),
    (b"<Delete><Object><Key>from/key</Key></Object></Delete>", 400, "MalformedXML"),
    (b"<RenamePrefix><SourcePrefix>", 400, "MalformedXML"),
    (b"", 400, "MalformedXML"),
], ids=["empty-source", "empty-destination", "destination-inside-source", "source-inside-destination",
        "prefix-too-long", "moved-key-too-long", "nothing-to-move", "negative-count", "no-destination",
        "bad-overwrite", "bad-count", "wrong-root", "not-well-formed", "empty-body"])
def test_refused_requests_move_nothing(s3, raw, bucket, body, status, code):
    s3.put_object(Bucket=bucket, Key="from/key", Body=b"k")
    assert_error(rename_prefix(raw, bucket, body), status, code)
    assert keys(s3, bucket) == ["from/key"]


def test_missing_bucket_is_no_such_bucket(raw, bucket_name_factory):
    assert_error(rename_prefix(raw, bucket_name_factory(), body_xml("a/", "b/")), 404, "NoSuchBucket")


def test_anonymous_request_is_access_denied(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="from/key", Body=b"k")
    assert_error(rename_prefix(raw, bucket, body_xml("from/", "to/"), sign=False), 403, "AccessDenied")
    assert keys(s3, bucket) == ["from/key"]


def test_body_other_than_the_signed_one_is_refused(s3, raw, s3_endpoint, bucket):
    """The body's SHA-256 is signed: a body swapped in transit moves nothing."""
    s3.put_object(Bucket=bucket, Key="from/key", Body=b"k")
    signed_for = body_xml("from/", "to/")
    url = f"{s3_endpoint.url}/{bucket}?renamePrefix"
    headers = raw.signed_headers("POST", url, {}, signed_for, s3_endpoint.access_key, s3_endpoint.secret_key, None)
    response = requests.post(url, headers=headers, data=body_xml("from/", "evil/"), timeout=60)
    assert_error(response, 400, "XAmzContentSHA256Mismatch")
    assert keys(s3, bucket) == ["from/key"]


def test_prefix_rename_is_atomic_for_listers(s3, make_client, raw, bucket, s3_endpoint):
    """A lister never sees some keys moved and others not (DESIGN.md I2)."""
    count = 150
    # Over a cluster each rename is etcd round trips, about a second for 150 keys: fewer rounds.
    rounds = 10 if s3_endpoint.gateways else 30
    put_many(s3, bucket, [f"a/{i:04d}" for i in range(count)], body=lambda name: b"")
    lister = make_client()
    stop = threading.Event()
    seen = {"a/": 0, "b/": 0}
    mixed = []

    def watch():
        while not stop.is_set():
            listed = [o["Key"] for o in lister.list_objects_v2(Bucket=bucket).get("Contents", [])]
            prefixes = {key[:2] for key in listed}
            if len(listed) == count and len(prefixes) == 1:
                seen[prefixes.pop()] += 1
            else:
                mixed.append((len(listed), sorted(prefixes)))

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        for round_ in range(rounds):
            source, destination = ("a/", "b/") if round_ % 2 == 0 else ("b/", "a/")
            response = rename_prefix(raw, bucket, body_xml(source, destination, expected_count=count))
            assert response.status_code == 200, response.text
    finally:
        stop.set()
        watcher.join()
    assert mixed == []
    assert seen["a/"] > 0 and seen["b/"] > 0, seen


def test_readme_curl_example(s3, s3_endpoint, bucket, tmp_path):
    """The README's curl command, as written there (curl's own SigV4)."""
    put_many(s3, bucket, ["tmp/step-1000/a", "tmp/step-1000/b"])
    body = tmp_path / "rename.xml"
    body.write_bytes(body_xml("tmp/step-1000/", "final/step-1000/"))
    digest = hashlib.sha256(body.read_bytes()).hexdigest()
    done = subprocess.run(
        ["curl", "-sS", "--fail-with-body", "--aws-sigv4", "aws:amz:us-east-1:s3",
         "--user", f"{s3_endpoint.access_key}:{s3_endpoint.secret_key}",
         "-H", f"x-amz-content-sha256: {digest}", "--data-binary", f"@{body}",
         f"{s3_endpoint.url}/{bucket}?renamePrefix="],
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "<Moved>2</Moved>" in done.stdout
    assert keys(s3, bucket) == ["final/step-1000/a", "final/step-1000/b"]


# ---------------------------------------------------------------------------
# stowage mv
# ---------------------------------------------------------------------------


@pytest.fixture
def mv(s3_endpoint, tmp_path):
    """`stowage mv … --endpoint URL` with the test credentials, run in tmp_path."""
    assert STOWAGE_BIN.is_file(), f"stowage binary not found at {STOWAGE_BIN}"
    env = clean_environment(tmp_path)
    env.update(AWS_ACCESS_KEY_ID=s3_endpoint.access_key, AWS_SECRET_ACCESS_KEY=s3_endpoint.secret_key)

    def run(*args, endpoint=None, expect_status=0, **popen):
        argv = [str(STOWAGE_BIN), "mv", *map(str, args), "--endpoint", endpoint or s3_endpoint.url]
        done = subprocess.run(argv, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
        if expect_status is not None:
            assert done.returncode == expect_status, f"{argv} → {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done

    def start(*args):
        argv = [str(STOWAGE_BIN), "mv", *map(str, args), "--endpoint", s3_endpoint.url]
        return subprocess.Popen(argv, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    run.start = start
    run.cwd = tmp_path
    return run


def etags(s3, bucket, prefix):
    return {o["Key"][len(prefix):]: o["ETag"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
            for o in page.get("Contents", [])}


def test_mv_uses_the_atomic_endpoint(s3, bucket, mv):
    put_many(s3, bucket, [f"tmp/step-7/shard-{i}" for i in range(40)])
    before = etags(s3, bucket, "tmp/step-7/")
    done = mv(f"s3://{bucket}/tmp/step-7/", f"s3://{bucket}/final/step-7/")
    assert "moved 40 objects" in done.stdout and "in one transaction" in done.stdout, done.stdout
    assert etags(s3, bucket, "final/step-7/") == before
    assert keys(s3, bucket, "tmp/") == []
    assert list(mv.cwd.glob(".stowage-mv-*")) == [], "the atomic path writes no journal"


def test_mv_refuses_an_existing_destination_and_moves_nothing(s3, bucket, mv):
    put_many(s3, bucket, ["a/1", "a/2", "b/2"])
    for extra in ([], ["--client-side"]):
        failed = mv(f"s3://{bucket}/a/", f"s3://{bucket}/b/", *extra, expect_status=None)
        assert failed.returncode != 0
        assert "b/2" in failed.stderr, failed.stderr
        assert keys(s3, bucket) == ["a/1", "a/2", "b/2"]
    mv(f"s3://{bucket}/a/", f"s3://{bucket}/b/", "--overwrite")
    assert keys(s3, bucket) == ["b/1", "b/2"]
    assert s3.get_object(Bucket=bucket, Key="b/2")["Body"].read() == b"a/2"


def test_mv_expected_count(s3, bucket, mv):
    put_many(s3, bucket, ["a/1", "a/2"])
    for extra in ([], ["--client-side"]):
        failed = mv(f"s3://{bucket}/a/", f"s3://{bucket}/b/", "--expected-count", 3, *extra, expect_status=None)
        assert failed.returncode != 0 and "3" in failed.stderr, failed.stderr
    assert keys(s3, bucket) == ["a/1", "a/2"]


def test_mv_client_side_moves_in_batches(s3, bucket, mv):
    names = [f"tmp/run/{i:03d} odd+key é" for i in range(120)]
    put_many(s3, bucket, names)
    before = etags(s3, bucket, "tmp/run/")
    done = mv(f"s3://{bucket}/tmp/run/", f"s3://{bucket}/done/run/", "--client-side", "--batch-size", 8)
    assert "moved 120 objects" in done.stdout and "RenameObject (120 calls" in done.stdout, done.stdout
    assert "120/120 objects moved (100%)" in done.stderr, done.stderr
    assert etags(s3, bucket, "done/run/") == before
    assert keys(s3, bucket, "tmp/") == []
    assert list(mv.cwd.glob(".stowage-mv-*")) == [], "the journal is removed when the move ends"


def journal_lines(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_mv_resumes_a_crafted_journal(s3, s3_endpoint, bucket, mv):
    """The journal format of README "stowage mv", and the three states a crash leaves:
    renames journaled as done, renames the server did but the journal never heard of (same
    token: answered from the token table), and renames whose token the server no longer
    knows (the destination holds the planned object: counted as done)."""
    count = 30
    names = [f"src/{i:02d}" for i in range(count)]
    put_many(s3, bucket, names)
    listed = etags(s3, bucket, "src/")
    plan = [{"plan": i, "source": name, "destination": "dst/" + name[4:], "etag": listed[name[4:]].strip('"'),
             "token": str(uuid.uuid4())} for i, name in enumerate(names)]
    for entry in plan[:18]:
        token = entry["token"] if entry["plan"] < 15 else str(uuid.uuid4())
        # As `stowage mv` sends it: the token's fingerprint covers the source as written
        # and the destination condition.
        s3.rename_object(Bucket=bucket, Key=entry["destination"], RenameSource=f"/{bucket}/{entry['source']}",
                         DestinationIfNoneMatch="*", ClientToken=token)
    journal = mv.cwd / "move.journal"
    header = {"journal": "stowage-mv", "version": 1, "endpoint": s3_endpoint.url, "bucket": bucket,
              "source": "src/", "destination": "dst/", "overwrite": False}
    lines = [header, *plan, {"planned": count}, *({"done": i} for i in range(10))]
    journal.write_text("".join(json.dumps(line) + "\n" for line in lines) + '{"do')  # torn last append

    done = mv(f"s3://{bucket}/src/", f"s3://{bucket}/dst/", "--client-side", "--journal", journal)

    assert "resuming" in done.stderr and "10 of 30 already moved" in done.stderr, done.stderr
    assert f"moved {count} objects" in done.stdout and "(20 calls in this run)" in done.stdout, done.stdout
    assert keys(s3, bucket, "src/") == []
    assert etags(s3, bucket, "dst/") == listed
    assert not journal.exists()


def test_mv_refuses_a_journal_of_another_move(s3, s3_endpoint, bucket, mv):
    put_many(s3, bucket, ["src/1"])
    journal = mv.cwd / "other.journal"
    header = {"journal": "stowage-mv", "version": 1, "endpoint": s3_endpoint.url, "bucket": bucket,
              "source": "elsewhere/", "destination": "dst/", "overwrite": False}
    journal.write_text(json.dumps(header) + "\n" + json.dumps({"planned": 0}) + "\n")
    failed = mv(f"s3://{bucket}/src/", f"s3://{bucket}/dst/", "--journal", journal, expect_status=None)
    assert failed.returncode != 0 and "belongs to another move" in failed.stderr, failed.stderr
    assert keys(s3, bucket) == ["src/1"]
    assert journal.exists()


def test_mv_resumes_after_being_killed(s3, bucket, mv, s3_endpoint):
    """SIGKILL in the middle of a client-side move; the same command finishes it, and every
    object ends at its new name exactly once."""
    count = 200 if s3_endpoint.gateways else 600   # a cluster renames more slowly
    names = [f"ckpt/{i:04d}" for i in range(count)]
    put_many(s3, bucket, names, body=lambda name: name.encode() * 3)
    before = etags(s3, bucket, "ckpt/")
    args = (f"s3://{bucket}/ckpt/", f"s3://{bucket}/promoted/", "--client-side", "--batch-size", 1)
    process = mv.start(*args)
    deadline = time.monotonic() + 120
    journal = None
    while time.monotonic() < deadline and process.poll() is None:
        found = list(mv.cwd.glob(".stowage-mv-*.journal"))
        if found and found[0].read_text().count('"done"') >= 20:
            journal = found[0]
            break
        time.sleep(0.005)
    assert process.poll() is None, "the move ended before it could be interrupted"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    process.stdout.close()
    process.stderr.close()
    assert journal is not None and journal.exists()
    done_before = sum(1 for line in journal_lines(journal) if "done" in line)
    assert 20 <= done_before < count
    assert 0 < len(keys(s3, bucket, "promoted/")) < count, "the kill left a half-moved prefix"

    resumed = mv(*args)

    assert "resuming" in resumed.stderr, resumed.stderr
    assert f"moved {count} objects" in resumed.stdout, resumed.stdout
    assert keys(s3, bucket, "ckpt/") == []
    assert etags(s3, bucket, "promoted/") == before
    assert not journal.exists()


class _NoPrefixRenameProxy(http.server.ThreadingHTTPServer):
    """Forwards every request to Stowage unchanged (Host included, so signatures hold)
    except `?renamePrefix`, which it answers 501 NotImplemented like an S3 server
    without the extension. Counts what it forwarded."""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.forwarded = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)


class _ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if "renamePrefix" in self.path.partition("?")[2]:
            error = b"<?xml version='1.0'?><Error><Code>NotImplemented</Code><Message>no</Message></Error>"
            self.send_response(501)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(error)))
            self.end_headers()
            self.wfile.write(error)
            return
        self.server.forwarded.append((self.command, self.path))
        upstream = http.client.HTTPConnection("127.0.0.1", self.server.upstream_port, timeout=60)
        upstream.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            upstream.putheader(name, value)
        upstream.endheaders(body)
        reply = upstream.getresponse()
        data = reply.read()
        self.send_response(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        upstream.close()

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _handle


def test_mv_falls_back_where_the_atomic_endpoint_is_not_implemented(s3, s3_endpoint, bucket, mv):
    put_many(s3, bucket, [f"from/{i}" for i in range(12)])
    before = etags(s3, bucket, "from/")
    proxy = _NoPrefixRenameProxy(s3_endpoint.port)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        done = mv(f"s3://{bucket}/from/", f"s3://{bucket}/to/",
                  endpoint=f"http://127.0.0.1:{proxy.server_address[1]}")
    finally:
        proxy.shutdown()
        proxy.server_close()
    assert "no atomic prefix rename (501 NotImplemented)" in done.stderr, done.stderr
    assert "moved 12 objects" in done.stdout and "by RenameObject" in done.stdout, done.stdout
    renames = [path for method, path in proxy.forwarded if method == "PUT" and path.endswith("?renameObject")]
    assert len(renames) == 12
    assert etags(s3, bucket, "to/") == before
    assert keys(s3, bucket, "from/") == []
