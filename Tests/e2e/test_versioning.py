"""Bucket versioning (issue 15, point 1 and 2): PutBucketVersioning / GetBucketVersioning,
a version id on every write to a versioned bucket, reads, deletes and copies by
`versionId`, delete markers with S3's 404/405 answers, the `null` version of unversioned
and suspended writes, ListObjectVersions and its markers — and RenameObject and prefix
rename refused on any bucket whose versioning is or was enabled, with nothing changed."""

from __future__ import annotations

import hashlib

import pytest
from botocore.exceptions import ClientError

from conftest import parse_error_xml
from test_prefix_rename import body_xml, rename_prefix


def enable(s3, bucket, status="Enabled"):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": status})


def headers_of(expected) -> dict:
    """The response headers of an `s3_error` block's error."""
    return expected.response["ResponseMetadata"]["HTTPHeaders"]


def test_versioning_configuration_round_trips(s3, bucket, s3_error):
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket), "never enabled: an empty configuration"
    enable(s3, bucket)
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    enable(s3, bucket, "Suspended")
    answer = s3.get_bucket_versioning(Bucket=bucket)
    assert (answer["Status"], answer["MFADelete"]) == ("Suspended", "Disabled")
    with s3_error(501, "NotImplemented"):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled", "MFADelete": "Enabled"})
    with s3_error(400, "MalformedXML"):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "On"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended", "a refused configuration changes nothing"
    with s3_error(404, "NoSuchBucket"):
        s3.put_bucket_versioning(Bucket=bucket + "-none", VersioningConfiguration={"Status": "Enabled"})


def test_two_overwrites_and_a_delete_keep_every_version(s3, bucket, s3_error):
    enable(s3, bucket)
    bodies = [b"first", b"second, longer", b"third"]
    ids = [s3.put_object(Bucket=bucket, Key="k", Body=body)["VersionId"] for body in bodies]
    assert len(set(ids)) == 3 and all(len(i) == 32 for i in ids)
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] not in ids
    marker = deleted["VersionId"]

    # The key is gone for a plain GET and HEAD: 404, naming the delete marker.
    with s3_error(404, "NoSuchKey") as err:
        s3.get_object(Bucket=bucket, Key="k")
    assert headers_of(err)["x-amz-delete-marker"] == "true"
    assert headers_of(err)["x-amz-version-id"] == marker
    with s3_error(404, "404") as err:
        s3.head_object(Bucket=bucket, Key="k")
    assert headers_of(err)["x-amz-delete-marker"] == "true"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0

    # Every version reads back by id, with its own bytes and ETag.
    for version, body in zip(ids, bodies):
        got = s3.get_object(Bucket=bucket, Key="k", VersionId=version)
        assert got["Body"].read() == body and got["VersionId"] == version
        assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
        assert s3.head_object(Bucket=bucket, Key="k", VersionId=version)["ContentLength"] == len(body)
    # The delete marker by id: 405, no object to show.
    with s3_error(405, "MethodNotAllowed") as err:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert headers_of(err)["x-amz-delete-marker"] == "true"

    # Listed newest first, the marker latest.
    listing = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in listing["Versions"]] == ids[::-1]
    assert [v["IsLatest"] for v in listing["Versions"]] == [False, False, False]
    assert [(m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]] == [(marker, True)]
    assert [v["Size"] for v in listing["Versions"]] == [len(b) for b in bodies[::-1]]

    # Deleting the marker brings the newest version back.
    undone = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert undone["DeleteMarker"] is True and undone["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"third"
    # Deleting the current version for good makes the previous one current.
    assert s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[2])["VersionId"] == ids[2]
    got = s3.get_object(Bucket=bucket, Key="k")
    assert (got["Body"].read(), got["VersionId"]) == (b"second, longer", ids[1])
    with s3_error(404, "NoSuchVersion"):
        s3.get_object(Bucket=bucket, Key="k", VersionId=ids[2])
    # A version that is not there: deleting it is a no-op (204), not an error.
    s3.delete_object(Bucket=bucket, Key="k", VersionId=ids[2])
    with s3_error(400, "InvalidArgument"):
        s3.get_object(Bucket=bucket, Key="k", VersionId="not-a-version")


def test_null_version_before_enabling_and_while_suspended(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"before")
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [("null", True)], "never versioned: one null version"
    assert "VersionId" not in s3.put_object(Bucket=bucket, Key="plain", Body=b"x"), "no version id before versioning"
    enable(s3, bucket)
    assert s3.get_object(Bucket=bucket, Key="k")["VersionId"] == "null"
    v1 = s3.put_object(Bucket=bucket, Key="k", Body=b"enabled")["VersionId"]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"before"

    enable(s3, bucket, "Suspended")
    answer = s3.put_object(Bucket=bucket, Key="k", Body=b"suspended")
    assert answer["VersionId"] == "null"
    # The suspended write replaced the earlier null version; the enabled one stays.
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"suspended"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=v1)["Body"].read() == b"enabled"
    ids = [v["VersionId"] for v in s3.list_object_versions(Bucket=bucket, Prefix="k")["Versions"]]
    assert ids == ["null", v1]
    # A suspended delete makes a null delete marker, replacing the null object.
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert (deleted["DeleteMarker"], deleted["VersionId"]) == (True, "null")
    listing = s3.list_object_versions(Bucket=bucket, Prefix="k")
    assert [v["VersionId"] for v in listing["Versions"]] == [v1]
    assert [(m["VersionId"], m["IsLatest"]) for m in listing["DeleteMarkers"]] == [("null", True)]


def test_delete_objects_with_and_without_version_ids(s3, bucket):
    enable(s3, bucket)
    a1 = s3.put_object(Bucket=bucket, Key="a", Body=b"a1")["VersionId"]
    a2 = s3.put_object(Bucket=bucket, Key="a", Body=b"a2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b1")
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [
        {"Key": "a", "VersionId": a2}, {"Key": "b"}, {"Key": "c", "VersionId": "Z" * 32}]})
    deleted = {(d["Key"], d.get("VersionId")): d for d in answer["Deleted"]}
    assert "DeleteMarker" not in deleted[("a", a2)]
    assert deleted[("b", None)]["DeleteMarker"] is True and len(deleted[("b", None)]["DeleteMarkerVersionId"]) == 32
    assert ("c", "Z" * 32) in deleted, "a version that is not there is deleted already"
    assert s3.get_object(Bucket=bucket, Key="a")["VersionId"] == a1
    with pytest.raises(ClientError):
        s3.get_object(Bucket=bucket, Key="b")
    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a", "VersionId": "bad id"}]})
    assert answer["Errors"][0]["Code"] == "NoSuchVersion"


def test_copy_and_part_copy_from_a_version(s3, bucket, s3_error):
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="src", Body=b"old bytes")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"new bytes")
    copied = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": old})
    assert copied["CopySourceVersionId"] == old and copied["VersionId"] not in (old, None)
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"old bytes"
    marker = s3.delete_object(Bucket=bucket, Key="src")["VersionId"]
    with s3_error(400, "InvalidRequest"):
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src", "VersionId": marker})
    with s3_error(404, "NoSuchKey"):
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "src"})

    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part_copy(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1,
                               CopySource={"Bucket": bucket, "Key": "src", "VersionId": old})
    assert part["CopySourceVersionId"] == old
    done = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert len(done["VersionId"]) == 32
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"old bytes"
    # A retried Complete (its answer lost) gets the same version id.
    again = s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]})
    assert again["VersionId"] == done["VersionId"]


def test_list_object_versions_pages_with_markers_prefix_and_delimiter(s3, bucket):
    enable(s3, bucket)
    expected = []
    for key in ["a/1", "a/2", "b", "c/x/y", "d"]:
        ids = [s3.put_object(Bucket=bucket, Key=key, Body=f"{key}-{n}".encode())["VersionId"] for n in range(3)]
        expected += [(key, version) for version in ids[::-1]]
    marker = s3.delete_object(Bucket=bucket, Key="b")["VersionId"]
    expected.insert(6, ("b", marker))
    # Pages of 4 walk every version once, in order, across keys.
    seen, kwargs = [], {}
    while True:
        page = s3.list_object_versions(Bucket=bucket, MaxKeys=4, **kwargs)
        entries = [(v["Key"], v["VersionId"], v["LastModified"]) for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        # Within a page, S3's order is key then newest first; botocore separated the kinds.
        order = {(k, v): i for i, (k, v) in enumerate(expected)}
        seen += sorted(((k, v) for k, v, _ in entries), key=lambda e: order[e])
        assert len(entries) <= 4
        if not page["IsTruncated"]:
            break
        kwargs = {"KeyMarker": page["NextKeyMarker"], "VersionIdMarker": page["NextVersionIdMarker"]}
    assert seen == expected
    # Prefix and delimiter roll keys up into common prefixes.
    rolled = s3.list_object_versions(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in rolled["CommonPrefixes"]] == ["a/", "c/"]
    assert {v["Key"] for v in rolled["Versions"]} == {"b", "d"}
    under = s3.list_object_versions(Bucket=bucket, Prefix="a/")
    assert [v["Key"] for v in under["Versions"]] == ["a/1"] * 3 + ["a/2"] * 3
    assert [v["IsLatest"] for v in under["Versions"]] == [True, False, False] * 2
    # key-marker alone starts after that key's versions.
    after = s3.list_object_versions(Bucket=bucket, KeyMarker="b")
    assert [v["Key"] for v in after["Versions"]][:3] == ["c/x/y"] * 3
    encoded = s3.list_object_versions(Bucket=bucket, Prefix="a/", EncodingType="url")
    assert encoded["EncodingType"] == "url"


def test_version_id_marker_needs_a_key_marker(raw, bucket):
    answer = raw.request("GET", f"/{bucket}", query="versions&version-id-marker=null")
    assert answer.status_code == 400 and parse_error_xml(answer.content)["Code"] == "InvalidArgument"


@pytest.mark.parametrize("status", ["Enabled", "Suspended"])
def test_rename_and_prefix_rename_are_refused_on_a_versioned_bucket(s3, raw, bucket, s3_error, status):
    s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"a")
    enable(s3, bucket)
    if status == "Suspended":
        enable(s3, bucket, "Suspended")
    with s3_error(501, "NotImplemented") as err:
        s3.rename_object(Bucket=bucket, Key="final/a", RenameSource="tmp/a")
    assert "versioning" in err.response["Error"]["Message"]
    answer = rename_prefix(raw, bucket, body_xml("tmp/", "final/"))
    assert answer.status_code == 501 and parse_error_xml(answer.content)["Code"] == "NotImplemented"
    # Both names unchanged, no version added.
    assert s3.get_object(Bucket=bucket, Key="tmp/a")["Body"].read() == b"a"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="final/a")
    assert [v["Key"] for v in s3.list_object_versions(Bucket=bucket)["Versions"]] == ["tmp/a"]


def test_a_bucket_with_versions_is_not_empty_until_every_version_is_gone(s3, bucket_name_factory, s3_error):
    name = bucket_name_factory()
    s3.create_bucket(Bucket=name)
    enable(s3, name)
    s3.put_object(Bucket=name, Key="k", Body=b"1")
    s3.delete_object(Bucket=name, Key="k")
    assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    with s3_error(409, "BucketNotEmpty"):
        s3.delete_bucket(Bucket=name)
    listing = s3.list_object_versions(Bucket=name)
    everything = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listing["Versions"] + listing["DeleteMarkers"]]
    s3.delete_objects(Bucket=name, Delete={"Objects": everything})
    s3.delete_bucket(Bucket=name)


def test_conditional_writes_see_the_latest_version(s3, bucket, s3_error):
    enable(s3, bucket)
    s3.put_object(Bucket=bucket, Key="k", Body=b"1")
    with s3_error(412, "PreconditionFailed"):
        s3.put_object(Bucket=bucket, Key="k", Body=b"2", IfNoneMatch="*")
    s3.delete_object(Bucket=bucket, Key="k")
    # The latest version is a delete marker: the key does not exist for If-None-Match.
    s3.put_object(Bucket=bucket, Key="k", Body=b"3", IfNoneMatch="*")
    assert len(s3.list_object_versions(Bucket=bucket)["Versions"]) == 2


def test_get_object_attributes_of_a_version(s3, bucket, s3_error):
    enable(s3, bucket)
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"12345", ChecksumAlgorithm="CRC32")["VersionId"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    parts = [s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=n, Body=bytes([n]) * size)["ETag"]
             for n, size in [(1, 5 << 20), (2, 5 << 20), (3, 1000)]]
    new = s3.complete_multipart_upload(Bucket=bucket, Key="k", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": n + 1, "ETag": etag} for n, etag in enumerate(parts)]})["VersionId"]
    everything = ["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"]
    current = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=everything, MaxParts=2)
    assert current["VersionId"] == new and current["ObjectSize"] == (10 << 20) + 1000
    assert current["ETag"].endswith("-3") and current["StorageClass"] == "STANDARD"
    assert current["ObjectParts"]["TotalPartsCount"] == 3 and current["ObjectParts"]["IsTruncated"] is True
    assert [p["Size"] for p in current["ObjectParts"]["Parts"]] == [5 << 20, 5 << 20]
    rest = s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ObjectParts"], PartNumberMarker=2)
    assert [p["PartNumber"] for p in rest["ObjectParts"]["Parts"]] == [3]
    older = s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=old, ObjectAttributes=everything)
    assert older["VersionId"] == old and older["ObjectSize"] == 5 and "ObjectParts" not in older
    assert older["Checksum"]["ChecksumCRC32"] and older["Checksum"]["ChecksumType"] == "FULL_OBJECT"
    with s3_error(400, "InvalidArgument"):
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["Colour"])
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with s3_error(404, "NoSuchKey"):
        s3.get_object_attributes(Bucket=bucket, Key="k", ObjectAttributes=["ETag"])
    with s3_error(405, "MethodNotAllowed"):
        s3.get_object_attributes(Bucket=bucket, Key="k", VersionId=marker, ObjectAttributes=["ETag"])
