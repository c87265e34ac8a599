"""Conditional requests, one test row per row of S3-SEMANTICS.md's tables
"Conditional writes" (PutObject, DeleteObject) and "Conditional reads" (GetObject,
HeadObject). CompleteMultipartUpload and CopyObject rows wait for those operations."""

import datetime
import hashlib
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from conftest import body_of, quoted_md5

ORIGINAL = b"original body"
REPLACEMENT = b"replacement body"
OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'
ONE_DAY = datetime.timedelta(days=1)




def etag_forms(etag: str) -> dict[str, str]:
    """The ways a client may spell a matching ETag: quoted, bare, inside a list."""
    return {
        "ETAG": etag,
        "BARE": etag.strip('"'),
        "LIST": f'{OTHER_ETAG}, {etag}',
        "BARELIST": f'{OTHER_ETAG.strip(chr(34))},{etag.strip(chr(34))}',
    }


# ---------------------------------------------------------------------------
# Conditional writes: PutObject
# ---------------------------------------------------------------------------

# (id, object exists beforehand, request conditions, expected status, code, Condition)
PUT_ROWS = [
    ("if-none-match-star-key-exists", True, {"IfNoneMatch": "*"},
     412, "PreconditionFailed", "If-None-Match"),
    ("if-none-match-star-key-absent", False, {"IfNoneMatch": "*"}, 200, None, None),
    ("if-match-etag-differs", True, {"IfMatch": OTHER_ETAG},
     412, "PreconditionFailed", "If-Match"),
    ("if-match-etag-equal-quoted", True, {"IfMatch": "ETAG"}, 200, None, None),
    ("if-match-etag-equal-bare", True, {"IfMatch": "BARE"}, 200, None, None),
    ("if-match-etag-in-list", True, {"IfMatch": "LIST"}, 200, None, None),
    ("if-match-etag-in-bare-list", True, {"IfMatch": "BARELIST"}, 200, None, None),
    ("if-match-key-absent", False, {"IfMatch": OTHER_ETAG}, 404, "NoSuchKey", None),
    ("if-none-match-not-star-key-exists", True, {"IfNoneMatch": "ETAG"},
     400, "InvalidRequest", None),
    ("if-none-match-not-star-key-absent", False, {"IfNoneMatch": OTHER_ETAG},
     400, "InvalidRequest", None),
    ("if-match-and-if-none-match", True, {"IfMatch": "ETAG", "IfNoneMatch": "*"},
     501, "NotImplemented", None),
]


@pytest.mark.parametrize(
    "exists, conditions, status, code, condition",
    [row[1:] for row in PUT_ROWS],
    ids=[row[0] for row in PUT_ROWS],
)
def test_conditional_put(s3, s3_error, bucket, exists, conditions, status, code, condition):
    forms = etag_forms(quoted_md5(ORIGINAL))
    if exists:
        s3.put_object(Bucket=bucket, Key="k", Body=ORIGINAL)
    kwargs = {name: forms.get(value, value) for name, value in conditions.items()}

    if status == 200:
        put = s3.put_object(Bucket=bucket, Key="k", Body=REPLACEMENT, **kwargs)
        assert put["ETag"] == quoted_md5(REPLACEMENT)
        assert body_of(s3, bucket, "k") == REPLACEMENT
    else:
        with s3_error(status, code, condition=condition):
            s3.put_object(Bucket=bucket, Key="k", Body=REPLACEMENT, **kwargs)
        assert body_of(s3, bucket, "k") == (ORIGINAL if exists else None)


def race(clients, attempt):
    """Run attempt(client, index) in one thread per client, released together."""
    writers = len(clients)
    barrier = threading.Barrier(writers)

    def run(index):
        barrier.wait(timeout=30)
        try:
            attempt(clients[index], index)
            return ("ok", index)
        except ClientError as error:
            return (
                error.response["ResponseMetadata"]["HTTPStatusCode"],
                error.response["Error"]["Code"],
            )

    with ThreadPoolExecutor(writers) as pool:
        return list(pool.map(run, range(writers)))


def test_racing_if_none_match_creates_exactly_one(s3, make_client, bucket):
    writers = 4
    clients = [make_client() for _ in range(writers)]
    for round_number in range(6):
        key = f"race-{round_number}"
        results = race(
            clients,
            lambda client, i: client.put_object(
                Bucket=bucket, Key=key, Body=f"writer {i}".encode(), IfNoneMatch="*"
            ),
        )
        winners = [r[1] for r in results if r[0] == "ok"]
        losers = [r for r in results if r[0] != "ok"]
        assert len(winners) == 1, results
        assert losers == [(412, "PreconditionFailed")] * (writers - 1), results
        assert body_of(s3, bucket, key) == f"writer {winners[0]}".encode()


def test_racing_if_match_updates_exactly_one(s3, make_client, bucket):
    writers = 4
    clients = [make_client() for _ in range(writers)]
    for round_number in range(6):
        key = f"cas-{round_number}"
        etag = s3.put_object(Bucket=bucket, Key=key, Body=b"base")["ETag"]
        results = race(
            clients,
            lambda client, i: client.put_object(
                Bucket=bucket, Key=key, Body=f"update {i}".encode(), IfMatch=etag
            ),
        )
        winners = [r[1] for r in results if r[0] == "ok"]
        assert len(winners) == 1, results
        assert sorted(r for r in results if r[0] != "ok") == [(412, "PreconditionFailed")] * (
            writers - 1
        ), results
        assert body_of(s3, bucket, key) == f"update {winners[0]}".encode()


# ---------------------------------------------------------------------------
# Conditional writes: DeleteObject
# ---------------------------------------------------------------------------


def test_conditional_delete_if_match_mismatch_is_412(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="d", Body=ORIGINAL)
    with s3_error(412, "PreconditionFailed"):
        s3.delete_object(Bucket=bucket, Key="d", IfMatch=OTHER_ETAG)
    assert body_of(s3, bucket, "d") == ORIGINAL


@pytest.mark.parametrize("form", ["*", "ETAG", "BARE", "LIST"])
def test_conditional_delete_if_match_holds(s3, bucket, form):
    s3.put_object(Bucket=bucket, Key="d", Body=ORIGINAL)
    if_match = etag_forms(quoted_md5(ORIGINAL)).get(form, form)
    deleted = s3.delete_object(Bucket=bucket, Key="d", IfMatch=if_match)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert body_of(s3, bucket, "d") is None


# ---------------------------------------------------------------------------
# Conditional reads: GetObject and HeadObject
# ---------------------------------------------------------------------------


@pytest.fixture
def stored(s3, bucket):
    """An object and what a client knows about it: ETag and Last-Modified."""
    s3.put_object(Bucket=bucket, Key="r", Body=ORIGINAL)
    head = s3.head_object(Bucket=bucket, Key="r")
    return {
        "bucket": bucket, "key": "r", "etag": head["ETag"], "last_modified": head["LastModified"]
    }


def resolve(conditions: dict, stored: dict) -> dict:
    """Turn symbolic values into real ones for this object."""
    now = datetime.datetime.now(datetime.timezone.utc)
    dates = {
        "LM": stored["last_modified"],
        "PAST": stored["last_modified"] - ONE_DAY,
        "FUTURE": now + ONE_DAY,
    }
    forms = etag_forms(stored["etag"])
    resolved = {}
    for name, value in conditions.items():
        resolved[name] = dates.get(value, forms.get(value, value))
    return resolved


# (id, conditions, expected status)
READ_ROWS = [
    ("if-match-equal", {"IfMatch": "ETAG"}, 200),
    ("if-match-equal-bare", {"IfMatch": "BARE"}, 200),
    ("if-match-in-list", {"IfMatch": "LIST"}, 200),
    ("if-match-differs", {"IfMatch": OTHER_ETAG}, 412),
    ("if-unmodified-since-before-modification", {"IfUnmodifiedSince": "PAST"}, 412),
    ("if-unmodified-since-last-modified-second", {"IfUnmodifiedSince": "LM"}, 200),
    ("if-unmodified-since-future", {"IfUnmodifiedSince": "FUTURE"}, 200),
    ("if-unmodified-since-fails-but-if-match-true",
     {"IfMatch": "ETAG", "IfUnmodifiedSince": "PAST"}, 200),
    ("if-unmodified-since-fails-and-if-match-false",
     {"IfMatch": OTHER_ETAG, "IfUnmodifiedSince": "PAST"}, 412),
    ("if-none-match-equal", {"IfNoneMatch": "ETAG"}, 304),
    ("if-none-match-equal-bare", {"IfNoneMatch": "BARE"}, 304),
    ("if-none-match-in-list", {"IfNoneMatch": "LIST"}, 304),
    ("if-none-match-star", {"IfNoneMatch": "*"}, 304),
    ("if-none-match-differs", {"IfNoneMatch": OTHER_ETAG}, 200),
    ("if-modified-since-last-modified-second", {"IfModifiedSince": "LM"}, 304),
    ("if-modified-since-before-modification", {"IfModifiedSince": "PAST"}, 200),
    ("if-modified-since-future-is-ignored", {"IfModifiedSince": "FUTURE"}, 200),
    ("412-before-304-if-match", {"IfMatch": OTHER_ETAG, "IfNoneMatch": "ETAG"}, 412),
    ("412-before-304-if-unmodified-since",
     {"IfUnmodifiedSince": "PAST", "IfModifiedSince": "LM"}, 412),
    ("if-match-true-then-if-none-match-equal", {"IfMatch": "ETAG", "IfNoneMatch": "ETAG"}, 304),
]


@pytest.mark.parametrize("method", ["get_object", "head_object"])
@pytest.mark.parametrize(
    "conditions, status", [row[1:] for row in READ_ROWS], ids=[row[0] for row in READ_ROWS]
)
def test_conditional_read(s3, s3_error, stored, method, conditions, status):
    call = getattr(s3, method)
    kwargs = resolve(conditions, stored)
    if status == 200:
        response = call(Bucket=stored["bucket"], Key=stored["key"], **kwargs)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert response["ETag"] == stored["etag"]
        if method == "get_object":
            assert response["Body"].read() == ORIGINAL
        return
    if status == 412:
        code = "PreconditionFailed" if method == "get_object" else "412"
    else:
        code = "304"
    with s3_error(status, code) as failure:
        call(Bucket=stored["bucket"], Key=stored["key"], **kwargs)
    if status == 304:
        headers = failure.response["ResponseMetadata"]["HTTPHeaders"]
        assert headers.get("etag") == stored["etag"]
        assert headers.get("last-modified") == stored["last_modified"].strftime(
            "%a, %d %b %Y %H:%M:%S GMT"
        )


@pytest.mark.parametrize("method", ["get_object", "head_object"])
@pytest.mark.parametrize(
    "conditions",
    [
        {"IfMatch": OTHER_ETAG},
        {"IfNoneMatch": "*"},
        {"IfUnmodifiedSince": "PAST"},
        {"IfModifiedSince": "LM"},
    ],
    ids=["if-match", "if-none-match-star", "if-unmodified-since", "if-modified-since"],
)
def test_missing_key_is_404_before_any_condition(s3, s3_error, stored, method, conditions):
    kwargs = resolve(conditions, stored)
    code = "NoSuchKey" if method == "get_object" else "404"
    with s3_error(404, code):
        getattr(s3, method)(Bucket=stored["bucket"], Key="no-such-key", **kwargs)


def test_conditions_follow_an_overwrite(s3, s3_error, stored):
    """An ETag that matched before an overwrite no longer does after it."""
    old_etag = stored["etag"]
    s3.put_object(Bucket=stored["bucket"], Key=stored["key"], Body=REPLACEMENT)
    with s3_error(412, "PreconditionFailed"):
        s3.get_object(Bucket=stored["bucket"], Key=stored["key"], IfMatch=old_etag)
    got = s3.get_object(Bucket=stored["bucket"], Key=stored["key"], IfNoneMatch=old_etag)
    assert got["Body"].read() == REPLACEMENT
