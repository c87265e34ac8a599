"""Buckets: ListBuckets, CreateBucket, HeadBucket, DeleteBucket, GetBucketLocation,
GetBucketVersioning, and 501 for what Stowage does not implement."""

import datetime

import pytest


def bucket_names(s3) -> list[str]:
    return [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_create_head_list_delete(s3, s3_error, bucket_name_factory):
    name = bucket_name_factory()
    created = s3.create_bucket(Bucket=name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 200

    head = s3.head_bucket(Bucket=name)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 200

    listed = s3.list_buckets()
    mine = [b for b in listed["Buckets"] if b["Name"] == name]
    assert len(mine) == 1
    created_at = mine[0]["CreationDate"]
    assert isinstance(created_at, datetime.datetime)
    now = datetime.datetime.now(datetime.timezone.utc)
    assert abs((now - created_at).total_seconds()) < 600
    assert listed["Owner"]["ID"]

    deleted = s3.delete_bucket(Bucket=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error(404, "404"):
        s3.head_bucket(Bucket=name)
    assert name not in bucket_names(s3)


def test_list_buckets_is_sorted_by_name(s3, bucket_name_factory):
    names = [bucket_name_factory("sort") for _ in range(3)]
    for name in reversed(names):
        s3.create_bucket(Bucket=name)
    listed = bucket_names(s3)
    assert all(name in listed for name in names)
    assert listed == sorted(listed)


def test_head_missing_bucket_is_404(s3, s3_error, bucket_name_factory):
    with s3_error(404, "404"):
        s3.head_bucket(Bucket=bucket_name_factory("missing"))


def test_delete_missing_bucket_is_no_such_bucket(s3, s3_error, bucket_name_factory):
    with s3_error(404, "NoSuchBucket"):
        s3.delete_bucket(Bucket=bucket_name_factory("missing"))


def test_delete_non_empty_bucket_is_bucket_not_empty(s3, s3_error, bucket):
    s3.put_object(Bucket=bucket, Key="keep-me", Body=b"x")
    with s3_error(409, "BucketNotEmpty"):
        s3.delete_bucket(Bucket=bucket)
    assert s3.get_object(Bucket=bucket, Key="keep-me")["Body"].read() == b"x"
    s3.delete_object(Bucket=bucket, Key="keep-me")
    assert s3.delete_bucket(Bucket=bucket)["ResponseMetadata"]["HTTPStatusCode"] == 204
    with s3_error(404, "404"):
        s3.head_bucket(Bucket=bucket)


def test_object_operations_on_missing_bucket(s3, s3_error, bucket_name_factory):
    name = bucket_name_factory("missing")
    with s3_error(404, "NoSuchBucket"):
        s3.put_object(Bucket=name, Key="k", Body=b"x")
    with s3_error(404, "NoSuchBucket"):
        s3.get_object(Bucket=name, Key="k")
    with s3_error(404, "NoSuchBucket"):
        s3.list_objects_v2(Bucket=name)
    with s3_error(404, "NoSuchBucket"):
        s3.list_objects(Bucket=name)
    # The failed PUT must not have created the bucket.
    assert name not in bucket_names(s3)


@pytest.mark.parametrize("name", ["ab", "a" * 64, "-leading-hyphen", "double..dots"])
def test_invalid_bucket_name_is_rejected(s3, s3_error, name):
    with s3_error(400, "InvalidBucketName"):
        s3.create_bucket(Bucket=name)
    assert name not in bucket_names(s3)


def test_get_bucket_location_is_us_east_1(s3, bucket):
    location = s3.get_bucket_location(Bucket=bucket)
    assert location["ResponseMetadata"]["HTTPStatusCode"] == 200
    # us-east-1 is reported as an empty LocationConstraint (botocore: None).
    assert location.get("LocationConstraint") in (None, "")


def test_get_bucket_versioning_is_unversioned(s3, bucket):
    versioning = s3.get_bucket_versioning(Bucket=bucket)
    assert versioning["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "Status" not in versioning
    assert "MFADelete" not in versioning


def test_get_bucket_versioning_missing_bucket(s3, s3_error, bucket_name_factory):
    with s3_error(404, "NoSuchBucket"):
        s3.get_bucket_versioning(Bucket=bucket_name_factory("missing"))


def test_error_body_has_code_message_resource_request_id(raw, error_xml, bucket_name_factory):
    name = bucket_name_factory("missing")
    response = raw.request("GET", f"/{name}")
    assert response.status_code == 404
    request_id = response.headers.get("x-amz-request-id")
    assert request_id
    error = error_xml(response.content)
    assert error["Code"] == "NoSuchBucket"
    assert error["Message"]
    assert error["Resource"] == f"/{name}"
    assert error["RequestId"] == request_id
