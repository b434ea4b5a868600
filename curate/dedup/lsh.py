"""LSH theory for MinHash banding: how likely a pair of a given Jaccard similarity becomes a candidate, and which
bands × rows to use for a Jaccard threshold. Band keys themselves are computed in `minhash.band_keys`.
"""

from __future__ import annotations

import functools

import numpy as np

from curate.dedup.minhash import DEFAULT_NUM_PERM


def detection_probability(s: float | np.ndarray, bands: int, rows: int) -> float | np.ndarray:
    """Probability that LSH with `bands` × `rows` makes two documents of Jaccard similarity `s` candidates."""
    return 1.0 - (1.0 - np.asarray(s, dtype=float) ** rows) ** bands


@functools.lru_cache(maxsize=64)
def choose_bands_rows(
    threshold: float,
    num_perm: int = DEFAULT_NUM_PERM,
    false_positive_weight: float = 0.5,
    false_negative_weight: float = 0.5,
) -> tuple[int, int]:
    """(bands, rows) with bands × rows ≤ num_perm for a Jaccard `threshold`, by datasketch's optimiser.

    It minimises the weighted areas under the S-curve below the threshold (false positives) and above it (false
    negatives), the same choice `datasketch.MinHashLSH(threshold=...)` makes. Takes about 0.3 s for 112
    permutations (a numerical integration per candidate pair), hence the cache.
    """
    from datasketch.lsh import _optimal_param  # private, but it is the optimiser MinHashLSH itself uses

    if not 0.0 < threshold < 1.0:
        raise ValueError(f"threshold must be strictly between 0 and 1, got {threshold}")
    if num_perm < 1:
        raise ValueError(f"num_perm must be at least 1, got {num_perm}")
    bands, rows = _optimal_param(threshold, num_perm, false_positive_weight, false_negative_weight)
    return int(bands), int(rows)
