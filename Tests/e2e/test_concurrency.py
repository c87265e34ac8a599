"""Concurrency (issue 7): 64 clients, each its own boto3 client and connection, against
the suite's server. Races on one key have exactly one winner; a hammer of conditional
renames, puts and deletes on 8 keys ends in a state some serialization of the
acknowledged operations produces; no 5xx, no dropped connection, no deadlock, and the
server's peak resident memory stays bounded."""

import collections
import hashlib
import random
import threading
import time
import uuid

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from conftest import REGION

CLIENTS = 64
KEYS = [f"hot/k{i}" for i in range(8)]
HAMMER_SECONDS = 8
JOIN_TIMEOUT = 120
PEAK_RSS_LIMIT = 256 << 20


@pytest.fixture(scope="module")
def clients(s3_endpoint):
    """64 boto3 clients (separate sessions and connection pools), no automatic retries:
    every answer the server gives is the one the test sees. One session (its loaded
    service model is shared), 64 clients (each its own HTTP pool)."""
    session = boto3.session.Session()
    config = Config(region_name=REGION, signature_version="s3v4", s3={"addressing_style": "path"},
                    retries={"mode": "standard", "max_attempts": 1}, connect_timeout=10,
                    read_timeout=60, max_pool_connections=2)
    return [session.client(
        "s3", endpoint_url=s3_endpoint.url, aws_access_key_id=s3_endpoint.access_key,
        aws_secret_access_key=s3_endpoint.secret_key, region_name=REGION, config=config)
        for _ in range(CLIENTS)]


def answer_of(call):
    """(HTTP status, S3 code) of one request; transport failures become (None, repr)."""
    try:
        response = call()
        return response["ResponseMetadata"]["HTTPStatusCode"], "ok"
    except ClientError as error:
        return (error.response["ResponseMetadata"]["HTTPStatusCode"],
                error.response.get("Error", {}).get("Code"))
    except Exception as error:  # connection reset, timeout: the server dropped us
        return None, f"{type(error).__name__}: {error}"


def race(clients, make_call):
    """Run make_call(i, client) on every client at once (a barrier releases them together);
    returns the answers in client order."""
    barrier = threading.Barrier(len(clients))
    answers = [None] * len(clients)

    def run(i):
        call = make_call(i, clients[i])
        barrier.wait()
        answers[i] = answer_of(call)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "requests still unanswered: deadlock?"
    return answers


class PeakMemory:
    """The server's peak RSS over a block: VmHWM after resetting it (clear_refs 5), or,
    where that is refused, the largest VmRSS sampled every 20 ms."""

    def __init__(self, pid):
        self.pid = pid
        self.peak = 0
        self.sampled = False
        self.running = True

    def field(self, name):
        with open(f"/proc/{self.pid}/status") as status:
            for line in status:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
        raise AssertionError(f"no {name} in /proc/{self.pid}/status")

    def sample(self):
        while self.running:
            self.peak = max(self.peak, self.field("VmRSS"))
            time.sleep(0.02)

    def __enter__(self):
        try:
            with open(f"/proc/{self.pid}/clear_refs", "w") as f:
                f.write("5")
        except OSError:
            self.sampled = True
        self.before = self.field("VmRSS")
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.running = False
        self.thread.join()
        if not self.sampled:
            self.peak = max(self.peak, self.field("VmHWM"))
        self.after = self.field("VmRSS")


@pytest.fixture
def memory(s3_endpoint):
    with PeakMemory(s3_endpoint.pid) as peak:
        yield peak
    print(f"server RSS before {peak.before >> 20} MiB, peak {peak.peak >> 20} MiB, after {peak.after >> 20} MiB")
    assert peak.peak < PEAK_RSS_LIMIT, f"server peak RSS {peak.peak >> 20} MiB during the test"


def statuses(answers):
    return collections.Counter((status, code) for status, code in answers)


def assert_no_server_errors(answers):
    bad = [a for a in answers if a[0] is None or a[0] >= 500]
    assert not bad, f"{len(bad)} requests failed on the server side: {bad[:5]}"


def test_if_none_match_race_has_exactly_one_winner(s3, clients, bucket, memory):
    for key in KEYS:
        bodies = [f"{key} writer {i} {uuid.uuid4()}".encode() for i in range(CLIENTS)]
        answers = race(clients, lambda i, c: lambda: c.put_object(
            Bucket=bucket, Key=key, Body=bodies[i], IfNoneMatch="*"))
        assert_no_server_errors(answers)
        assert statuses(answers) == {(200, "ok"): 1, (412, "PreconditionFailed"): CLIENTS - 1}, \
            statuses(answers)
        [winner] = [i for i, a in enumerate(answers) if a[0] == 200]
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[winner]


def test_if_match_race_has_exactly_one_winner(s3, clients, bucket, memory):
    for key in KEYS[:4]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"version 0 of " + key.encode())
        etag = s3.head_object(Bucket=bucket, Key=key)["ETag"]
        bodies = [f"{key} version 1 by {i} {uuid.uuid4()}".encode() for i in range(CLIENTS)]
        answers = race(clients, lambda i, c: lambda: c.put_object(
            Bucket=bucket, Key=key, Body=bodies[i], IfMatch=etag))
        assert_no_server_errors(answers)
        assert statuses(answers) == {(200, "ok"): 1, (412, "PreconditionFailed"): CLIENTS - 1}, \
            statuses(answers)
        [winner] = [i for i, a in enumerate(answers) if a[0] == 200]
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == bodies[winner]


def test_renaming_one_source_to_64_destinations_has_one_winner(s3, clients, bucket, memory):
    for round_number in range(4):
        body = f"the only object, round {round_number} {uuid.uuid4()}".encode()
        s3.put_object(Bucket=bucket, Key="src", Body=body, ContentType="text/x-race",
                      Metadata={"round": str(round_number)})
        answers = race(clients, lambda i, c: lambda: c.rename_object(
            Bucket=bucket, Key=f"dst/{round_number}/{i}", RenameSource="src"))
        assert_no_server_errors(answers)
        assert statuses(answers) == {(200, "ok"): 1, (404, "NoSuchKey"): CLIENTS - 1}, statuses(answers)
        [winner] = [i for i, a in enumerate(answers) if a[0] == 200]
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        assert keys == [f"dst/{round_number}/{winner}"], keys
        got = s3.get_object(Bucket=bucket, Key=keys[0])
        assert got["Body"].read() == body
        assert got["ContentType"] == "text/x-race" and got["Metadata"] == {"round": str(round_number)}
        s3.delete_object(Bucket=bucket, Key=keys[0])


def test_renaming_64_sources_onto_one_new_destination_has_one_winner(s3, clients, bucket, memory):
    bodies = [f"candidate {i} {uuid.uuid4()}".encode() for i in range(CLIENTS)]
    for i, body in enumerate(bodies):
        s3.put_object(Bucket=bucket, Key=f"candidates/{i}", Body=body)
    answers = race(clients, lambda i, c: lambda: c.rename_object(
        Bucket=bucket, Key="final", RenameSource=f"candidates/{i}", DestinationIfNoneMatch="*"))
    assert_no_server_errors(answers)
    assert statuses(answers) == {(200, "ok"): 1, (412, "PreconditionFailed"): CLIENTS - 1}, statuses(answers)
    [winner] = [i for i, a in enumerate(answers) if a[0] == 200]
    assert s3.get_object(Bucket=bucket, Key="final")["Body"].read() == bodies[winner]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]}
    assert keys == {"final"} | {f"candidates/{i}" for i in range(CLIENTS) if i != winner}


def test_conditional_delete_race_has_exactly_one_winner(s3, clients, bucket, memory):
    s3.put_object(Bucket=bucket, Key="doomed", Body=b"delete me once")
    etag = s3.head_object(Bucket=bucket, Key="doomed")["ETag"]
    answers = race(clients, lambda i, c: lambda: c.delete_object(Bucket=bucket, Key="doomed", IfMatch=etag))
    assert_no_server_errors(answers)
    counts = statuses(answers)
    assert counts[(204, "ok")] == 1, counts
    # The losers find the key gone (404) or, if they looked before the winner's commit, 412.
    assert sum(counts.values()) - counts[(204, "ok")] == counts[(404, "NoSuchKey")] + \
        counts[(412, "PreconditionFailed")], counts
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0


# ---------------------------------------------------------------------------
# The hammer: every destructive operation names (by ETag) the object it destroys,
# so the history of each object can be checked exactly.
# ---------------------------------------------------------------------------


class History:
    """Successful operations, by object (an object is its ETag: every body is unique)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.created = {}                               # etag -> key
        self.destroyed = collections.defaultdict(list)  # etag -> [key]
        self.moves = collections.defaultdict(list)      # etag -> [(src, dst)]
        self.answers = collections.Counter()            # (op, status, code)
        self.failures = []

    def record(self, op, answer, allowed):
        with self.lock:
            self.answers[(op, *answer)] += 1
            if answer not in allowed:
                self.failures.append((op, answer))


def hammer_client(client, bucket, rng, deadline, history):
    def head(key):
        try:
            return client.head_object(Bucket=bucket, Key=key)["ETag"]
        except ClientError as error:
            if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
                return None
            history.record("head", (error.response["ResponseMetadata"]["HTTPStatusCode"],
                                    error.response.get("Error", {}).get("Code")), set())
            return None
        except Exception as error:
            history.record("head", (None, repr(error)), set())
            return None

    refused = {(412, "PreconditionFailed"), (404, "NoSuchKey")}
    while time.monotonic() < deadline:
        key = rng.choice(KEYS)
        etag = head(key)
        if etag is None:
            body = f"{key} {uuid.uuid4()}".encode()
            new = f'"{hashlib.md5(body).hexdigest()}"'
            answer = answer_of(lambda: client.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*"))
            history.record("put-if-none-match", answer, {(200, "ok"), (412, "PreconditionFailed")})
            if answer[0] == 200:
                with history.lock:
                    history.created[new] = key
            continue
        choice = rng.random()
        if choice < 0.25:
            body = f"{key} {uuid.uuid4()}".encode()
            new = f'"{hashlib.md5(body).hexdigest()}"'
            answer = answer_of(lambda: client.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=etag))
            history.record("put-if-match", answer, {(200, "ok")} | refused)
            if answer[0] == 200:
                with history.lock:
                    history.created[new] = key
                    history.destroyed[etag].append(key)
        elif choice < 0.40:
            answer = answer_of(lambda: client.delete_object(Bucket=bucket, Key=key, IfMatch=etag))
            history.record("delete-if-match", answer, {(204, "ok")} | refused)
            if answer[0] == 204:
                with history.lock:
                    history.destroyed[etag].append(key)
        else:
            destination = rng.choice([k for k in KEYS if k != key])
            target = head(destination) if choice < 0.7 else None
            conditions = {"DestinationIfMatch": target} if target else {"DestinationIfNoneMatch": "*"}
            answer = answer_of(lambda: client.rename_object(
                Bucket=bucket, Key=destination, RenameSource=key, SourceIfMatch=etag, **conditions))
            history.record("rename", answer, {(200, "ok")} | refused)
            if answer[0] == 200:
                with history.lock:
                    history.moves[etag].append((key, destination))
                    if target:
                        history.destroyed[target].append(destination)


def test_hammer_ends_in_a_serializable_state(s3, clients, bucket, memory, s3_endpoint):
    history = History()
    # A cluster gateway commits one mutation at a time, each an etcd round trip or more:
    # the same number of successes takes longer there.
    seconds = HAMMER_SECONDS * (2.5 if s3_endpoint.gateways else 1)
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=hammer_client,
                                args=(c, bucket, random.Random(i), deadline, history))
               for i, c in enumerate(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + JOIN_TIMEOUT)
    assert not any(t.is_alive() for t in threads), "requests still unanswered: deadlock?"
    summary = dict(sorted(history.answers.items(), key=str))
    print("hammer answers:", summary)
    assert not history.failures, f"unexpected answers {history.failures[:10]}; all: {summary}"
    successes = sum(n for (op, status, _), n in history.answers.items() if status in (200, 204))
    assert successes >= 50, f"too little happened: {summary}"
    assert sum(len(m) for m in history.moves.values()) > 0, summary

    final = {}
    for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        final[o["Key"]] = o["ETag"]
    assert set(final) <= set(KEYS), final
    # No object under two names; every object there was created by an acknowledged PUT.
    assert len(set(final.values())) == len(final), f"an object under two names: {final}"
    where = {etag: key for key, etag in final.items()}
    assert set(where) <= set(history.created), f"objects nobody wrote: {set(where) - set(history.created)}"
    for key, etag in final.items():
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert f'"{hashlib.md5(body).hexdigest()}"' == etag, key

    # Each object's life: created at one key, moved along a path, then either still there
    # (the path ends at its final key) or destroyed exactly once at the path's end.
    problems = []
    for etag, start in history.created.items():
        moves = history.moves.get(etag, [])
        destroyed = history.destroyed.get(etag, [])
        if etag in where:
            end = where[etag]
            if destroyed:
                problems.append(f"{etag} destroyed at {destroyed} yet still at {end}")
        elif len(destroyed) != 1:
            problems.append(f"{etag} (created at {start}) is gone; destroyed {len(destroyed)} times: "
                            f"{destroyed}, moves {moves}")
            continue
        else:
            end = destroyed[0]
        balance = collections.Counter()
        for src, dst in moves:
            balance[src] += 1
            balance[dst] -= 1
        expected = collections.Counter()
        if start != end:
            expected[start] += 1
            expected[end] -= 1
        if +balance != +expected or -balance != -expected:
            problems.append(f"{etag}: moves {moves} are not one path from {start} to {end}")
    for etag in set(history.moves) | set(history.destroyed):
        if etag not in history.created:
            problems.append(f"{etag} moved or destroyed but never created")
    assert not problems, "\n".join(problems[:20]) + f"\n{summary}"

    # Still responsive afterwards.
    s3.put_object(Bucket=bucket, Key="after", Body=b"still here")
    assert s3.get_object(Bucket=bucket, Key="after")["Body"].read() == b"still here"
    assert s3_endpoint.alive()
