"""The cluster.env file `scripts/cluster.sh up` writes, for the e2e and cluster suites."""

from __future__ import annotations

import pathlib


def read_cluster_env(path: str) -> dict[str, str]:
    """KEY=VALUE lines of a cluster.env (values may be double-quoted)."""
    env = {}
    for line in pathlib.Path(path).read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            env[key.strip()] = value.strip().strip('"')
    return env
