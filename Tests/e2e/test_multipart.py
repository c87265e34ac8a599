"""Multipart uploads, against issue 4 and S3-SEMANTICS.md: boto3's transfer manager, the
aws CLI, s3cmd and rclone going multipart on their own; the low-level API
(Create/UploadPart/Complete/Abort/ListParts/ListMultipartUploads) and every error it has;
GET/HEAD by part number; conditional Complete (412/404/409/501); UploadPartCopy; and
Complete writing no object data (the server's segment files are untouched by it)."""

import hashlib
import os
import re
import time

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from conftest import body_of, quoted_md5

MiB = 1024 * 1024
OTHER_ETAG = '"0123456789abcdef0123456789abcdef"'



def multipart_etag(parts) -> str:
    """S3's multipart ETag: MD5 of the concatenated binary MD5s of the parts, then -N."""
    parts = list(parts)
    digests = b"".join(hashlib.md5(p).digest() for p in parts)
    return f'"{hashlib.md5(digests).hexdigest()}-{len(parts)}"'


def file_chunks(path, size):
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def sha256_file(path) -> str:
    digest = hashlib.sha256()
    for chunk in file_chunks(path, 4 * MiB):
        digest.update(chunk)
    return digest.hexdigest()


def write_random_file(path, size) -> None:
    with open(path, "wb") as f:
        remaining = size
        while remaining:
            n = min(remaining, 4 * MiB)
            f.write(os.urandom(n))
            remaining -= n



def upload_parts(s3, bucket, key, parts, upload_id=None, **create):
    """Create (unless given) an upload and upload `parts` as 1..N; returns (id, part list)."""
    if upload_id is None:
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    listed = []
    for number, data in enumerate(parts, start=1):
        answer = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        assert answer["ETag"] == quoted_md5(data), f"part {number}"
        listed.append({"PartNumber": number, "ETag": answer["ETag"]})
    return upload_id, listed


def complete(s3, bucket, key, upload_id, parts, **kwargs):
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}, **kwargs
    )


def uploads_in(s3, bucket, **kwargs):
    listed = s3.list_multipart_uploads(Bucket=bucket, **kwargs)
    return [(u["Key"], u["UploadId"]) for u in listed.get("Uploads", [])]


# ---------------------------------------------------------------------------
# Real clients going multipart on their own
# ---------------------------------------------------------------------------


def test_boto3_transfer_manager_100_mib_in_8_mib_parts(s3, bucket, tmp_path):
    size, chunk = 100 * MiB, 8 * MiB
    source = tmp_path / "large.bin"
    write_random_file(source, size)
    config = TransferConfig(
        multipart_threshold=chunk, multipart_chunksize=chunk, max_concurrency=4, use_threads=True
    )
    s3.upload_file(str(source), bucket, "big/object.bin", Config=config)

    parts = list(file_chunks(source, chunk))
    assert len(parts) == 13  # 12 × 8 MiB + 4 MiB
    expected_etag = multipart_etag(parts)
    head = s3.head_object(Bucket=bucket, Key="big/object.bin")
    assert head["ContentLength"] == size
    assert head["ETag"] == expected_etag
    assert uploads_in(s3, bucket) == []

    # HEAD and GET by part number: that part's bytes, the part count, the whole ETag.
    first = s3.head_object(Bucket=bucket, Key="big/object.bin", PartNumber=1)
    assert first["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert first["PartsCount"] == 13
    assert first["ContentLength"] == chunk
    assert first["ETag"] == expected_etag
    seventh = s3.get_object(Bucket=bucket, Key="big/object.bin", PartNumber=7)
    assert seventh["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert seventh["PartsCount"] == 13
    assert seventh["ContentRange"] == f"bytes {6 * chunk}-{7 * chunk - 1}/{size}"
    assert seventh["Body"].read() == parts[6]
    last = s3.get_object(Bucket=bucket, Key="big/object.bin", PartNumber=13)
    assert last["ContentLength"] == 4 * MiB
    assert last["ContentRange"] == f"bytes {12 * chunk}-{size - 1}/{size}"
    assert last["Body"].read() == parts[12]
    with pytest.raises(ClientError) as beyond:
        s3.get_object(Bucket=bucket, Key="big/object.bin", PartNumber=14)
    assert beyond.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416
    assert beyond.value.response["Error"]["Code"] == "InvalidPartNumber"

    target = tmp_path / "downloaded.bin"
    s3.download_file(bucket, "big/object.bin", str(target), Config=config)
    assert target.stat().st_size == size
    assert sha256_file(target) == sha256_file(source)


@pytest.fixture
def aws_cli_default_multipart(aws_cli, tmp_path):
    """The aws CLI with its default transfer settings (8 MiB threshold and chunks)."""
    config = tmp_path / "aws-default-transfers.cfg"
    config.write_text("[default]\nregion = us-east-1\ns3 =\n    addressing_style = path\n")
    env = dict(aws_cli.env, AWS_CONFIG_FILE=str(config))
    return type(aws_cli)(aws_cli.argv_prefix, env, aws_cli.cwd)


def test_aws_s3_cp_goes_multipart_and_back(aws_cli_default_multipart, s3, bucket, tmp_path):
    aws = aws_cli_default_multipart
    size = 40 * MiB
    local = tmp_path / "forty.bin"
    write_random_file(local, size)
    target = f"s3://{bucket}/cli/forty.bin"

    up = aws("s3", "cp", local, target)
    assert "upload: " in up.stdout and up.stdout.rstrip().endswith(f" to {target}"), up.stdout
    head = s3.head_object(Bucket=bucket, Key="cli/forty.bin")
    assert head["ContentLength"] == size
    assert head["ETag"] == multipart_etag(file_chunks(local, 8 * MiB))  # "-5": it went multipart
    assert s3.head_object(Bucket=bucket, Key="cli/forty.bin", PartNumber=1)["PartsCount"] == 5

    listing = aws("s3", "ls", f"s3://{bucket}/cli/")
    assert re.search(rf"^\S+ \S+\s+{size} forty\.bin$", listing.stdout, re.M), listing.stdout

    # s3 → s3 above the threshold: the CLI copies with UploadPartCopy of ranges.
    copied = f"s3://{bucket}/cli/forty-copy.bin"
    aws("s3", "cp", target, copied)
    copy_head = s3.head_object(Bucket=bucket, Key="cli/forty-copy.bin")
    assert copy_head["ContentLength"] == size
    assert copy_head["ETag"].endswith('-5"'), copy_head["ETag"]

    for remote, name in ((target, "back.bin"), (copied, "back-copy.bin")):
        back = tmp_path / name
        aws("s3", "cp", remote, back)  # ranged GETs in 8 MiB chunks
        assert back.stat().st_size == size
        assert sha256_file(back) == sha256_file(local)
    assert uploads_in(s3, bucket) == []


def test_s3cmd_multipart_put_and_get(s3cmd, s3, bucket, tmp_path):
    size = 12 * MiB
    local = tmp_path / "twelve.bin"
    write_random_file(local, size)
    target = f"s3://{bucket}/s3cmd/twelve.bin"
    put = s3cmd("put", "--multipart-chunk-size-mb=5", local, target)
    assert f"-> '{target}'" in put.stdout, put.stdout
    head = s3.head_object(Bucket=bucket, Key="s3cmd/twelve.bin")
    assert head["ContentLength"] == size
    assert head["ETag"] == multipart_etag(file_chunks(local, 5 * MiB))  # "-3"
    back = tmp_path / "back.bin"
    s3cmd("get", target, back)
    assert sha256_file(back) == sha256_file(local)


def test_rclone_multipart_copy_and_check(rclone, s3, bucket, tmp_path):
    size = 12 * MiB
    local = tmp_path / "up" / "twelve.bin"
    local.parent.mkdir()
    write_random_file(local, size)
    flags = ["--s3-upload-cutoff", "5M", "--s3-chunk-size", "5M"]
    rclone("copy", *flags, local.parent, f"stowage:{bucket}/rc")
    head = s3.head_object(Bucket=bucket, Key="rc/twelve.bin")
    assert head["ContentLength"] == size
    assert head["ETag"] == multipart_etag(file_chunks(local, 5 * MiB))  # "-3"
    rclone("check", local.parent, f"stowage:{bucket}/rc")
    down = tmp_path / "down"
    rclone("copy", f"stowage:{bucket}/rc", down)
    assert sha256_file(down / "twelve.bin") == sha256_file(local)


# ---------------------------------------------------------------------------
# The low-level API
# ---------------------------------------------------------------------------


def test_low_level_upload_list_complete(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), b"the short last part"]
    created = s3.create_multipart_upload(
        Bucket=bucket, Key="ll/object.bin", ContentType="application/x-stowage",
        CacheControl="no-cache", Metadata={"origin": "multipart-test"}, StorageClass="STANDARD_IA",
    )
    assert created["Bucket"] == bucket and created["Key"] == "ll/object.bin"
    upload_id = created["UploadId"]
    assert upload_id
    assert uploads_in(s3, bucket) == [("ll/object.bin", upload_id)]

    upload_id, listed = upload_parts(s3, bucket, "ll/object.bin", parts, upload_id=upload_id)
    shown = s3.list_parts(Bucket=bucket, Key="ll/object.bin", UploadId=upload_id)
    assert shown["UploadId"] == upload_id
    assert shown["IsTruncated"] is False
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in shown["Parts"]] == [
        (n, quoted_md5(data), len(data)) for n, data in enumerate(parts, start=1)
    ]

    done = complete(s3, bucket, "ll/object.bin", upload_id, listed)
    assert done["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert done["Bucket"] == bucket and done["Key"] == "ll/object.bin"
    assert done["ETag"] == multipart_etag(parts)

    head = s3.head_object(Bucket=bucket, Key="ll/object.bin")
    assert head["ETag"] == multipart_etag(parts)
    assert head["ContentLength"] == sum(map(len, parts))
    assert head["ContentType"] == "application/x-stowage"
    assert head["CacheControl"] == "no-cache"
    assert head["Metadata"] == {"origin": "multipart-test"}
    assert head["StorageClass"] == "STANDARD_IA"
    assert body_of(s3, bucket, "ll/object.bin") == b"".join(parts)
    third = s3.get_object(Bucket=bucket, Key="ll/object.bin", PartNumber=3)
    assert third["Body"].read() == parts[2]
    assert third["PartsCount"] == 3
    listed_objects = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [(o["Key"], o["ETag"], o["Size"]) for o in listed_objects] == [
        ("ll/object.bin", multipart_etag(parts), sum(map(len, parts)))
    ]
    assert uploads_in(s3, bucket) == []


def test_list_parts_pages_with_markers(s3, bucket):
    parts = [f"part {n}".encode() for n in range(1, 6)]
    upload_id, _ = upload_parts(s3, bucket, "paged", parts)
    page = s3.list_parts(Bucket=bucket, Key="paged", UploadId=upload_id, MaxParts=2)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2]
    assert page["IsTruncated"] is True
    assert page["NextPartNumberMarker"] == 2
    page = s3.list_parts(
        Bucket=bucket, Key="paged", UploadId=upload_id, MaxParts=2, PartNumberMarker=2
    )
    assert [p["PartNumber"] for p in page["Parts"]] == [3, 4]
    assert page["IsTruncated"] is True
    page = s3.list_parts(
        Bucket=bucket, Key="paged", UploadId=upload_id, MaxParts=2, PartNumberMarker=4
    )
    assert [p["PartNumber"] for p in page["Parts"]] == [5]
    assert page["IsTruncated"] is False
    s3.abort_multipart_upload(Bucket=bucket, Key="paged", UploadId=upload_id)


def test_reuploading_a_part_replaces_it(s3, s3_error, bucket):
    first, second, tail = os.urandom(5 * MiB), os.urandom(6 * MiB), b"tail"
    upload_id, _ = upload_parts(s3, bucket, "re", [first, tail])
    replaced = s3.upload_part(
        Bucket=bucket, Key="re", UploadId=upload_id, PartNumber=1, Body=second
    )
    assert replaced["ETag"] == quoted_md5(second)
    shown = s3.list_parts(Bucket=bucket, Key="re", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in shown] == [
        (1, quoted_md5(second), len(second)), (2, quoted_md5(tail), len(tail)),
    ]
    # The replaced part's ETag no longer names a part.
    with s3_error(400, "InvalidPart"):
        complete(s3, bucket, "re", upload_id, [
            {"PartNumber": 1, "ETag": quoted_md5(first)}, {"PartNumber": 2, "ETag": quoted_md5(tail)},
        ])
    done = complete(s3, bucket, "re", upload_id, [
        {"PartNumber": 1, "ETag": quoted_md5(second)}, {"PartNumber": 2, "ETag": quoted_md5(tail)},
    ])
    assert done["ETag"] == multipart_etag([second, tail])
    assert body_of(s3, bucket, "re") == second + tail


def test_parts_left_out_of_complete_are_not_in_the_object(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(5 * MiB), b"last"]
    upload_id, listed = upload_parts(s3, bucket, "gaps", parts)
    chosen = [listed[0], listed[2], listed[3]]  # part 2 left out; numbers 1, 3, 4
    done = complete(s3, bucket, "gaps", upload_id, chosen)
    expected = [parts[0], parts[2], parts[3]]
    assert done["ETag"] == multipart_etag(expected)
    assert body_of(s3, bucket, "gaps") == b"".join(expected)
    head = s3.head_object(Bucket=bucket, Key="gaps", PartNumber=2)
    assert head["PartsCount"] == 3
    assert head["ContentLength"] == len(parts[2])  # the object's part 2 is upload part 3
    assert s3.get_object(Bucket=bucket, Key="gaps", PartNumber=2)["Body"].read() == parts[2]


def test_single_small_part_is_a_valid_upload(s3, bucket):
    upload_id, listed = upload_parts(s3, bucket, "one", [b"just one small part"])
    done = complete(s3, bucket, "one", upload_id, listed)
    assert done["ETag"] == multipart_etag([b"just one small part"])
    assert body_of(s3, bucket, "one") == b"just one small part"


def test_abort_discards_the_upload(s3, s3_error, bucket):
    upload_id, listed = upload_parts(s3, bucket, "aborted", [b"some bytes"])
    other, _ = upload_parts(s3, bucket, "aborted", [b"another upload, same key"])
    aborted = s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload_id)
    assert aborted["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert uploads_in(s3, bucket) == [("aborted", other)]
    with s3_error(404, "NoSuchUpload"):
        s3.list_parts(Bucket=bucket, Key="aborted", UploadId=upload_id)
    with s3_error(404, "NoSuchUpload"):
        s3.upload_part(Bucket=bucket, Key="aborted", UploadId=upload_id, PartNumber=2, Body=b"x")
    with s3_error(404, "NoSuchUpload"):
        complete(s3, bucket, "aborted", upload_id, listed)
    with s3_error(404, "NoSuchUpload"):
        s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=upload_id)
    assert body_of(s3, bucket, "aborted") is None
    s3.abort_multipart_upload(Bucket=bucket, Key="aborted", UploadId=other)
    assert uploads_in(s3, bucket) == []


def test_no_such_upload_after_complete(s3, s3_error, bucket):
    upload_id, listed = upload_parts(s3, bucket, "done", [b"complete me"])
    complete(s3, bucket, "done", upload_id, listed)
    with s3_error(404, "NoSuchUpload"):
        s3.upload_part(Bucket=bucket, Key="done", UploadId=upload_id, PartNumber=1, Body=b"late")
    with s3_error(404, "NoSuchUpload"):
        s3.list_parts(Bucket=bucket, Key="done", UploadId=upload_id)
    with s3_error(404, "NoSuchUpload"):
        s3.abort_multipart_upload(Bucket=bucket, Key="done", UploadId=upload_id)
    assert body_of(s3, bucket, "done") == b"complete me"


@pytest.mark.parametrize("upload_id", ["0" * 32, "not-an-upload-id", "WRONGKEY"])
def test_no_such_upload_for_unknown_ids(s3, s3_error, bucket, upload_id):
    if upload_id == "WRONGKEY":  # a real upload id, but of another key
        upload_id = s3.create_multipart_upload(Bucket=bucket, Key="other-key")["UploadId"]
    with s3_error(404, "NoSuchUpload"):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1, Body=b"x")
    with s3_error(404, "NoSuchUpload"):
        s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)
    with s3_error(404, "NoSuchUpload"):
        complete(s3, bucket, "k", upload_id, [{"PartNumber": 1, "ETag": OTHER_ETAG}])
    with s3_error(404, "NoSuchUpload"):
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)


@pytest.mark.parametrize("case", ["unknown-part-number", "wrong-etag"])
def test_invalid_part(s3, s3_error, bucket, case):
    upload_id, listed = upload_parts(s3, bucket, "k", [os.urandom(5 * MiB), b"end"])
    if case == "unknown-part-number":
        listed[1] = {"PartNumber": 3, "ETag": quoted_md5(b"end")}  # part 3 was never uploaded
    else:
        listed[1]["ETag"] = OTHER_ETAG
    with s3_error(400, "InvalidPart"):
        complete(s3, bucket, "k", upload_id, listed)
    assert body_of(s3, bucket, "k") is None


@pytest.mark.parametrize("order", [[2, 1], [1, 1]], ids=["descending", "duplicate"])
def test_invalid_part_order(s3, s3_error, bucket, order):
    upload_id, listed = upload_parts(s3, bucket, "k", [os.urandom(5 * MiB), os.urandom(5 * MiB)])
    with s3_error(400, "InvalidPartOrder"):
        complete(s3, bucket, "k", upload_id, [listed[n - 1] for n in order])
    assert body_of(s3, bucket, "k") is None


def test_entity_too_small(s3, s3_error, bucket):
    small = [os.urandom(5 * MiB - 1), b"last"]  # one byte under the 5 MiB minimum
    upload_id, listed = upload_parts(s3, bucket, "k", small)
    with s3_error(400, "EntityTooSmall"):
        complete(s3, bucket, "k", upload_id, listed)
    assert body_of(s3, bucket, "k") is None
    # Exactly 5 MiB is enough.
    s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                   Body=small[0] + b"!")
    listed[0]["ETag"] = quoted_md5(small[0] + b"!")
    complete(s3, bucket, "k", upload_id, listed)
    assert body_of(s3, bucket, "k") == small[0] + b"!" + b"last"


@pytest.mark.parametrize(
    "body",
    [
        b"this is not XML at all",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
        b"<CompleteMultipartUpload></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part></CompleteMultipartUpload>",
        b"",
    ],
    ids=["garbage", "truncated", "no-parts", "part-without-etag", "empty-body"],
)
def test_malformed_complete_body(s3, raw, error_xml, bucket, body):
    upload_id, _ = upload_parts(s3, bucket, "k", [b"one part"])
    response = raw.request("POST", f"/{bucket}/k", query=f"uploadId={upload_id}", body=body)
    assert response.status_code == 400, response.text
    assert error_xml(response.content)["Code"] == "MalformedXML"
    assert body_of(s3, bucket, "k") is None


def test_empty_part_list_through_boto3_is_malformed(s3, s3_error, bucket):
    upload_id, _ = upload_parts(s3, bucket, "k", [b"one part"])
    with s3_error(400, "MalformedXML"):
        complete(s3, bucket, "k", upload_id, [])


@pytest.mark.parametrize("number", [0, 10001])
def test_part_number_out_of_range(s3, s3_error, bucket, number):
    source = s3.put_object(Bucket=bucket, Key="src", Body=b"copy source")
    assert source["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with s3_error(400, "InvalidArgument"):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number, Body=b"x")
    with s3_error(400, "InvalidArgument"):
        s3.upload_part_copy(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=number,
                            CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id).get("Parts", []) == []
    # 1 and 10000 are the bounds.
    for good in (1, 10000):
        s3.upload_part(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=good, Body=b"ok")
    shown = s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)["Parts"]
    assert [p["PartNumber"] for p in shown] == [1, 10000]


def test_upload_in_progress_is_not_an_object(s3, s3_error, bucket):
    upload_id, listed = upload_parts(s3, bucket, "pending", [b"not yet an object"])
    with s3_error(404, "404"):
        s3.head_object(Bucket=bucket, Key="pending")
    with s3_error(404, "NoSuchKey"):
        s3.get_object(Bucket=bucket, Key="pending")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    with s3_error(404, "NoSuchKey"):
        s3.rename_object(Bucket=bucket, Key="renamed", RenameSource="pending")
    with s3_error(404, "NoSuchKey"):
        s3.copy_object(Bucket=bucket, Key="copied", CopySource={"Bucket": bucket, "Key": "pending"})
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    complete(s3, bucket, "pending", upload_id, listed)
    assert body_of(s3, bucket, "pending") == b"not yet an object"


def test_list_multipart_uploads_prefix_delimiter_markers(s3, bucket):
    keys = ["a/1", "a/2", "b/1", "c", "d/x/1"]
    ids = {}
    for key in keys:
        ids[key] = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    all_listed = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in all_listed["Uploads"]] == [
        (k, ids[k]) for k in keys
    ]
    assert all_listed["IsTruncated"] is False

    assert uploads_in(s3, bucket, Prefix="a/") == [("a/1", ids["a/1"]), ("a/2", ids["a/2"])]

    by_delimiter = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [(u["Key"], u["UploadId"]) for u in by_delimiter["Uploads"]] == [("c", ids["c"])]
    assert [p["Prefix"] for p in by_delimiter["CommonPrefixes"]] == ["a/", "b/", "d/"]

    nested = s3.list_multipart_uploads(Bucket=bucket, Prefix="d/", Delimiter="/")
    assert nested.get("Uploads", []) == []
    assert [p["Prefix"] for p in nested["CommonPrefixes"]] == ["d/x/"]

    assert uploads_in(s3, bucket, KeyMarker="b/1") == [("c", ids["c"]), ("d/x/1", ids["d/x/1"])]

    # Pages of two, following NextKeyMarker / NextUploadIdMarker.
    seen, markers = [], {}
    for _ in range(10):
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **markers)
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert seen == [(k, ids[k]) for k in keys]


def test_list_multipart_uploads_pages_through_uploads_of_one_key(s3, bucket):
    """Several uploads of one key, one per page: each is listed exactly once."""
    created = [s3.create_multipart_upload(Bucket=bucket, Key="same")["UploadId"] for _ in range(6)]
    everything = uploads_in(s3, bucket)
    assert sorted(everything) == sorted(("same", u) for u in created)
    seen, markers = [], {}
    for _ in range(20):
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=1, **markers)
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
    assert seen == everything, "paging by markers lost or repeated uploads of the same key"


# ---------------------------------------------------------------------------
# Conditional CompleteMultipartUpload (S3-SEMANTICS.md, "Conditional writes")
# ---------------------------------------------------------------------------

ORIGINAL = b"the object before the upload"
NEWER = b"an object written while the upload was in progress"
UPLOADED = b"the uploaded object"

# (id, the key before Create, what happens to it during the upload, conditions,
#  expected status, code, Condition)
COMPLETE_ROWS = [
    ("if-none-match-star-key-exists", "exists", None, {"IfNoneMatch": "*"},
     412, "PreconditionFailed", "If-None-Match"),
    ("if-none-match-star-key-created-during-upload", "absent", "put", {"IfNoneMatch": "*"},
     412, "PreconditionFailed", "If-None-Match"),
    ("if-none-match-star-key-absent", "absent", None, {"IfNoneMatch": "*"}, 200, None, None),
    ("if-match-etag-differs", "exists", None, {"IfMatch": OTHER_ETAG},
     412, "PreconditionFailed", "If-Match"),
    ("if-match-etag-equal", "exists", None, {"IfMatch": "ORIGINAL"}, 200, None, None),
    ("if-match-key-absent", "absent", None, {"IfMatch": OTHER_ETAG}, 404, "NoSuchKey", None),
    ("if-none-match-star-key-deleted-since-create", "exists", "delete", {"IfNoneMatch": "*"},
     409, "ConditionalRequestConflict", None),
    ("if-match-object-written-after-create", "exists", "put", {"IfMatch": "NEWER"},
     409, "ConditionalRequestConflict", None),
    ("if-none-match-not-star", "exists", None, {"IfNoneMatch": "ORIGINAL"},
     400, "InvalidRequest", None),
    ("both-conditions", "exists", None, {"IfMatch": "ORIGINAL", "IfNoneMatch": "*"},
     501, "NotImplemented", None),
]


@pytest.mark.parametrize(
    "before, during, conditions, status, code, condition",
    [row[1:] for row in COMPLETE_ROWS],
    ids=[row[0] for row in COMPLETE_ROWS],
)
def test_conditional_complete(s3, s3_error, bucket, before, during, conditions, status, code,
                              condition):
    if before == "exists":
        s3.put_object(Bucket=bucket, Key="k", Body=ORIGINAL)
    upload_id, listed = upload_parts(s3, bucket, "k", [UPLOADED])
    expected_after = ORIGINAL if before == "exists" else None
    if during == "put":
        time.sleep(0.01)  # a later millisecond than the upload's initiation
        s3.put_object(Bucket=bucket, Key="k", Body=NEWER)
        expected_after = NEWER
    elif during == "delete":
        s3.delete_object(Bucket=bucket, Key="k")
        expected_after = None
    names = {"ORIGINAL": quoted_md5(ORIGINAL), "NEWER": quoted_md5(NEWER)}
    kwargs = {name: names.get(value, value) for name, value in conditions.items()}

    if status == 200:
        done = complete(s3, bucket, "k", upload_id, listed, **kwargs)
        assert done["ETag"] == multipart_etag([UPLOADED])
        assert body_of(s3, bucket, "k") == UPLOADED
    else:
        with s3_error(status, code, condition=condition):
            complete(s3, bucket, "k", upload_id, listed, **kwargs)
        assert body_of(s3, bucket, "k") == expected_after


def test_conditional_complete_headers_through_an_event_hook(make_client, s3_error, bucket):
    """The same rule with the header added by hand, as for an SDK without the parameter."""
    client = make_client()
    client.put_object(Bucket=bucket, Key="k", Body=ORIGINAL)
    upload_id, listed = upload_parts(client, bucket, "k", [UPLOADED])

    def add_if_none_match(request, **_):
        request.headers["If-None-Match"] = "*"

    client.meta.events.register("before-sign.s3.CompleteMultipartUpload", add_if_none_match)
    with s3_error(412, "PreconditionFailed", condition="If-None-Match"):
        complete(client, bucket, "k", upload_id, listed)
    assert body_of(client, bucket, "k") == ORIGINAL


# ---------------------------------------------------------------------------
# UploadPartCopy
# ---------------------------------------------------------------------------


def test_upload_part_copy_of_ranges_and_whole_objects(s3, bucket, bucket_name_factory):
    other = bucket_name_factory("src")
    s3.create_bucket(Bucket=other)
    big = os.urandom(12 * MiB)
    small = b"a small whole object, copied as the last part"
    s3.put_object(Bucket=bucket, Key="big", Body=big)
    s3.put_object(Bucket=other, Key="dir/small one+.txt", Body=small)

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    pieces = [
        (1, "bytes=0-5242879", big[0:5 * MiB], {"Bucket": bucket, "Key": "big"}),
        (2, f"bytes={7 * MiB}-{12 * MiB - 1}", big[7 * MiB:], {"Bucket": bucket, "Key": "big"}),
        (3, f"bytes={MiB + 3}-{7 * MiB + 2}", big[MiB + 3:7 * MiB + 3],
         {"Bucket": bucket, "Key": "big"}),
        (4, None, small, {"Bucket": other, "Key": "dir/small one+.txt"}),
    ]
    listed = []
    for number, byte_range, expected, source in pieces:
        kwargs = {"CopySourceRange": byte_range} if byte_range else {}
        copied = s3.upload_part_copy(
            Bucket=bucket, Key="assembled", UploadId=upload_id, PartNumber=number,
            CopySource=source, **kwargs,
        )
        assert copied["CopyPartResult"]["ETag"] == quoted_md5(expected), f"part {number}"
        assert copied["CopyPartResult"]["LastModified"] is not None
        listed.append({"PartNumber": number, "ETag": copied["CopyPartResult"]["ETag"]})
    shown = s3.list_parts(Bucket=bucket, Key="assembled", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in shown] == [
        (n, len(expected)) for n, _, expected, _ in pieces
    ]

    expected_parts = [expected for _, _, expected, _ in pieces]
    done = complete(s3, bucket, "assembled", upload_id, listed)
    assert done["ETag"] == multipart_etag(expected_parts)
    assert body_of(s3, bucket, "assembled") == b"".join(expected_parts)
    assert body_of(s3, bucket, "big") == big  # the source is unchanged


def test_upload_part_copy_from_a_multipart_object(s3, bucket):
    parts = [os.urandom(5 * MiB), os.urandom(5 * MiB), os.urandom(MiB)]
    upload_id, listed = upload_parts(s3, bucket, "mp-source", parts)
    complete(s3, bucket, "mp-source", upload_id, listed)
    whole = b"".join(parts)

    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp-copy")["UploadId"]
    source = {"Bucket": bucket, "Key": "mp-source"}
    across = (4 * MiB, 10 * MiB + 100)  # spans all three source parts
    expected = [whole[across[0]:across[1]], whole]
    first = s3.upload_part_copy(Bucket=bucket, Key="mp-copy", UploadId=upload_id, PartNumber=1,
                                CopySource=source, CopySourceRange=f"bytes={across[0]}-{across[1] - 1}")
    second = s3.upload_part_copy(Bucket=bucket, Key="mp-copy", UploadId=upload_id, PartNumber=2,
                                 CopySource=source)  # the whole multipart object as one part
    etags = [first["CopyPartResult"]["ETag"], second["CopyPartResult"]["ETag"]]
    assert etags == [quoted_md5(e) for e in expected]
    done = complete(s3, bucket, "mp-copy", upload_id,
                    [{"PartNumber": n, "ETag": e} for n, e in enumerate(etags, start=1)])
    assert done["ETag"] == multipart_etag(expected)
    assert body_of(s3, bucket, "mp-copy") == b"".join(expected)
    assert s3.get_object(Bucket=bucket, Key="mp-copy", PartNumber=2)["Body"].read() == whole


def test_upload_part_copy_source_deleted_before_complete(s3, bucket):
    data = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="doomed", Body=data)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="survivor")["UploadId"]
    source = {"Bucket": bucket, "Key": "doomed"}
    first = s3.upload_part_copy(Bucket=bucket, Key="survivor", UploadId=upload_id, PartNumber=1,
                                CopySource=source, CopySourceRange=f"bytes=0-{5 * MiB - 1}")
    second = s3.upload_part_copy(Bucket=bucket, Key="survivor", UploadId=upload_id, PartNumber=2,
                                 CopySource=source)
    s3.delete_object(Bucket=bucket, Key="doomed")
    s3.put_object(Bucket=bucket, Key="doomed", Body=os.urandom(6 * MiB))  # reuse freed space
    s3.delete_object(Bucket=bucket, Key="doomed")
    done = complete(s3, bucket, "survivor", upload_id, [
        {"PartNumber": 1, "ETag": first["CopyPartResult"]["ETag"]},
        {"PartNumber": 2, "ETag": second["CopyPartResult"]["ETag"]},
    ])
    expected = [data[:5 * MiB], data]
    assert done["ETag"] == multipart_etag(expected)
    assert body_of(s3, bucket, "survivor") == b"".join(expected)


def test_upload_part_copy_errors(s3, s3_error, bucket):
    put = s3.put_object(Bucket=bucket, Key="src", Body=b"source bytes")
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with s3_error(404, "NoSuchKey"):
        s3.upload_part_copy(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "missing"})
    with s3_error(412, "PreconditionFailed"):
        s3.upload_part_copy(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfMatch=OTHER_ETAG)
    with s3_error(412, "PreconditionFailed"):
        s3.upload_part_copy(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"},
                            CopySourceIfNoneMatch=put["ETag"])
    with s3_error(404, "NoSuchUpload"):
        s3.upload_part_copy(Bucket=bucket, Key="k", UploadId="0" * 32, PartNumber=1,
                            CopySource={"Bucket": bucket, "Key": "src"})
    assert s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id).get("Parts", []) == []
    ok = s3.upload_part_copy(Bucket=bucket, Key="k", UploadId=upload_id, PartNumber=1,
                             CopySource={"Bucket": bucket, "Key": "src"}, CopySourceIfMatch=put["ETag"])
    assert ok["CopyPartResult"]["ETag"] == put["ETag"]


# ---------------------------------------------------------------------------
# Complete writes no object data
# ---------------------------------------------------------------------------


def test_complete_writes_no_object_data(s3, bucket, segment_files):
    parts = [os.urandom(8 * MiB) for _ in range(8)] + [os.urandom(MiB)]  # 65 MiB
    before_upload = segment_files()
    upload_id, listed = upload_parts(s3, bucket, "composed", parts)
    time.sleep(0.05)  # let the file-time clock tick past the last part's write
    before = segment_files()
    # The probe sees writes: uploading the parts changed the segment files.
    assert before != before_upload, "uploading 65 MiB of parts left segments/ untouched"

    done = complete(s3, bucket, "composed", upload_id, listed)
    after = segment_files()

    assert done["ETag"] == multipart_etag(parts)
    growth = sum(f[0] for f in after.values()) - sum(f[0] for f in before.values())
    allocated = sum(f[1] for f in after.values()) - sum(f[1] for f in before.values())
    assert growth <= 8 * 1024 and allocated <= 8 * 1024, (growth, allocated)
    assert after == before, "CompleteMultipartUpload wrote to the segment files"
    head = s3.head_object(Bucket=bucket, Key="composed")
    assert head["ContentLength"] == sum(map(len, parts))
    got = s3.get_object(Bucket=bucket, Key="composed", Range=f"bytes={8 * MiB - 10}-{8 * MiB + 9}")
    assert got["Body"].read() == parts[0][-10:] + parts[1][:10]
