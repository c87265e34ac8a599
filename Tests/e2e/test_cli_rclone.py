"""rclone (Debian's), remote `stowage:` configured only through RCLONE_CONFIG_STOWAGE_*:
copy, ls, cat, check, delete, deletefile."""

import os
import re


def test_rclone_copy_ls_cat_check_delete(rclone, s3, bucket, tmp_path):
    files = {
        "a.txt": b"alpha via rclone\n",
        "sub/b.txt": b"bravo\n" * 1000,
        "sub/c.bin": os.urandom(70_000),
        "ünï cödé.txt": b"unicode\n",
    }
    local = tmp_path / "tree"
    for name, data in files.items():
        (local / name).parent.mkdir(parents=True, exist_ok=True)
        (local / name).write_bytes(data)
    remote = f"stowage:{bucket}/rc"

    rclone("copy", local, remote)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == sorted(f"rc/{name}" for name in files)
    for name, data in files.items():
        assert s3.get_object(Bucket=bucket, Key=f"rc/{name}")["Body"].read() == data

    listing = rclone("ls", remote)
    listed = {}
    for line in listing.stdout.splitlines():
        match = re.fullmatch(r"\s*(\d+) (.+)", line)
        assert match, f"unexpected rclone ls line {line!r}"
        listed[match.group(2)] = int(match.group(1))
    assert listed == {name: len(data) for name, data in files.items()}

    cat = rclone("cat", f"{remote}/a.txt")
    assert cat.stdout == "alpha via rclone\n"

    rclone("check", local, remote)  # sizes and MD5s (from ETags) agree

    rclone("delete", f"{remote}/sub")
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    assert keys == ["rc/a.txt", "rc/ünï cödé.txt"]
    rclone("delete", remote)
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    assert rclone("ls", remote).stdout.strip() == ""


def test_rclone_copy_back_and_deletefile(rclone, s3, bucket, tmp_path):
    data = os.urandom(1_500_000)
    s3.put_object(Bucket=bucket, Key="down/blob.bin", Body=data)
    out = tmp_path / "out"
    rclone("copy", f"stowage:{bucket}/down", out)
    assert (out / "blob.bin").read_bytes() == data
    rclone("deletefile", f"stowage:{bucket}/down/blob.bin")
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    missing = rclone.fails("deletefile", f"stowage:{bucket}/down/blob.bin")
    assert "doesn't exist" in missing.stderr, missing.stderr
