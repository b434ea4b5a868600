"""The one data setting: CURATE_DATA, the shared data folder (default ../shared/data), and `${VAR}` expansion."""

from __future__ import annotations

import os

DEFAULT_DATA = os.path.join("..", "shared", "data")


def expand(path: str) -> str:
    """`${CURATE_DATA}/x` and other `${VAR}`s; CURATE_DATA falls back to ../shared/data when unset."""
    env = dict(os.environ)
    env.setdefault("CURATE_DATA", DEFAULT_DATA)
    for key, value in env.items():
        path = path.replace("${" + key + "}", value).replace("$" + key + "/", value + "/")
    return path
