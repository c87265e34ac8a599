"""The crash-safety soak (Tests/soak/soak.py, `make soak` runs 50 cycles), short: three
SIGKILL cycles of the real server under the mixed workload, each followed by fsck on the
stopped directory and a restart checked key by key against the model. Starts its own
server, whatever STOWAGE_E2E_ENDPOINT says."""

import os
import pathlib
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "Tests" / "soak"))
import soak  # noqa: E402

CYCLES = 3
SERVE_ARGS = ["--segment-size", "8", "--compaction-interval", "1", "--compaction-threshold", "0.3"]


def test_short_soak_loses_nothing(tmp_path):
    binary = pathlib.Path(os.environ.get("STOWAGE_BIN", REPO / ".build" / "debug" / "stowage"))
    if not binary.is_file():
        pytest.fail(f"stowage binary not found at {binary}: build it or set STOWAGE_BIN", pytrace=False)
    # Small segments and a compaction pass every second: kills land during compaction too.
    stats = soak.run(cycles=CYCLES, workers=4, workdir=tmp_path, binary=binary, log=lambda _: None,
                     serve_args=SERVE_ARGS)
    report = soak.summary(stats)
    print(report)
    assert stats.violations == [], report
    assert stats.cycles == CYCLES and stats.kills == CYCLES, report
    assert stats.lost == 0 and stats.half_visible == 0, report
    # Real work was done before the kills (the mix is random: at least several kinds).
    assert sum(stats.acked.values()) >= 3 * CYCLES, report
    assert len(stats.acked) >= 4, report
    # fsck ran after every kill and once after the final SIGTERM, each time clean, offline.
    assert len(stats.fsck) == CYCLES + 1, report
    assert all(e["exit"] == 0 and e["clean"] is True and e["live"] is False for e in stats.fsck), report
    assert stats.clean_stop is True, report
    assert stats.replays > 0, report
    # Encrypted (SSE-S3, SSE-KMS) and tagged objects were among those read back after kills.
    assert stats.encrypted_checked > 0 and stats.tagged_checked > 0, report
