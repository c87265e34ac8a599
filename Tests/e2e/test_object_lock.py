"""Object Lock (issue 15, point 3): buckets created with Object Lock (versioning on), the
bucket's default retention, per-version GOVERNANCE and COMPLIANCE retention and legal
holds, and the bypass header — a protected version is refused on every request that could
delete it for good, and the refusals change nothing."""

from __future__ import annotations

import datetime
import time

import pytest


def now_plus(**delta) -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(**delta)


@pytest.fixture
def locked_bucket(s3, bucket_name_factory):
    name = bucket_name_factory("worm")
    s3.create_bucket(Bucket=name, ObjectLockEnabledForBucket=True)
    return name


def still_there(s3, bucket, key, version, body):
    assert s3.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read() == body


def release(s3, bucket, key, version):
    """Lifts what a test left (legal hold, GOVERNANCE) so the bucket can be cleaned up."""
    s3.put_object_legal_hold(Bucket=bucket, Key=key, VersionId=version, LegalHold={"Status": "OFF"})


def test_a_compliance_version_cannot_be_deleted_before_its_date(s3, locked_bucket, s3_error):
    until = now_plus(seconds=4)
    version = s3.put_object(Bucket=locked_bucket, Key="ckpt", Body=b"weights", ObjectLockMode="COMPLIANCE",
                            ObjectLockRetainUntilDate=until)["VersionId"]
    head = s3.head_object(Bucket=locked_bucket, Key="ckpt")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert abs((head["ObjectLockRetainUntilDate"] - until).total_seconds()) < 1
    with s3_error(403, "AccessDenied"):
        s3.delete_object(Bucket=locked_bucket, Key="ckpt", VersionId=version)
    with s3_error(403, "AccessDenied"):
        s3.delete_object(Bucket=locked_bucket, Key="ckpt", VersionId=version, BypassGovernanceRetention=True)
    answer = s3.delete_objects(Bucket=locked_bucket, BypassGovernanceRetention=True,
                               Delete={"Objects": [{"Key": "ckpt", "VersionId": version}]})
    assert answer["Errors"][0]["Code"] == "AccessDenied"
    # COMPLIANCE retention is never shortened, removed or weakened, bypass or not.
    for retention in [{"Mode": "COMPLIANCE", "RetainUntilDate": now_plus(seconds=2)},
                      {"Mode": "GOVERNANCE", "RetainUntilDate": now_plus(days=1)}]:
        with s3_error(403, "AccessDenied"):
            s3.put_object_retention(Bucket=locked_bucket, Key="ckpt", VersionId=version, Retention=retention,
                                    BypassGovernanceRetention=True)
    retention = s3.get_object_retention(Bucket=locked_bucket, Key="ckpt", VersionId=version)["Retention"]
    assert retention["Mode"] == "COMPLIANCE" and abs((retention["RetainUntilDate"] - until).total_seconds()) < 1
    # A plain DELETE removes nothing: it adds a delete marker, the version stays.
    marker = s3.delete_object(Bucket=locked_bucket, Key="ckpt")
    assert marker["DeleteMarker"] is True
    still_there(s3, locked_bucket, "ckpt", version, b"weights")
    # Extending is allowed; then, once the date has passed, the version can go.
    extended = now_plus(seconds=6)
    s3.put_object_retention(Bucket=locked_bucket, Key="ckpt", VersionId=version,
                            Retention={"Mode": "COMPLIANCE", "RetainUntilDate": extended})
    time.sleep(max(0.0, (extended - now_plus()).total_seconds()) + 1.2)
    s3.delete_object(Bucket=locked_bucket, Key="ckpt", VersionId=version)
    with s3_error(404, "NoSuchVersion"):
        s3.get_object(Bucket=locked_bucket, Key="ckpt", VersionId=version)


def test_governance_gives_way_to_the_bypass_header(s3, locked_bucket, s3_error):
    version = s3.put_object(Bucket=locked_bucket, Key="g", Body=b"gov", ObjectLockMode="GOVERNANCE",
                            ObjectLockRetainUntilDate=now_plus(days=1))["VersionId"]
    with s3_error(403, "AccessDenied"):
        s3.delete_object(Bucket=locked_bucket, Key="g", VersionId=version)
    with s3_error(403, "AccessDenied"):
        s3.put_object_retention(Bucket=locked_bucket, Key="g", VersionId=version,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": now_plus(hours=1)})
    still_there(s3, locked_bucket, "g", version, b"gov")
    s3.put_object_retention(Bucket=locked_bucket, Key="g", VersionId=version, BypassGovernanceRetention=True,
                            Retention={"Mode": "GOVERNANCE", "RetainUntilDate": now_plus(hours=1)})
    s3.delete_object(Bucket=locked_bucket, Key="g", VersionId=version, BypassGovernanceRetention=True)
    with s3_error(404, "NoSuchVersion"):
        s3.get_object(Bucket=locked_bucket, Key="g", VersionId=version)


def test_a_legal_hold_stops_every_deletion_until_lifted(s3, locked_bucket, s3_error):
    version = s3.put_object(Bucket=locked_bucket, Key="h", Body=b"held", ObjectLockLegalHoldStatus="ON")["VersionId"]
    assert s3.head_object(Bucket=locked_bucket, Key="h")["ObjectLockLegalHoldStatus"] == "ON"
    assert s3.get_object_legal_hold(Bucket=locked_bucket, Key="h")["LegalHold"]["Status"] == "ON"
    with s3_error(403, "AccessDenied"):
        s3.delete_object(Bucket=locked_bucket, Key="h", VersionId=version, BypassGovernanceRetention=True)
    still_there(s3, locked_bucket, "h", version, b"held")
    release(s3, locked_bucket, "h", version)
    assert s3.get_object_legal_hold(Bucket=locked_bucket, Key="h", VersionId=version)["LegalHold"]["Status"] == "OFF"
    s3.delete_object(Bucket=locked_bucket, Key="h", VersionId=version)


def test_default_retention_applies_to_new_versions(s3, locked_bucket, s3_error):
    s3.put_object_lock_configuration(Bucket=locked_bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "GOVERNANCE", "Days": 1}}})
    configuration = s3.get_object_lock_configuration(Bucket=locked_bucket)["ObjectLockConfiguration"]
    assert configuration["Rule"]["DefaultRetention"] == {"Mode": "GOVERNANCE", "Days": 1}
    before = now_plus()
    version = s3.put_object(Bucket=locked_bucket, Key="d", Body=b"defaulted")["VersionId"]
    retention = s3.get_object_retention(Bucket=locked_bucket, Key="d")["Retention"]
    assert retention["Mode"] == "GOVERNANCE"
    assert abs((retention["RetainUntilDate"] - (before + datetime.timedelta(days=1))).total_seconds()) < 5
    with s3_error(403, "AccessDenied"):
        s3.delete_object(Bucket=locked_bucket, Key="d", VersionId=version)
    # An explicit retention wins over the default; Years is kept as given.
    explicit = s3.put_object(Bucket=locked_bucket, Key="e", Body=b"e", ObjectLockMode="COMPLIANCE",
                             ObjectLockRetainUntilDate=now_plus(seconds=30))["VersionId"]
    assert s3.get_object_retention(Bucket=locked_bucket, Key="e", VersionId=explicit)["Retention"]["Mode"] == "COMPLIANCE"
    s3.put_object_lock_configuration(Bucket=locked_bucket, ObjectLockConfiguration={
        "ObjectLockEnabled": "Enabled", "Rule": {"DefaultRetention": {"Mode": "COMPLIANCE", "Years": 2}}})
    rule = s3.get_object_lock_configuration(Bucket=locked_bucket)["ObjectLockConfiguration"]["Rule"]
    assert rule["DefaultRetention"] == {"Mode": "COMPLIANCE", "Years": 2}
    # Removing the default: new versions have no retention.
    s3.put_object_lock_configuration(Bucket=locked_bucket, ObjectLockConfiguration={"ObjectLockEnabled": "Enabled"})
    plain = s3.put_object(Bucket=locked_bucket, Key="p", Body=b"p")["VersionId"]
    with s3_error(404, "NoSuchObjectLockConfiguration"):
        s3.get_object_retention(Bucket=locked_bucket, Key="p", VersionId=plain)
    s3.delete_object(Bucket=locked_bucket, Key="p", VersionId=plain)
    s3.delete_object(Bucket=locked_bucket, Key="d", VersionId=version, BypassGovernanceRetention=True)


def test_a_multipart_upload_takes_its_lock_at_create(s3, locked_bucket, s3_error):
    upload = s3.create_multipart_upload(Bucket=locked_bucket, Key="mp", ObjectLockMode="GOVERNANCE",
                                        ObjectLockRetainUntilDate=now_plus(days=1), ObjectLockLegalHoldStatus="ON")["UploadId"]
    part = s3.upload_part(Bucket=locked_bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"m" * 100)
    version = s3.complete_multipart_upload(Bucket=locked_bucket, Key="mp", UploadId=upload, MultipartUpload={
        "Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})["VersionId"]
    head = s3.head_object(Bucket=locked_bucket, Key="mp", VersionId=version)
    assert (head["ObjectLockMode"], head["ObjectLockLegalHoldStatus"]) == ("GOVERNANCE", "ON")
    with s3_error(403, "AccessDenied"):
        s3.delete_object(Bucket=locked_bucket, Key="mp", VersionId=version, BypassGovernanceRetention=True)
    release(s3, locked_bucket, "mp", version)
    s3.delete_object(Bucket=locked_bucket, Key="mp", VersionId=version, BypassGovernanceRetention=True)


def test_object_lock_needs_versioning_and_keeps_it_on(s3, bucket, s3_error):
    with s3_error(404, "ObjectLockConfigurationNotFoundError"):
        s3.get_object_lock_configuration(Bucket=bucket)
    configuration = {"ObjectLockEnabled": "Enabled"}
    with s3_error(409, "InvalidBucketState"):
        s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=configuration)
    with s3_error(400, "InvalidRequest"):
        s3.put_object_retention(Bucket=bucket, Key="k", Retention={"Mode": "GOVERNANCE", "RetainUntilDate": now_plus(days=1)})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object_lock_configuration(Bucket=bucket, ObjectLockConfiguration=configuration)
    assert s3.get_object_lock_configuration(Bucket=bucket)["ObjectLockConfiguration"]["ObjectLockEnabled"] == "Enabled"
    with s3_error(409, "InvalidBucketState"):
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    with s3_error(400, "InvalidArgument"):
        s3.put_object(Bucket=bucket, Key="past", Body=b"x", ObjectLockMode="GOVERNANCE",
                      ObjectLockRetainUntilDate=now_plus(days=-1))
