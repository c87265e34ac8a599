"""ACLs and Object Ownership (issue 16, point 4, and the ACL half of point 5):
Get/PutBucketAcl, Get/PutObjectAcl, the canned ACLs and explicit grants (headers and
AccessControlPolicy documents), `x-amz-acl`/`x-amz-grant-*` on CreateBucket, PUT, Copy and
CreateMultipartUpload, ownership controls (BucketOwnerEnforced — the default — disables
ACLs), PublicAccessBlock's ACL settings, and RenameObject keeping an object's ACL. Every
refusal changes nothing."""

from __future__ import annotations

import uuid

import pytest
import requests

from test_prefix_rename import body_xml, rename_prefix
from test_users import client, code_of, new_user

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


@pytest.fixture
def pair(s3_endpoint, tmp_path):
    """alice owns a bucket with ACLs enabled (ObjectWriter); bob is another user."""
    url = s3_endpoint.url
    alice_name, *alice_key = new_user(s3_endpoint, tmp_path)
    bob_name, *bob_key = new_user(s3_endpoint, tmp_path)
    alice, bob = client(url, *alice_key), client(url, *bob_key)
    bucket = "acl-" + uuid.uuid4().hex[:12]
    alice.create_bucket(Bucket=bucket, ObjectOwnership="ObjectWriter")
    return type("Pair", (), dict(url=url, alice=alice, bob=bob, alice_name=alice_name, bob_name=bob_name, bucket=bucket))


def unsigned(method: str, url: str, **kwargs) -> requests.Response:
    return requests.request(method, url, timeout=10, **kwargs)


def grants(acl: dict) -> set[tuple[str, str]]:
    """(grantee, permission) of a Get*Acl answer: grantee an ID or a group URI."""
    return {(g["Grantee"].get("ID") or g["Grantee"].get("URI"), g["Permission"]) for g in acl["Grants"]}


def test_a_new_bucket_is_owner_enforced(s3, s3_error, bucket, bucket_name_factory):
    with s3_error(404, "OwnershipControlsNotFoundError"):
        s3.get_bucket_ownership_controls(Bucket=bucket)
    acl = s3.get_bucket_acl(Bucket=bucket)
    assert acl["Owner"]["ID"] == "stowage"
    assert grants(acl) == {("stowage", "FULL_CONTROL")}
    with s3_error(400, "AccessControlListNotSupported"):
        s3.put_bucket_acl(Bucket=bucket, ACL="public-read")
    assert grants(s3.get_bucket_acl(Bucket=bucket)) == {("stowage", "FULL_CONTROL")}
    # What BucketOwnerEnforced accepts: ACLs that say "the owner, nobody else".
    s3.put_bucket_acl(Bucket=bucket, ACL="private")
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="bucket-owner-full-control")
    s3.put_object_acl(Bucket=bucket, Key="k", ACL="private")
    with s3_error(400, "AccessControlListNotSupported"):
        s3.put_object_acl(Bucket=bucket, Key="k", ACL="public-read")
    assert grants(s3.get_object_acl(Bucket=bucket, Key="k")) == {("stowage", "FULL_CONTROL")}


def test_a_public_read_object_is_fetched_by_an_unsigned_get(pair):
    alice, bucket = pair.alice, pair.bucket
    alice.put_object(Bucket=bucket, Key="open", Body=b"for everyone", ACL="public-read")
    alice.put_object(Bucket=bucket, Key="closed", Body=b"for alice")
    got = unsigned("GET", f"{pair.url}/{bucket}/open")
    assert got.status_code == 200 and got.content == b"for everyone"
    assert unsigned("HEAD", f"{pair.url}/{bucket}/open").status_code == 200
    assert unsigned("GET", f"{pair.url}/{bucket}/closed").status_code == 403
    # The object's ACL grants reading it, nothing else: not listing, not writing.
    assert unsigned("GET", f"{pair.url}/{bucket}").status_code == 403
    assert unsigned("PUT", f"{pair.url}/{bucket}/open", data=b"overwritten").status_code == 403
    assert unsigned("DELETE", f"{pair.url}/{bucket}/open").status_code == 403
    assert alice.get_object(Bucket=bucket, Key="open")["Body"].read() == b"for everyone"
    acl = alice.get_object_acl(Bucket=bucket, Key="open")
    assert acl["Owner"]["ID"] == pair.alice_name
    assert grants(acl) == {(pair.alice_name, "FULL_CONTROL"), (ALL_USERS, "READ")}
    assert {g["Grantee"]["Type"] for g in acl["Grants"]} == {"CanonicalUser", "Group"}


@pytest.mark.parametrize("canned, expected", [
    ("private", set()),
    ("public-read", {(ALL_USERS, "READ")}),
    ("public-read-write", {(ALL_USERS, "READ"), (ALL_USERS, "WRITE")}),
    ("authenticated-read", {(AUTHENTICATED, "READ")}),
    ("bucket-owner-read", {("alice", "READ")}),
    ("bucket-owner-full-control", {("alice", "FULL_CONTROL")}),
])
def test_canned_acls_expand_as_s3_defines_them(pair, canned, expected):
    """bob writes into alice's bucket (its ACL lets him write): bob owns what he writes
    (ObjectWriter), and the canned ACL adds its grants to his FULL_CONTROL."""
    alice, bob, bucket = pair.alice, pair.bob, pair.bucket
    alice.put_bucket_acl(Bucket=bucket, GrantFullControl=f'id="{pair.alice_name}"', GrantWrite=f'id="{pair.bob_name}"')
    bob.put_object(Bucket=bucket, Key="k", Body=b"bob's", ACL=canned)
    acl = bob.get_object_acl(Bucket=bucket, Key="k")
    assert acl["Owner"]["ID"] == pair.bob_name
    expected = {(pair.alice_name if who == "alice" else who, what) for who, what in expected}
    assert grants(acl) == {(pair.bob_name, "FULL_CONTROL")} | expected


def test_grants_by_header_and_by_document(pair, s3_error):
    """A second user gets 403 until the owner grants READ; then it may read, not write,
    and not read the ACL until READ_ACP is granted too (an AccessControlPolicy body)."""
    alice, bob, bucket = pair.alice, pair.bob, pair.bucket
    alice.put_object(Bucket=bucket, Key="doc", Body=b"v1")
    assert code_of(lambda: bob.get_object(Bucket=bucket, Key="doc"))[0] == 403
    alice.put_object_acl(Bucket=bucket, Key="doc", GrantRead=f'id="{pair.bob_name}"')
    assert bob.get_object(Bucket=bucket, Key="doc")["Body"].read() == b"v1"
    assert code_of(lambda: bob.put_object(Bucket=bucket, Key="doc", Body=b"bob's")) == (403, "AccessDenied")
    assert code_of(lambda: bob.get_object_acl(Bucket=bucket, Key="doc")) == (403, "AccessDenied")
    assert code_of(lambda: bob.put_object_acl(Bucket=bucket, Key="doc", ACL="public-read")) == (403, "AccessDenied")
    owner = {"ID": pair.alice_name}
    alice.put_object_acl(Bucket=bucket, Key="doc", AccessControlPolicy={"Owner": owner, "Grants": [
        {"Grantee": {"Type": "CanonicalUser", "ID": pair.alice_name}, "Permission": "FULL_CONTROL"},
        {"Grantee": {"Type": "CanonicalUser", "ID": pair.bob_name}, "Permission": "READ"},
        {"Grantee": {"Type": "CanonicalUser", "ID": pair.bob_name}, "Permission": "READ_ACP"},
    ]})
    assert grants(bob.get_object_acl(Bucket=bucket, Key="doc")) == {
        (pair.alice_name, "FULL_CONTROL"), (pair.bob_name, "READ"), (pair.bob_name, "READ_ACP")}
    before = alice.get_object_acl(Bucket=bucket, Key="doc")["Grants"]
    # Refusals change nothing: an unknown id, an e-mail grantee, a canned ACL and grants at once.
    with s3_error(400, "InvalidArgument"):
        alice.put_object_acl(Bucket=bucket, Key="doc", GrantRead='id="nobody-here"')
    with s3_error(400, "UnresolvableGrantByEmailAddress"):
        alice.put_object_acl(Bucket=bucket, Key="doc", GrantRead='emailAddress="bob@example.com"')
    with s3_error(400, "InvalidRequest"):
        alice.put_object_acl(Bucket=bucket, Key="doc", ACL="public-read", GrantRead=f'id="{pair.bob_name}"')
    with s3_error(400, "MalformedACLError"):
        alice.put_object_acl(Bucket=bucket, Key="doc", AccessControlPolicy={"Owner": owner, "Grants": [
            {"Grantee": {"Type": "CanonicalUser", "ID": pair.bob_name}, "Permission": "EVERYTHING"}]})
    with s3_error(403, "AccessDenied"):
        alice.put_object_acl(Bucket=bucket, Key="doc", AccessControlPolicy={"Owner": {"ID": pair.bob_name}, "Grants": []})
    assert alice.get_object_acl(Bucket=bucket, Key="doc")["Grants"] == before


def test_bucket_acl_grants_listing_and_writing(pair):
    alice, bob, bucket = pair.alice, pair.bob, pair.bucket
    alice.put_object(Bucket=bucket, Key="a", Body=b"alice's")
    assert code_of(lambda: bob.list_objects_v2(Bucket=bucket))[0] == 403
    alice.put_bucket_acl(Bucket=bucket, GrantFullControl=f'id="{pair.alice_name}"',
                         GrantRead=f'id="{pair.bob_name}"', GrantWrite=f'id="{pair.bob_name}"')
    assert [o["Key"] for o in bob.list_objects_v2(Bucket=bucket)["Contents"]] == ["a"]
    bob.put_object(Bucket=bucket, Key="b", Body=b"bob's")
    # bob owns what he wrote (ObjectWriter): he reads it back; alice's object stays hers.
    assert bob.get_object(Bucket=bucket, Key="b")["Body"].read() == b"bob's"
    assert bob.get_object_acl(Bucket=bucket, Key="b")["Owner"]["ID"] == pair.bob_name
    assert code_of(lambda: bob.get_object(Bucket=bucket, Key="a"))[0] == 403
    # The bucket's owner keeps full control of everything in its bucket.
    assert alice.get_object(Bucket=bucket, Key="b")["Body"].read() == b"bob's"
    assert code_of(lambda: bob.get_bucket_acl(Bucket=bucket)) == (403, "AccessDenied")
    assert code_of(lambda: bob.put_bucket_acl(Bucket=bucket, ACL="public-read-write")) == (403, "AccessDenied")
    listed = {o["Key"]: o["Owner"]["ID"] for o in alice.list_objects(Bucket=bucket)["Contents"]}
    assert listed == {"a": pair.alice_name, "b": pair.bob_name}
    listed = {o["Key"]: o["Owner"]["ID"] for o in alice.list_objects_v2(Bucket=bucket, FetchOwner=True)["Contents"]}
    assert listed == {"a": pair.alice_name, "b": pair.bob_name}
    bob.delete_object(Bucket=bucket, Key="a")   # WRITE on the bucket: deleting any object
    assert [o["Key"] for o in alice.list_objects_v2(Bucket=bucket)["Contents"]] == ["b"]


def test_bucket_owner_preferred_takes_ownership_with_bucket_owner_full_control(pair):
    alice, bob, bucket = pair.alice, pair.bob, pair.bucket
    alice.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerPreferred"}]})
    alice.put_bucket_acl(Bucket=bucket, GrantFullControl=f'id="{pair.alice_name}"', GrantWrite=f'id="{pair.bob_name}"')
    bob.put_object(Bucket=bucket, Key="given", Body=b"x", ACL="bucket-owner-full-control")
    bob.put_object(Bucket=bucket, Key="kept", Body=b"y")
    assert alice.get_object_acl(Bucket=bucket, Key="given")["Owner"]["ID"] == pair.alice_name
    assert alice.get_object_acl(Bucket=bucket, Key="kept")["Owner"]["ID"] == pair.bob_name
    assert code_of(lambda: bob.get_object(Bucket=bucket, Key="given"))[0] == 403


def test_public_read_write_and_authenticated_read_buckets(s3_endpoint, tmp_path, pair):
    alice, bucket, url = pair.alice, pair.bucket, pair.url
    assert unsigned("PUT", f"{url}/{bucket}/anon", data=b"anonymous").status_code == 403
    alice.put_bucket_acl(Bucket=bucket, ACL="public-read-write")
    assert unsigned("PUT", f"{url}/{bucket}/anon", data=b"anonymous").status_code == 200
    listing = unsigned("GET", f"{url}/{bucket}?list-type=2")
    assert listing.status_code == 200 and b"<Key>anon</Key>" in listing.content
    assert alice.get_object(Bucket=bucket, Key="anon")["Body"].read() == b"anonymous"
    alice.put_bucket_acl(Bucket=bucket, ACL="authenticated-read")
    assert unsigned("GET", f"{url}/{bucket}?list-type=2").status_code == 403
    assert [o["Key"] for o in pair.bob.list_objects_v2(Bucket=bucket)["Contents"]] == ["anon"]
    assert code_of(lambda: pair.bob.put_object(Bucket=bucket, Key="bob", Body=b"x"))[0] == 403


def test_create_bucket_with_an_acl_and_ownership(pair, s3_error):
    bob = pair.bob
    name = "acl-made-" + uuid.uuid4().hex[:10]
    bob.create_bucket(Bucket=name, ACL="public-read", ObjectOwnership="BucketOwnerPreferred")
    assert bob.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"] == [
        {"ObjectOwnership": "BucketOwnerPreferred"}]
    assert grants(bob.get_bucket_acl(Bucket=name)) == {(pair.bob_name, "FULL_CONTROL"), (ALL_USERS, "READ")}
    assert unsigned("GET", f"{pair.url}/{name}").status_code == 200
    with s3_error(400, "MalformedXML"):
        bob.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "Nobody"}]})
    # Enforcing ownership beside a public bucket ACL is refused; made private first, it is taken.
    with s3_error(400, "InvalidBucketAclWithObjectOwnership"):
        bob.put_bucket_ownership_controls(Bucket=name, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert bob.get_bucket_ownership_controls(Bucket=name)["OwnershipControls"]["Rules"][0]["ObjectOwnership"] == "BucketOwnerPreferred"
    bob.put_bucket_acl(Bucket=name, ACL="private")
    bob.delete_bucket_ownership_controls(Bucket=name)
    with s3_error(404, "OwnershipControlsNotFoundError"):
        bob.get_bucket_ownership_controls(Bucket=name)
    with s3_error(400, "AccessControlListNotSupported"):
        bob.put_bucket_acl(Bucket=name, ACL="public-read")


def test_enforcing_ownership_disables_object_acls_and_enabling_restores_them(pair):
    alice, bucket, url = pair.alice, pair.bucket, pair.url
    alice.put_object(Bucket=bucket, Key="open", Body=b"x", ACL="public-read")
    assert unsigned("GET", f"{url}/{bucket}/open").status_code == 200
    alice.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]})
    assert unsigned("GET", f"{url}/{bucket}/open").status_code == 403
    alice.put_bucket_ownership_controls(Bucket=bucket, OwnershipControls={"Rules": [{"ObjectOwnership": "ObjectWriter"}]})
    assert unsigned("GET", f"{url}/{bucket}/open").status_code == 200


def test_rename_keeps_the_acl_and_copy_does_not(pair, raw):
    alice, bucket, url = pair.alice, pair.bucket, pair.url
    alice.put_object(Bucket=bucket, Key="tmp/ckpt", Body=b"weights", ACL="public-read")
    alice.rename_object(Bucket=bucket, Key="final/ckpt", RenameSource="tmp/ckpt")
    got = unsigned("GET", f"{url}/{bucket}/final/ckpt")
    assert got.status_code == 200 and got.content == b"weights"
    assert unsigned("GET", f"{url}/{bucket}/tmp/ckpt").status_code == 403
    assert grants(alice.get_object_acl(Bucket=bucket, Key="final/ckpt")) == {(pair.alice_name, "FULL_CONTROL"), (ALL_USERS, "READ")}
    # A copy takes the request's ACL (private when none), never the source's.
    alice.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "final/ckpt"})
    assert unsigned("GET", f"{url}/{bucket}/copy").status_code == 403
    alice.copy_object(Bucket=bucket, Key="copy-public", CopySource={"Bucket": bucket, "Key": "final/ckpt"}, ACL="public-read")
    assert unsigned("GET", f"{url}/{bucket}/copy-public").status_code == 200
    # A prefix rename moves the ACLs with the keys.
    alice.put_object(Bucket=bucket, Key="stage/a", Body=b"a", ACL="public-read")
    alice.put_object(Bucket=bucket, Key="stage/b", Body=b"b")
    assert rename_prefix(raw, bucket, body_xml("stage/", "done/")).status_code == 200
    assert unsigned("GET", f"{url}/{bucket}/done/a").content == b"a"
    assert unsigned("GET", f"{url}/{bucket}/done/b").status_code == 403


def test_multipart_upload_with_an_acl(pair):
    alice, bucket, url = pair.alice, pair.bucket, pair.url
    upload = alice.create_multipart_upload(Bucket=bucket, Key="big", ACL="public-read")["UploadId"]
    part = alice.upload_part(Bucket=bucket, Key="big", UploadId=upload, PartNumber=1, Body=b"p" * 1024)
    alice.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload,
                                    MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]})
    got = unsigned("GET", f"{url}/{bucket}/big")
    assert got.status_code == 200 and got.content == b"p" * 1024


def test_public_access_block_blocks_and_ignores_public_acls(pair, s3_error):
    alice, bucket, url = pair.alice, pair.bucket, pair.url
    alice.put_object(Bucket=bucket, Key="open", Body=b"x", ACL="public-read")
    alice.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"BlockPublicAcls": True})
    with s3_error(403, "AccessDenied"):
        alice.put_object(Bucket=bucket, Key="new", Body=b"y", ACL="public-read")
    assert code_of(lambda: alice.head_object(Bucket=bucket, Key="new"))[0] == 404
    with s3_error(403, "AccessDenied"):
        alice.put_bucket_acl(Bucket=bucket, ACL="public-read")
    with s3_error(403, "AccessDenied"):
        alice.put_object_acl(Bucket=bucket, Key="open", GrantRead=f'uri="{AUTHENTICATED}"')
    # Existing public ACLs still count until IgnorePublicAcls.
    assert unsigned("GET", f"{url}/{bucket}/open").status_code == 200
    alice.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={"IgnorePublicAcls": True})
    assert unsigned("GET", f"{url}/{bucket}/open").status_code == 403
    alice.delete_public_access_block(Bucket=bucket)
    assert unsigned("GET", f"{url}/{bucket}/open").status_code == 200


def test_each_version_has_its_own_acl(pair):
    alice, bucket, url = pair.alice, pair.bucket, pair.url
    alice.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = alice.put_object(Bucket=bucket, Key="v", Body=b"one", ACL="public-read")["VersionId"]
    alice.put_object(Bucket=bucket, Key="v", Body=b"two")
    assert unsigned("GET", f"{url}/{bucket}/v").status_code == 403
    got = unsigned("GET", f"{url}/{bucket}/v?versionId={first}")
    assert got.status_code == 200 and got.content == b"one"
    assert (ALL_USERS, "READ") in grants(alice.get_object_acl(Bucket=bucket, Key="v", VersionId=first))
    alice.put_object_acl(Bucket=bucket, Key="v", VersionId=first, ACL="private")
    assert unsigned("GET", f"{url}/{bucket}/v?versionId={first}").status_code == 403


def test_the_aws_cli_and_s3cmd_set_acls(aws_cli, s3cmd, s3, bucket_name_factory, s3_endpoint, tmp_path):
    name = bucket_name_factory("cli-acl")
    s3.create_bucket(Bucket=name, ObjectOwnership="ObjectWriter")
    source = tmp_path / "file.txt"
    source.write_bytes(b"from the cli")
    aws_cli("s3", "cp", str(source), f"s3://{name}/cli.txt", "--acl", "public-read")
    assert unsigned("GET", f"{s3_endpoint.url}/{name}/cli.txt").content == b"from the cli"
    s3.put_object(Bucket=name, Key="s3cmd.txt", Body=b"via s3cmd")
    assert unsigned("GET", f"{s3_endpoint.url}/{name}/s3cmd.txt").status_code == 403
    s3cmd("setacl", "--acl-public", f"s3://{name}/s3cmd.txt")
    assert unsigned("GET", f"{s3_endpoint.url}/{name}/s3cmd.txt").content == b"via s3cmd"
    s3cmd("setacl", "--acl-private", f"s3://{name}/s3cmd.txt")
    assert unsigned("GET", f"{s3_endpoint.url}/{name}/s3cmd.txt").status_code == 403


def test_expected_bucket_owner_is_the_owners_canonical_id(pair, s3, s3_error):
    alice, bucket = pair.alice, pair.bucket
    alice.put_object(Bucket=bucket, Key="k", Body=b"x", ExpectedBucketOwner=pair.alice_name)
    assert s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner=pair.alice_name)["Body"].read() == b"x"
    with s3_error(403, "AccessDenied"):
        s3.get_object(Bucket=bucket, Key="k", ExpectedBucketOwner="stowage")
    with s3_error(403, "AccessDenied"):
        alice.put_object(Bucket=bucket, Key="other", Body=b"y", ExpectedBucketOwner=pair.bob_name)
    assert code_of(lambda: alice.head_object(Bucket=bucket, Key="other"))[0] == 404
    with s3_error(403, "AccessDenied"):
        alice.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"},
                          ExpectedSourceBucketOwner="stowage")
    alice.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "k"},
                      ExpectedSourceBucketOwner=pair.alice_name)
