"""RenameObject, row by row against S3-SEMANTICS.md § RenameObject: the eight
conditions, every error row, the client token, the source formats, and what a rename
preserves. Not covered until Stowage has them: versioned buckets (PutBucketVersioning is
501, so no bucket can have versioning) and multipart uploads in progress."""

import base64
import datetime
import hashlib
import threading
import time
import uuid
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from conftest import body_of

OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'
ONE_DAY = datetime.timedelta(days=1)
SOURCE_BODY = b"source object body"
DEST_BODY = b"destination object body, to be replaced"


def head_or_none(s3, bucket, key):
    try:
        return s3.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if error.response["ResponseMetadata"]["HTTPStatusCode"] == 404:
            return None
        raise


def assert_renamed(s3, bucket, source, dest, body=SOURCE_BODY):
    assert head_or_none(s3, bucket, source) is None, f"source {source!r} still exists"
    assert body_of(s3, bucket, dest) == body


def assert_untouched(s3, bucket, source, dest, dest_body):
    assert body_of(s3, bucket, source) == SOURCE_BODY
    assert body_of(s3, bucket, dest) == dest_body


# ---------------------------------------------------------------------------
# Success and what is preserved
# ---------------------------------------------------------------------------


def test_rename_moves_the_object(s3, bucket):
    put = s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    renamed = s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src")
    assert renamed["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_renamed(s3, bucket, "src", "dst")
    assert s3.head_object(Bucket=bucket, Key="dst")["ETag"] == put["ETag"]
    listed = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert listed == ["dst"]


def test_rename_answers_200_with_an_empty_body(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    response = raw.request(
        "PUT", f"/{bucket}/dst", query="renameObject",
        headers={"x-amz-rename-source": "src"},
    )
    assert response.status_code == 200, response.text
    assert response.content == b""
    assert_renamed(s3, bucket, "src", "dst")


def test_rename_preserves_every_attribute(s3, bucket):
    body = b"every attribute survives a rename\n" * 50
    expires = datetime.datetime(2032, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    sha256 = base64.b64encode(hashlib.sha256(body).digest()).decode()
    s3.put_object(
        Bucket=bucket, Key="before/name.txt", Body=body,
        ContentType="text/x-stowage", ContentEncoding="identity",
        ContentDisposition='inline; filename="name.txt"', ContentLanguage="de-CH",
        CacheControl="no-store", Expires=expires,
        Metadata={"origin": "rename-test", "n": "42"},
        StorageClass="STANDARD_IA",
        ChecksumAlgorithm="SHA256", ChecksumSHA256=sha256,
    )
    before = s3.head_object(Bucket=bucket, Key="before/name.txt", ChecksumMode="ENABLED")
    time.sleep(1.2)  # a rename that reset Last-Modified would now show a later second

    s3.rename_object(Bucket=bucket, Key="after/other-name.txt", RenameSource="before/name.txt")

    after = s3.head_object(Bucket=bucket, Key="after/other-name.txt", ChecksumMode="ENABLED")
    for field in (
        "ETag", "ContentLength", "ContentType", "ContentEncoding", "ContentDisposition",
        "ContentLanguage", "CacheControl", "Expires", "Metadata", "StorageClass",
        "ChecksumSHA256", "LastModified",
    ):
        assert after.get(field) == before.get(field), field
    assert after["ChecksumSHA256"] == sha256
    assert after["Metadata"] == {"origin": "rename-test", "n": "42"}
    got = s3.get_object(Bucket=bucket, Key="after/other-name.txt")
    assert got["Body"].read() == body
    listed = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [o["Key"] for o in listed] == ["after/other-name.txt"]
    assert listed[0]["LastModified"] == before["LastModified"]
    assert listed[0]["Size"] == len(body)


def test_rename_overwrites_an_existing_destination(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY, Metadata={"who": "source"})
    s3.put_object(Bucket=bucket, Key="dst", Body=DEST_BODY, Metadata={"who": "dest"})
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src")
    assert_renamed(s3, bucket, "src", "dst")
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"who": "source"}


def test_renamed_key_can_be_renamed_back_and_reused(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a", Body=SOURCE_BODY)
    s3.rename_object(Bucket=bucket, Key="b", RenameSource="a")
    s3.put_object(Bucket=bucket, Key="a", Body=b"a new object under the old name")
    assert body_of(s3, bucket, "a") == b"a new object under the old name"
    s3.rename_object(Bucket=bucket, Key="c", RenameSource="b")
    assert body_of(s3, bucket, "c") == SOURCE_BODY
    assert head_or_none(s3, bucket, "b") is None


def test_rename_is_atomic_for_readers(s3, make_client, bucket):
    """No reader ever sees both keys or neither (bounded: 40 renames)."""
    s3.put_object(Bucket=bucket, Key="ping", Body=SOURCE_BODY)
    reader = make_client()
    stop = threading.Event()
    observations = []

    def read_loop():
        while not stop.is_set():
            listed = reader.list_objects_v2(Bucket=bucket).get("Contents", [])
            observations.append(sorted(o["Key"] for o in listed))

    thread = threading.Thread(target=read_loop)
    thread.start()
    try:
        names = ["ping", "pong"]
        for i in range(40):
            s3.rename_object(Bucket=bucket, Key=names[(i + 1) % 2], RenameSource=names[i % 2])
    finally:
        stop.set()
        thread.join(timeout=60)
    assert observations, "the reader made no observation"
    bad = [o for o in observations if o not in (["ping"], ["pong"])]
    assert bad == [], f"{len(bad)} of {len(observations)} listings saw both or neither"
    assert body_of(s3, bucket, "ping") == SOURCE_BODY


# ---------------------------------------------------------------------------
# Source formats
# ---------------------------------------------------------------------------

ODD_SOURCE_KEY = "dir/ünï cödé+plus&more.txt"


@pytest.mark.parametrize(
    "form",
    ["/KEY", "KEY", "BUCKET/KEY", "ENCODED", "/ENCODED", "BUCKET/ENCODED"],
)
def test_rename_source_formats(s3, bucket, form):
    s3.put_object(Bucket=bucket, Key=ODD_SOURCE_KEY, Body=SOURCE_BODY)
    source = (
        form.replace("BUCKET", bucket)
        .replace("ENCODED", quote(ODD_SOURCE_KEY, safe="/"))
        .replace("KEY", ODD_SOURCE_KEY)
    )
    s3.rename_object(Bucket=bucket, Key="renamed", RenameSource=source)
    assert_renamed(s3, bucket, ODD_SOURCE_KEY, "renamed")


def test_plus_in_source_stays_a_plus(s3, bucket):
    s3.put_object(Bucket=bucket, Key="a+b", Body=SOURCE_BODY)
    s3.put_object(Bucket=bucket, Key="a b", Body=b"the key with a space")
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="a+b")
    assert_renamed(s3, bucket, "a+b", "dst")
    assert body_of(s3, bucket, "a b") == b"the key with a space"


def test_undecodable_source_is_used_raw(s3, bucket):
    s3.put_object(Bucket=bucket, Key="100%zz", Body=SOURCE_BODY)
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="100%zz")
    assert_renamed(s3, bucket, "100%zz", "dst")


def test_literal_key_is_tried_before_bucket_prefix(s3, bucket):
    literal = f"{bucket}/x"
    s3.put_object(Bucket=bucket, Key=literal, Body=SOURCE_BODY)
    s3.put_object(Bucket=bucket, Key="x", Body=b"plain x")
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource=literal)
    assert_renamed(s3, bucket, literal, "dst")
    assert body_of(s3, bucket, "x") == b"plain x"


def test_another_buckets_name_is_part_of_the_key(s3, s3_error, bucket, bucket_name_factory):
    other = bucket_name_factory("other")
    s3.create_bucket(Bucket=other)
    s3.put_object(Bucket=other, Key="k", Body=SOURCE_BODY)
    with s3_error(404, "NoSuchKey"):
        s3.rename_object(Bucket=bucket, Key="dst", RenameSource=f"{other}/k")
    assert body_of(s3, other, "k") == SOURCE_BODY
    assert head_or_none(s3, bucket, "dst") is None


# ---------------------------------------------------------------------------
# The eight conditions, passing and failing
# ---------------------------------------------------------------------------


@pytest.fixture
def pair(s3, bucket):
    """A source and a destination object, and what a client knows about each."""
    s3.put_object(Bucket=bucket, Key="dst", Body=DEST_BODY)
    dst = s3.head_object(Bucket=bucket, Key="dst")
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    src = s3.head_object(Bucket=bucket, Key="src")
    now = datetime.datetime.now(datetime.timezone.utc)
    return {
        "SRC_ETAG": src["ETag"],
        "SRC_BARE": src["ETag"].strip('"'),
        "SRC_LIST": f"{OTHER_ETAG}, {src['ETag']}",
        "DST_ETAG": dst["ETag"],
        "DST_BARE": dst["ETag"].strip('"'),
        "DST_LIST": f"{OTHER_ETAG}, {dst['ETag']}",
        "SRC_LM": src["LastModified"],
        "SRC_PAST": src["LastModified"] - ONE_DAY,
        "DST_LM": dst["LastModified"],
        "DST_PAST": dst["LastModified"] - ONE_DAY,
        "FUTURE": now + ONE_DAY,
    }


# (id, destination exists, conditions, expected: 200 or the 412's Condition)
CONDITION_ROWS = [
    # destination If-Match
    ("dest-if-match-holds", True, {"DestinationIfMatch": "DST_ETAG"}, 200),
    ("dest-if-match-holds-bare", True, {"DestinationIfMatch": "DST_BARE"}, 200),
    ("dest-if-match-holds-in-list", True, {"DestinationIfMatch": "DST_LIST"}, 200),
    ("dest-if-match-fails", True, {"DestinationIfMatch": OTHER_ETAG}, "If-Match"),
    ("dest-if-match-dest-absent", False, {"DestinationIfMatch": OTHER_ETAG}, "If-Match"),
    # destination If-None-Match: *
    ("dest-if-none-match-holds", False, {"DestinationIfNoneMatch": "*"}, 200),
    ("dest-if-none-match-fails", True, {"DestinationIfNoneMatch": "*"}, "If-None-Match"),
    # destination If-Modified-Since
    ("dest-if-modified-since-holds", True, {"DestinationIfModifiedSince": "DST_PAST"}, 200),
    ("dest-if-modified-since-fails", True, {"DestinationIfModifiedSince": "DST_LM"},
     "If-Modified-Since"),
    # destination If-Unmodified-Since
    ("dest-if-unmodified-since-holds", True, {"DestinationIfUnmodifiedSince": "DST_LM"}, 200),
    ("dest-if-unmodified-since-holds-future", True,
     {"DestinationIfUnmodifiedSince": "FUTURE"}, 200),
    ("dest-if-unmodified-since-fails", True, {"DestinationIfUnmodifiedSince": "DST_PAST"},
     "If-Unmodified-Since"),
    # x-amz-rename-source-if-match
    ("source-if-match-holds", True, {"SourceIfMatch": "SRC_ETAG"}, 200),
    ("source-if-match-holds-bare", False, {"SourceIfMatch": "SRC_BARE"}, 200),
    ("source-if-match-holds-in-list", False, {"SourceIfMatch": "SRC_LIST"}, 200),
    ("source-if-match-fails", True, {"SourceIfMatch": OTHER_ETAG}, "If-Match"),
    # x-amz-rename-source-if-none-match
    ("source-if-none-match-holds", True, {"SourceIfNoneMatch": OTHER_ETAG}, 200),
    ("source-if-none-match-fails", True, {"SourceIfNoneMatch": "SRC_ETAG"}, "If-None-Match"),
    ("source-if-none-match-star-always-fails", False, {"SourceIfNoneMatch": "*"},
     "If-None-Match"),
    # x-amz-rename-source-if-modified-since
    ("source-if-modified-since-holds", True, {"SourceIfModifiedSince": "SRC_PAST"}, 200),
    ("source-if-modified-since-fails", True, {"SourceIfModifiedSince": "SRC_LM"},
     "If-Modified-Since"),
    # x-amz-rename-source-if-unmodified-since
    ("source-if-unmodified-since-holds", True, {"SourceIfUnmodifiedSince": "SRC_LM"}, 200),
    ("source-if-unmodified-since-fails", True, {"SourceIfUnmodifiedSince": "SRC_PAST"},
     "If-Unmodified-Since"),
    # all eight holding at once
    ("all-source-and-dest-conditions-hold", True, {
        "DestinationIfMatch": "DST_ETAG",
        "DestinationIfModifiedSince": "DST_PAST",
        "DestinationIfUnmodifiedSince": "DST_LM",
        "SourceIfMatch": "SRC_ETAG",
        "SourceIfNoneMatch": OTHER_ETAG,
        "SourceIfModifiedSince": "SRC_PAST",
        "SourceIfUnmodifiedSince": "SRC_LM",
    }, 200),
    # evaluation order
    ("if-match-reported-before-if-none-match", True,
     {"DestinationIfMatch": OTHER_ETAG, "DestinationIfNoneMatch": "*"}, "If-Match"),
    ("if-match-reported-before-if-none-match-dest-absent", False,
     {"DestinationIfMatch": OTHER_ETAG, "DestinationIfNoneMatch": "*"}, "If-Match"),
    ("dest-if-unmodified-since-before-if-none-match", True,
     {"DestinationIfUnmodifiedSince": "DST_PAST", "DestinationIfNoneMatch": "*"},
     "If-Unmodified-Since"),
    ("dest-if-none-match-before-if-modified-since", True,
     {"DestinationIfNoneMatch": "*", "DestinationIfModifiedSince": "DST_LM"}, "If-None-Match"),
    ("source-conditions-before-dest-conditions", True,
     {"SourceIfNoneMatch": "*", "DestinationIfMatch": OTHER_ETAG}, "If-None-Match"),
]


@pytest.mark.parametrize(
    "dest_exists, conditions, expected",
    [row[1:] for row in CONDITION_ROWS],
    ids=[row[0] for row in CONDITION_ROWS],
)
def test_rename_condition(s3, s3_error, bucket, pair, dest_exists, conditions, expected):
    if not dest_exists:
        s3.delete_object(Bucket=bucket, Key="dst")
    kwargs = {name: pair.get(value, value) for name, value in conditions.items()}
    dest_before = DEST_BODY if dest_exists else None
    if expected == 200:
        renamed = s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", **kwargs)
        assert renamed["ResponseMetadata"]["HTTPStatusCode"] == 200
        assert_renamed(s3, bucket, "src", "dst")
    else:
        with s3_error(412, "PreconditionFailed", condition=expected):
            s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", **kwargs)
        assert_untouched(s3, bucket, "src", "dst", dest_before)


def test_missing_source_is_404_before_source_conditions(s3, s3_error, bucket):
    with s3_error(404, "NoSuchKey"):
        s3.rename_object(
            Bucket=bucket, Key="dst", RenameSource="absent",
            SourceIfMatch=OTHER_ETAG, SourceIfNoneMatch="*",
        )
    assert head_or_none(s3, bucket, "dst") is None


# ---------------------------------------------------------------------------
# Error rows
# ---------------------------------------------------------------------------


def test_missing_rename_source_header_is_invalid_argument(s3, raw, error_xml, bucket):
    response = raw.request("PUT", f"/{bucket}/dst", query="renameObject")
    assert response.status_code == 400, response.text
    assert error_xml(response.content)["Code"] == "InvalidArgument"
    assert head_or_none(s3, bucket, "dst") is None


def test_empty_rename_source_header_is_invalid_argument(s3, raw, error_xml, bucket):
    s3.put_object(Bucket=bucket, Key="dst", Body=DEST_BODY)
    response = raw.request(
        "PUT", f"/{bucket}/dst", query="renameObject", headers={"x-amz-rename-source": ""}
    )
    assert response.status_code == 400, response.text
    assert error_xml(response.content)["Code"] == "InvalidArgument"
    assert body_of(s3, bucket, "dst") == DEST_BODY


@pytest.mark.parametrize(
    "token",
    ["t" * 65, "has space", "tökén"],
    ids=["65-chars", "space", "non-ascii"],
)
def test_malformed_client_token_is_invalid_argument(s3, s3_error, bucket, token):
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    with s3_error(400, "InvalidArgument"):
        s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
    assert_untouched(s3, bucket, "src", "dst", None)


def test_client_token_with_control_character_is_refused(s3, bucket):
    """A DEL (0x7f) in a header value is refused by the HTTP parser itself (400, connection
    closed) before any S3 code sees it; what matters is that nothing is renamed."""
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    with pytest.raises(ClientError) as failure:
        s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken="del\x7fchar")
    assert failure.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert_untouched(s3, bucket, "src", "dst", None)


@pytest.mark.parametrize(
    "token",
    ["t" * 64, "!", "~" * 10, "".join(chr(c) for c in range(33, 97))],
    ids=["64-chars", "one-char", "tildes", "every-printable-kind"],
)
def test_well_formed_client_token_edges_are_accepted(s3, bucket, token):
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
    assert_renamed(s3, bucket, "src", "dst")


def test_destination_key_too_long(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    with s3_error(400, "KeyTooLongError"):
        s3.rename_object(Bucket=bucket, Key="d" * 1025, RenameSource="src")
    assert body_of(s3, bucket, "src") == SOURCE_BODY


def test_source_key_too_long(s3, s3_error, bucket):
    with s3_error(400, "KeyTooLongError"):
        s3.rename_object(Bucket=bucket, Key="dst", RenameSource="s" * 1025)
    assert head_or_none(s3, bucket, "dst") is None


def test_keys_of_1024_bytes_rename(s3, bucket):
    source, dest = "s" * 1024, "d" * 1024
    s3.put_object(Bucket=bucket, Key=source, Body=SOURCE_BODY)
    s3.rename_object(Bucket=bucket, Key=dest, RenameSource=source)
    assert_renamed(s3, bucket, source, dest)


def test_destination_ending_in_slash_is_invalid_request(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    with s3_error(400, "InvalidRequest"):
        s3.rename_object(Bucket=bucket, Key="folder/", RenameSource="src")
    assert body_of(s3, bucket, "src") == SOURCE_BODY
    assert head_or_none(s3, bucket, "folder/") is None


@pytest.mark.parametrize("source_form", ["same", "/same", "BUCKET/same"])
def test_source_equal_to_destination_is_invalid_request(s3, s3_error, bucket, source_form):
    s3.put_object(Bucket=bucket, Key="same", Body=SOURCE_BODY)
    with s3_error(400, "InvalidRequest"):
        s3.rename_object(
            Bucket=bucket, Key="same", RenameSource=source_form.replace("BUCKET", bucket)
        )
    assert body_of(s3, bucket, "same") == SOURCE_BODY


def test_missing_bucket_is_no_such_bucket(s3, s3_error, bucket_name_factory):
    with s3_error(404, "NoSuchBucket"):
        s3.rename_object(Bucket=bucket_name_factory("missing"), Key="dst", RenameSource="src")


def test_missing_source_is_no_such_key(s3, s3_error, bucket):
    with s3_error(404, "NoSuchKey"):
        s3.rename_object(Bucket=bucket, Key="dst", RenameSource="absent")
    assert head_or_none(s3, bucket, "dst") is None


def test_dest_if_none_match_other_than_star_is_invalid_request(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    with s3_error(400, "InvalidRequest"):
        s3.rename_object(
            Bucket=bucket, Key="dst", RenameSource="src", DestinationIfNoneMatch=OTHER_ETAG
        )
    assert_untouched(s3, bucket, "src", "dst", None)


def test_anonymous_rename_is_access_denied(s3, raw, error_xml, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    response = raw.request(
        "PUT", f"/{bucket}/dst", query="renameObject",
        headers={"x-amz-rename-source": "src"}, sign=False,
    )
    assert response.status_code == 403
    assert error_xml(response.content)["Code"] == "AccessDenied"
    assert_untouched(s3, bucket, "src", "dst", None)


# Evaluation order: headers and token → key rules → source ≠ destination → bucket.
def test_malformed_token_is_reported_before_missing_bucket(s3, s3_error, bucket_name_factory):
    with s3_error(400, "InvalidArgument"):
        s3.rename_object(
            Bucket=bucket_name_factory("missing"), Key="dst", RenameSource="src",
            ClientToken="x" * 65,
        )


def test_key_rules_are_reported_before_missing_bucket(s3, s3_error, bucket_name_factory):
    missing = bucket_name_factory("missing")
    with s3_error(400, "KeyTooLongError"):
        s3.rename_object(Bucket=missing, Key="d" * 1025, RenameSource="src")
    with s3_error(400, "InvalidRequest"):
        s3.rename_object(Bucket=missing, Key="same", RenameSource="same")


def test_plain_put_carrying_rename_source_never_creates_an_empty_object(s3, raw, bucket):
    """A server that ignored ?renameObject would store an empty object; and a PUT
    without ?renameObject that carries x-amz-rename-source must not either."""
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    response = raw.request("PUT", f"/{bucket}/dst", headers={"x-amz-rename-source": "src"})
    dst = body_of(s3, bucket, "dst")
    if response.status_code == 200:
        # Treated as a rename: then it must be a real one.
        assert dst == SOURCE_BODY
        assert head_or_none(s3, bucket, "src") is None
    else:
        assert 400 <= response.status_code < 600
        assert dst is None
        assert body_of(s3, bucket, "src") == SOURCE_BODY


def test_rename_through_virtual_hosted_style(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="vsrc", Body=SOURCE_BODY)
    response = raw.request(
        "PUT", "/vdst", query="renameObject",
        headers={"x-amz-rename-source": "vsrc"}, virtual_host=bucket,
    )
    assert response.status_code == 200, response.text
    assert_renamed(s3, bucket, "vsrc", "vdst")


# ---------------------------------------------------------------------------
# Client token (idempotency)
# ---------------------------------------------------------------------------


def test_same_token_replay_after_success_is_200_and_does_nothing(s3, bucket):
    token = str(uuid.uuid4())
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
    assert_renamed(s3, bucket, "src", "dst")
    # A new object under the old source name: a replay that ran again would move it.
    s3.put_object(Bucket=bucket, Key="src", Body=b"newer object, not to be moved")
    replay = s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
    assert replay["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert body_of(s3, bucket, "dst") == SOURCE_BODY
    assert body_of(s3, bucket, "src") == b"newer object, not to be moved"


def test_same_token_replay_when_source_is_gone_is_200(s3, bucket):
    token = str(uuid.uuid4())
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
    for _ in range(2):
        replay = s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
        assert replay["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert_renamed(s3, bucket, "src", "dst")


@pytest.mark.parametrize("change", ["destination", "source"])
def test_same_token_different_parameters_is_idempotency_mismatch(s3, bucket, change):
    token = str(uuid.uuid4())
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    s3.put_object(Bucket=bucket, Key="src2", Body=b"second source")
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
    dest, source = ("dst-other", "src") if change == "destination" else ("dst", "src2")
    with pytest.raises(s3.exceptions.IdempotencyParameterMismatch) as caught:
        s3.rename_object(Bucket=bucket, Key=dest, RenameSource=source, ClientToken=token)
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert error["Error"]["Code"] == "IdempotencyParameterMismatch"
    assert body_of(s3, bucket, "dst") == SOURCE_BODY
    assert body_of(s3, bucket, "src2") == b"second source"
    assert head_or_none(s3, bucket, "dst-other") is None


def test_new_token_after_source_is_gone_is_no_such_key(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=str(uuid.uuid4()))
    with s3_error(404, "NoSuchKey"):
        s3.rename_object(
            Bucket=bucket, Key="dst", RenameSource="src", ClientToken=str(uuid.uuid4())
        )
    assert body_of(s3, bucket, "dst") == SOURCE_BODY


def test_failed_rename_does_not_consume_the_token(s3, s3_error, bucket):
    token = str(uuid.uuid4())
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    with s3_error(412, "PreconditionFailed", condition="If-Match"):
        s3.rename_object(
            Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token,
            SourceIfMatch=OTHER_ETAG,
        )
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
    assert_renamed(s3, bucket, "src", "dst")


def test_token_of_a_404_can_be_used_once_the_source_exists(s3, s3_error, bucket):
    token = str(uuid.uuid4())
    with s3_error(404, "NoSuchKey"):
        s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
    s3.put_object(Bucket=bucket, Key="src", Body=SOURCE_BODY)
    s3.rename_object(Bucket=bucket, Key="dst", RenameSource="src", ClientToken=token)
    assert_renamed(s3, bucket, "src", "dst")


def test_boto3_generates_a_fresh_token_per_call(s3, bucket):
    """Two renames without an explicit token are two different operations."""
    s3.put_object(Bucket=bucket, Key="one", Body=SOURCE_BODY)
    s3.rename_object(Bucket=bucket, Key="two", RenameSource="one")
    s3.rename_object(Bucket=bucket, Key="three", RenameSource="two")
    assert_renamed(s3, bucket, "two", "three")
    assert head_or_none(s3, bucket, "one") is None
