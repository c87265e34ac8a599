"""Tagging (issue 17, point 4): Put/Get/DeleteObjectTagging (by version too), `x-amz-tagging`
on PUT, CreateMultipartUpload and CopyObject (with `x-amz-tagging-directive`),
`x-amz-tagging-count` on GET and HEAD, bucket tagging, S3's limits — and RenameObject and
prefix rename keep the tags, touching no byte."""

from __future__ import annotations

import pytest

from test_prefix_rename import body_xml, rename_prefix


def tags_of(s3, bucket, key, **kwargs):
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key, **kwargs)["TagSet"]}


def test_object_tags_round_trip_and_count_on_reads(s3, bucket):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="team=ml&stage=tmp%2Fckpt&empty=")
    assert tags_of(s3, bucket, "k") == {"team": "ml", "stage": "tmp/ckpt", "empty": ""}
    assert s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]["x-amz-tagging-count"] == "3"
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 3
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": [{"Key": "é ü", "Value": "v=1&2"}]})
    assert tags_of(s3, bucket, "k") == {"é ü": "v=1&2"}
    assert s3.head_object(Bucket=bucket, Key="k")["ETag"] == etag, "tags are not the object's bytes"
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert tags_of(s3, bucket, "k") == {}
    assert "x-amz-tagging-count" not in s3.head_object(Bucket=bucket, Key="k")["ResponseMetadata"]["HTTPHeaders"]


def test_tag_limits_and_errors_change_nothing(s3, bucket, s3_error):
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="a=1")
    too_many = [{"Key": f"k{n}", "Value": "v"} for n in range(11)]
    for tag_set in [too_many, [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}],
                    [{"Key": "x" * 129, "Value": "v"}], [{"Key": "k", "Value": "v" * 257}],
                    [{"Key": "aws:reserved", "Value": "v"}]]:
        with s3_error(400, "InvalidTag"):
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging={"TagSet": tag_set})
    assert tags_of(s3, bucket, "k") == {"a": "1"}
    with s3_error(400, "InvalidTag"):
        s3.put_object(Bucket=bucket, Key="other", Body=b"x", Tagging="&".join(f"k{n}=v" for n in range(11)))
    with pytest.raises(Exception):
        s3.head_object(Bucket=bucket, Key="other")
    with s3_error(404, "NoSuchKey"):
        s3.get_object_tagging(Bucket=bucket, Key="missing")


def test_copy_keeps_or_replaces_tags_and_multipart_takes_them_at_create(s3, bucket):
    s3.put_object(Bucket=bucket, Key="src", Body=b"x", Tagging="team=ml")
    s3.copy_object(Bucket=bucket, Key="kept", CopySource={"Bucket": bucket, "Key": "src"})
    assert tags_of(s3, bucket, "kept") == {"team": "ml"}
    s3.copy_object(Bucket=bucket, Key="replaced", CopySource={"Bucket": bucket, "Key": "src"},
                   TaggingDirective="REPLACE", Tagging="stage=final")
    assert tags_of(s3, bucket, "replaced") == {"stage": "final"}
    s3.copy_object(Bucket=bucket, Key="cleared", CopySource={"Bucket": bucket, "Key": "src"}, TaggingDirective="REPLACE")
    assert tags_of(s3, bucket, "cleared") == {}
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mp", Tagging="kind=shard")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(Bucket=bucket, Key="mp", UploadId=upload,
                                 MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part}]})
    assert tags_of(s3, bucket, "mp") == {"kind": "shard"}


def test_rename_and_prefix_rename_keep_tags(s3, raw, bucket):
    s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"a", Tagging="step=1000")
    s3.put_object(Bucket=bucket, Key="tmp/b", Body=b"b", Tagging="step=1000&part=b")
    s3.rename_object(Bucket=bucket, Key="moved/a", RenameSource="tmp/a")
    assert tags_of(s3, bucket, "moved/a") == {"step": "1000"}
    assert rename_prefix(raw, bucket, body_xml("tmp/", "final/")).status_code == 200
    assert tags_of(s3, bucket, "final/b") == {"step": "1000", "part": "b"}


def test_tags_by_version(s3, bucket):
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="v=old")["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"2")["VersionId"]
    answer = s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=old, Tagging={"TagSet": [{"Key": "v", "Value": "older"}]})
    assert answer["VersionId"] == old
    assert tags_of(s3, bucket, "k", VersionId=old) == {"v": "older"}
    got = s3.get_object_tagging(Bucket=bucket, Key="k")
    assert got["VersionId"] == new and got["TagSet"] == []


def test_bucket_tagging(s3, bucket, s3_error):
    with s3_error(404, "NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket=bucket)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "cost-center", "Value": "ml"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "cost-center", "Value": "ml"}]
    with s3_error(400, "InvalidTag"):
        s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": f"k{n}", "Value": "v"} for n in range(51)]})
    s3.delete_bucket_tagging(Bucket=bucket)
    with s3_error(404, "NoSuchTagSet"):
        s3.get_bucket_tagging(Bucket=bucket)
