"""Lifecycle rules (issue 15, point 4): the configuration's round trip and refusals, and the
background pass applying it on a server whose lifecycle "day" lasts 2 s and which runs a
pass every second — expiring `tmp/` objects and aborting an old upload within one such
day, expiring noncurrent versions beyond the newest kept, removing lone delete markers,
and never deleting a version Object Lock protects."""

from __future__ import annotations

import datetime
import time

import pytest

from test_fsck import ServerOn
from test_operations import scrape, value

DAY_SECONDS = 2


@pytest.fixture
def fast_days(tmp_path):
    server = ServerOn(tmp_path / "server", tmp_path / "data", "--lifecycle-interval", "1",
                      "--lifecycle-day-seconds", str(DAY_SECONDS))
    server.start()
    server.wait_ready()
    yield server
    server.stop()


def wait_until(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {seconds} s"
        time.sleep(0.25)


def keys(s3, bucket):
    return sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))


def test_configuration_round_trip_and_refusals(s3, bucket, s3_error):
    with s3_error(404, "NoSuchLifecycleConfiguration"):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    rules = [
        {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 3},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
        {"ID": "big-logs", "Status": "Disabled",
         "Filter": {"And": {"Prefix": "logs/", "ObjectSizeGreaterThan": 1000, "Tags": [{"Key": "k", "Value": "v"}]}},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}},
        {"ID": "markers", "Status": "Enabled", "Filter": {}, "Expiration": {"ExpiredObjectDeleteMarker": True}},
        {"ID": "dated", "Status": "Enabled", "Filter": {"ObjectSizeLessThan": 10},
         "Expiration": {"Date": datetime.datetime(2030, 1, 1, tzinfo=datetime.timezone.utc)}},
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["tmp", "big-logs", "markers", "dated"]
    assert got[0]["Filter"] == {"Prefix": "tmp/"} and got[0]["Expiration"] == {"Days": 3}
    assert got[0]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert got[1]["Status"] == "Disabled"
    assert got[1]["Filter"]["And"] == {"Prefix": "logs/", "ObjectSizeGreaterThan": 1000, "Tags": [{"Key": "k", "Value": "v"}]}
    assert got[1]["NoncurrentVersionExpiration"] == {"NoncurrentDays": 7, "NewerNoncurrentVersions": 2}
    assert got[2]["Expiration"] == {"ExpiredObjectDeleteMarker": True}
    assert got[3]["Expiration"]["Date"].year == 2030 and got[3]["Filter"] == {"ObjectSizeLessThan": 10}
    # Transitions would move data to a tier that does not exist: refused, nothing changed.
    with s3_error(501, "NotImplemented"):
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "t", "Status": "Enabled", "Filter": {}, "Transitions": [{"Days": 30, "StorageClass": "GLACIER"}]}]})
    with s3_error(400, "InvalidArgument"):
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "none", "Status": "Enabled", "Filter": {}}]})
    with s3_error(400, "InvalidArgument"):
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [
            {"ID": "same", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 1}},
            {"ID": "same", "Status": "Enabled", "Filter": {}, "Expiration": {"Days": 2}}]})
    assert len(s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]) == 4
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with s3_error(404, "NoSuchLifecycleConfiguration"):
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)


def test_tmp_objects_expire_and_an_old_upload_is_aborted_within_one_day(fast_days):
    s3 = fast_days.client()
    s3.create_bucket(Bucket="expiring")
    s3.put_bucket_lifecycle_configuration(Bucket="expiring", LifecycleConfiguration={"Rules": [
        {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1},
         "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}}]})
    for key in ["tmp/step-1/a", "tmp/step-1/b", "final/step-1/a"]:
        s3.put_object(Bucket="expiring", Key=key, Body=key.encode())
    upload = s3.create_multipart_upload(Bucket="expiring", Key="tmp/step-2/shard")["UploadId"]
    s3.upload_part(Bucket="expiring", Key="tmp/step-2/shard", UploadId=upload, PartNumber=1, Body=b"p" * 1000)
    kept = s3.create_multipart_upload(Bucket="expiring", Key="final/upload")["UploadId"]
    assert keys(s3, "expiring") == ["final/step-1/a", "tmp/step-1/a", "tmp/step-1/b"], "younger than a day: kept"
    wait_until(lambda: keys(s3, "expiring") == ["final/step-1/a"], 4 * DAY_SECONDS, "expiring tmp/")
    wait_until(lambda: [u["UploadId"] for u in s3.list_multipart_uploads(Bucket="expiring").get("Uploads", [])] == [kept],
               4 * DAY_SECONDS, "aborting the tmp/ upload")
    samples = scrape(f"http://127.0.0.1:{fast_days.port}")
    assert value(samples, "stowage_lifecycle_actions_total", action="expire_object") == 2
    assert value(samples, "stowage_lifecycle_actions_total", action="abort_upload") == 1
    s3.abort_multipart_upload(Bucket="expiring", Key="final/upload", UploadId=kept)


def test_noncurrent_versions_and_lone_markers_expire_but_locked_versions_stay(fast_days):
    s3 = fast_days.client()
    s3.create_bucket(Bucket="aging", ObjectLockEnabledForBucket=True)
    locked = s3.put_object(Bucket="aging", Key="locked", Body=b"kept", ObjectLockMode="COMPLIANCE",
                           ObjectLockRetainUntilDate=datetime.datetime.now(datetime.timezone.utc)
                           + datetime.timedelta(seconds=60))["VersionId"]
    s3.put_object(Bucket="aging", Key="locked", Body=b"newer")
    s3.put_object(Bucket="aging", Key="locked", Body=b"newest")   # the locked version is now the second noncurrent
    versions = [s3.put_object(Bucket="aging", Key="k", Body=f"v{n}".encode())["VersionId"] for n in range(4)]
    s3.put_object(Bucket="aging", Key="gone", Body=b"x")
    gone_version = s3.list_object_versions(Bucket="aging", Prefix="gone")["Versions"][0]["VersionId"]
    s3.delete_object(Bucket="aging", Key="gone")
    s3.delete_object(Bucket="aging", Key="gone", VersionId=gone_version)   # only the marker is left
    s3.put_bucket_lifecycle_configuration(Bucket="aging", LifecycleConfiguration={"Rules": [
        {"ID": "old", "Status": "Enabled", "Filter": {},
         "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 1},
         "Expiration": {"ExpiredObjectDeleteMarker": True}}]})

    def listed(key):
        page = s3.list_object_versions(Bucket="aging", Prefix=key)
        return [v["VersionId"] for v in page.get("Versions", []) if v["Key"] == key], \
            [m["VersionId"] for m in page.get("DeleteMarkers", []) if m["Key"] == key]

    # k: current v3, newest noncurrent v2 kept, v1 and v0 expired.
    wait_until(lambda: listed("k")[0] == [versions[3], versions[2]], 4 * DAY_SECONDS, "expiring noncurrent versions")
    wait_until(lambda: listed("gone") == ([], []), 4 * DAY_SECONDS, "removing the lone delete marker")
    # The locked version is past its noncurrent days, yet kept (and counted).
    wait_until(lambda: value(scrape(f"http://127.0.0.1:{fast_days.port}"), "stowage_lifecycle_actions_total",
                             action="kept_locked") >= 1, 4 * DAY_SECONDS, "a pass meeting the locked version")
    assert locked in listed("locked")[0]
    assert s3.get_object(Bucket="aging", Key="locked", VersionId=locked)["Body"].read() == b"kept"


def test_expiration_in_a_versioned_bucket_adds_a_delete_marker(fast_days):
    s3 = fast_days.client()
    s3.create_bucket(Bucket="marked")
    s3.put_bucket_versioning(Bucket="marked", VersioningConfiguration={"Status": "Enabled"})
    version = s3.put_object(Bucket="marked", Key="tmp/x", Body=b"x")["VersionId"]
    s3.put_bucket_lifecycle_configuration(Bucket="marked", LifecycleConfiguration={"Rules": [
        {"ID": "tmp", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 1}}]})
    wait_until(lambda: keys(s3, "marked") == [], 4 * DAY_SECONDS, "expiring tmp/x")
    listing = s3.list_object_versions(Bucket="marked")
    assert [v["VersionId"] for v in listing["Versions"]] == [version], "the expired version is kept, noncurrent"
    assert [m["IsLatest"] for m in listing["DeleteMarkers"]] == [True]


def test_a_tag_filter_expires_only_tagged_objects(fast_days):
    s3 = fast_days.client()
    s3.create_bucket(Bucket="tagged")
    s3.put_object(Bucket="tagged", Key="logs/scratch", Body=b"x", Tagging="kind=scratch&team=ml")
    s3.put_object(Bucket="tagged", Key="logs/keep", Body=b"x", Tagging="kind=audit")
    s3.put_object(Bucket="tagged", Key="logs/plain", Body=b"x")
    s3.put_bucket_lifecycle_configuration(Bucket="tagged", LifecycleConfiguration={"Rules": [
        {"ID": "scratch", "Status": "Enabled",
         "Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "kind", "Value": "scratch"}]}},
         "Expiration": {"Days": 1}}]})
    wait_until(lambda: keys(s3, "tagged") == ["logs/keep", "logs/plain"], 4 * DAY_SECONDS, "expiring the tagged object")
    time.sleep(DAY_SECONDS)
    assert keys(s3, "tagged") == ["logs/keep", "logs/plain"]
