"""ListObjects v1 and v2: prefix, delimiter, max-keys, start-after, markers and
continuation tokens, the 1000-key page, encoding-type=url, fetch-owner."""

from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote_plus

import pytest

BIG_COUNT = 1100


def put_keys(s3, bucket, keys, workers=8):
    def put(key):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(put, keys))


def utf8_sorted(keys):
    return sorted(keys, key=lambda k: k.encode())


@pytest.fixture(scope="module")
def big_bucket(s3, shared_bucket_factory):
    """1100 keys "k/00000" … "k/01099", shared (read-only) by this module's tests."""
    name = shared_bucket_factory("big")
    keys = [f"k/{i:05d}" for i in range(BIG_COUNT)]
    put_keys(s3, name, keys)
    return name, keys


# ---------------------------------------------------------------------------
# The 1000-key page and pagination
# ---------------------------------------------------------------------------


def test_v2_first_page_is_1000_then_continuation(s3, big_bucket):
    bucket, keys = big_bucket
    first = s3.list_objects_v2(Bucket=bucket)
    assert first["IsTruncated"] is True
    assert first["KeyCount"] == 1000
    assert first["MaxKeys"] == 1000
    assert [o["Key"] for o in first["Contents"]] == keys[:1000]
    token = first["NextContinuationToken"]
    assert token

    second = s3.list_objects_v2(Bucket=bucket, ContinuationToken=token)
    assert second["IsTruncated"] is False
    assert second["KeyCount"] == BIG_COUNT - 1000
    assert second["ContinuationToken"] == token
    assert "NextContinuationToken" not in second
    assert [o["Key"] for o in second["Contents"]] == keys[1000:]


def test_v2_max_keys_above_1000_is_capped(s3, big_bucket):
    bucket, keys = big_bucket
    page = s3.list_objects_v2(Bucket=bucket, MaxKeys=5000)
    assert page["KeyCount"] == 1000
    assert page["IsTruncated"] is True
    assert [o["Key"] for o in page["Contents"]] == keys[:1000]


def test_v1_first_page_is_1000_then_marker(s3, big_bucket):
    bucket, keys = big_bucket
    first = s3.list_objects(Bucket=bucket)
    assert first["IsTruncated"] is True
    assert [o["Key"] for o in first["Contents"]] == keys[:1000]
    second = s3.list_objects(Bucket=bucket, Marker=first["Contents"][-1]["Key"])
    assert second["IsTruncated"] is False
    assert second["Marker"] == keys[999]
    assert [o["Key"] for o in second["Contents"]] == keys[1000:]


def test_v2_paginator_over_everything(s3, big_bucket):
    bucket, keys = big_bucket
    paginator = s3.get_paginator("list_objects_v2")
    pages = list(paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 250}))
    assert [p["KeyCount"] for p in pages] == [250, 250, 250, 250, 100]
    assert [o["Key"] for p in pages for o in p["Contents"]] == keys


@pytest.mark.parametrize("max_keys", [1, 7, 100])
def test_v2_small_max_keys_pages(s3, big_bucket, max_keys):
    bucket, keys = big_bucket
    prefix = "k/0005"  # k/00050 … k/00059: 10 keys
    expected = [k for k in keys if k.startswith(prefix)]
    seen, token, pages = [], None, 0
    while True:
        kwargs = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=max_keys, **kwargs)
        pages += 1
        batch = [o["Key"] for o in page.get("Contents", [])]
        assert len(batch) <= max_keys
        assert page["KeyCount"] == len(batch)
        seen += batch
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
        assert pages < 50
    assert seen == expected
    full_pages = -(-len(expected) // max_keys)
    assert pages in (full_pages, full_pages + 1)  # at most one empty closing page


@pytest.mark.parametrize("max_keys", [1, 7])
def test_v1_small_max_keys_pages(s3, big_bucket, max_keys):
    bucket, keys = big_bucket
    prefix = "k/0107"
    expected = [k for k in keys if k.startswith(prefix)]
    seen, marker = [], ""
    for _ in range(50):
        page = s3.list_objects(Bucket=bucket, Prefix=prefix, MaxKeys=max_keys, Marker=marker)
        batch = [o["Key"] for o in page.get("Contents", [])]
        assert len(batch) <= max_keys
        seen += batch
        if not page["IsTruncated"]:
            break
        marker = batch[-1]
    assert seen == expected


def test_v2_start_after(s3, big_bucket):
    bucket, keys = big_bucket
    page = s3.list_objects_v2(Bucket=bucket, StartAfter="k/01090")
    assert [o["Key"] for o in page["Contents"]] == keys[1091:]
    assert page["StartAfter"] == "k/01090"
    between = s3.list_objects_v2(Bucket=bucket, StartAfter="k/01089z", Prefix="k/0109")
    assert [o["Key"] for o in between["Contents"]] == keys[1090:1100]
    after_all = s3.list_objects_v2(Bucket=bucket, StartAfter="z")
    assert after_all["KeyCount"] == 0
    assert "Contents" not in after_all


def test_v2_continuation_token_wins_over_start_after(s3, big_bucket):
    bucket, keys = big_bucket
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=3, StartAfter="k/00010")
    assert [o["Key"] for o in first["Contents"]] == keys[11:14]
    second = s3.list_objects_v2(
        Bucket=bucket, MaxKeys=3, StartAfter="k/00010",
        ContinuationToken=first["NextContinuationToken"],
    )
    assert [o["Key"] for o in second["Contents"]] == keys[14:17]


# ---------------------------------------------------------------------------
# Prefix and delimiter
# ---------------------------------------------------------------------------

TREE = [
    "a/1", "a/2", "a/b/3", "b/1", "c", "d/1", "d/2/x", "e", "e/", "photos/2024/jan.jpg",
    "photos/2024/feb.jpg", "photos/2025/mar.jpg", "photos/index.html",
]


@pytest.fixture
def tree(s3, bucket):
    put_keys(s3, bucket, TREE)
    return bucket


def test_v2_full_listing_fields(s3, tree):
    page = s3.list_objects_v2(Bucket=tree)
    assert page["Name"] == tree
    assert page["Prefix"] == ""
    assert page["KeyCount"] == len(TREE)
    assert page["IsTruncated"] is False
    assert [o["Key"] for o in page["Contents"]] == utf8_sorted(TREE)
    for entry in page["Contents"]:
        assert entry["Size"] == len(entry["Key"].encode())
        assert entry["ETag"].startswith('"') and len(entry["ETag"]) == 34
        assert entry["StorageClass"] == "STANDARD"
        assert entry["LastModified"]
        assert "Owner" not in entry


def test_v2_delimiter_at_root(s3, tree):
    page = s3.list_objects_v2(Bucket=tree, Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == ["c", "e"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "b/", "d/", "e/", "photos/"]
    assert page["KeyCount"] == 7
    assert page["Delimiter"] == "/"


def test_v2_prefix_and_delimiter(s3, tree):
    page = s3.list_objects_v2(Bucket=tree, Prefix="photos/", Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == ["photos/index.html"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["photos/2024/", "photos/2025/"]
    deeper = s3.list_objects_v2(Bucket=tree, Prefix="photos/2024/", Delimiter="/")
    assert [o["Key"] for o in deeper["Contents"]] == ["photos/2024/feb.jpg", "photos/2024/jan.jpg"]
    assert "CommonPrefixes" not in deeper


def test_v2_prefix_without_delimiter(s3, tree):
    page = s3.list_objects_v2(Bucket=tree, Prefix="a/")
    assert [o["Key"] for o in page["Contents"]] == ["a/1", "a/2", "a/b/3"]
    partial = s3.list_objects_v2(Bucket=tree, Prefix="pho")
    assert partial["KeyCount"] == 4
    none = s3.list_objects_v2(Bucket=tree, Prefix="zzz")
    assert none["KeyCount"] == 0
    assert "Contents" not in none


def test_v2_non_slash_delimiter(s3, tree):
    page = s3.list_objects_v2(Bucket=tree, Prefix="photos/", Delimiter=".")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == [
        "photos/2024/feb.", "photos/2024/jan.", "photos/2025/mar.", "photos/index.",
    ]
    assert "Contents" not in page


def test_v2_delimiter_pagination_counts_prefixes(s3, tree):
    """Common prefixes count against max-keys and are never repeated across pages."""
    entries, token = [], None
    for _ in range(20):
        kwargs = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=tree, Delimiter="/", MaxKeys=2, **kwargs)
        batch = [o["Key"] for o in page.get("Contents", [])] + [
            p["Prefix"] for p in page.get("CommonPrefixes", [])
        ]
        assert 1 <= len(batch) <= 2
        assert page["KeyCount"] == len(batch)
        entries += batch
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(entries) == sorted(["c", "e", "a/", "b/", "d/", "e/", "photos/"])
    assert len(entries) == len(set(entries))


def test_v1_delimiter_pagination_with_next_marker(s3, tree):
    entries, marker = [], ""
    for _ in range(20):
        page = s3.list_objects(Bucket=tree, Delimiter="/", MaxKeys=2, Marker=marker)
        batch = [o["Key"] for o in page.get("Contents", [])] + [
            p["Prefix"] for p in page.get("CommonPrefixes", [])
        ]
        assert 1 <= len(batch) <= 2
        entries += batch
        if not page["IsTruncated"]:
            assert "NextMarker" not in page
            break
        marker = page["NextMarker"]
        assert marker == max(batch, key=lambda e: e.encode())
    assert sorted(entries) == sorted(["c", "e", "a/", "b/", "d/", "e/", "photos/"])
    assert len(entries) == len(set(entries))


def test_v1_fields_and_prefix(s3, tree):
    page = s3.list_objects(Bucket=tree, Prefix="d/")
    assert page["Name"] == tree
    assert page["Prefix"] == "d/"
    assert page["IsTruncated"] is False
    assert [o["Key"] for o in page["Contents"]] == ["d/1", "d/2/x"]
    assert page["Contents"][0]["Size"] == 3


def test_empty_bucket_lists_nothing(s3, bucket):
    v2 = s3.list_objects_v2(Bucket=bucket)
    assert v2["KeyCount"] == 0 and v2["IsTruncated"] is False and "Contents" not in v2
    v1 = s3.list_objects(Bucket=bucket)
    assert v1["IsTruncated"] is False and "Contents" not in v1


def test_fetch_owner(s3, bucket):
    s3.put_object(Bucket=bucket, Key="owned", Body=b"x")
    with_owner = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert with_owner["Contents"][0]["Owner"]["ID"]
    without = s3.list_objects_v2(Bucket=bucket)
    assert "Owner" not in without["Contents"][0]


# ---------------------------------------------------------------------------
# Awkward keys and encoding-type=url
# ---------------------------------------------------------------------------

AWKWARD = [
    "plain",
    "with space",
    "plus+sign",
    "both + and space",
    "percent%20literal",
    "ampersand&lt;",
    "angle<bracket>",
    "quote\"apostrophe'",
    "ünïcödé/日本語/😀",
    "tab\there",
    "é-composed",
    "Z-upper",
    "z-lower",
]


def test_awkward_keys_list_in_utf8_order_through_boto3(s3, bucket):
    # boto3 asks for encoding-type=url on every listing and decodes the answer.
    put_keys(s3, bucket, AWKWARD)
    v2 = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert v2 == utf8_sorted(AWKWARD)
    v1 = [o["Key"] for o in s3.list_objects(Bucket=bucket)["Contents"]]
    assert v1 == utf8_sorted(AWKWARD)
    for key in AWKWARD:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode()


def test_awkward_prefix_and_delimiter(s3, bucket):
    put_keys(s3, bucket, ["ü dir/a+b", "ü dir/c d", "ü dir/sub/e", "ü other"])
    page = s3.list_objects_v2(Bucket=bucket, Prefix="ü dir/", Delimiter="/")
    assert [o["Key"] for o in page["Contents"]] == ["ü dir/a+b", "ü dir/c d"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["ü dir/sub/"]


def raw_list(raw, xml_document, bucket, query):
    response = raw.request("GET", f"/{bucket}", query=query)
    assert response.status_code == 200, response.text
    return xml_document(response.content)


@pytest.mark.parametrize("list_type", ["list-type=2&", ""], ids=["v2", "v1"])
def test_encoding_type_url_on_the_wire(s3, raw, xml_document, bucket, list_type):
    keys = ["dir one/a+b", "dir one/ü c", "dir one/x<y&z", "top"]
    put_keys(s3, bucket, keys)
    root = raw_list(raw, xml_document, bucket, f"{list_type}encoding-type=url")
    assert root.findtext("EncodingType") == "url"
    wire_keys = [c.findtext("Key") for c in root.iter("Contents")]
    assert [unquote_plus(k) for k in wire_keys] == utf8_sorted(keys)
    for wire in wire_keys:
        assert wire.isascii() and " " not in wire and "<" not in wire and "&" not in wire, wire
    assert "dir%20one/a%2Bb" in wire_keys or "dir+one/a%2Bb" in wire_keys, wire_keys

    delimited = raw_list(
        raw, xml_document, bucket, f"{list_type}encoding-type=url&delimiter=%2F&prefix=dir%20one%2F"
    )
    assert unquote_plus(delimited.findtext("Prefix")) == "dir one/"
    assert unquote_plus(delimited.findtext("Delimiter")) == "/"


def test_without_encoding_type_keys_are_plain_xml(s3, raw, xml_document, bucket):
    keys = ["dir one/a+b", "dir one/x<y&z", "ü"]
    put_keys(s3, bucket, keys)
    root = raw_list(raw, xml_document, bucket, "list-type=2")
    assert root.find("EncodingType") is None
    wire_keys = [c.findtext("Key") for c in root.iter("Contents")]
    assert wire_keys == utf8_sorted(keys)


def test_unsupported_encoding_type_is_invalid_argument(raw, error_xml, bucket):
    response = raw.request("GET", f"/{bucket}", query="list-type=2&encoding-type=base64")
    assert response.status_code == 400
    assert error_xml(response.content)["Code"] == "InvalidArgument"
