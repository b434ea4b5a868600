"""Near-duplicate detection: MinHash signatures (`minhash`), banded into LSH keys."""

from curate.dedup.minhash import (
    DEFAULT_BANDS,
    DEFAULT_ROWS,
    MinHasher,
    band_keys,
    choose_bands_rows,
    detection_probability,
    true_jaccard,
)

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_ROWS",
    "MinHasher",
    "band_keys",
    "choose_bands_rows",
    "detection_probability",
    "true_jaccard",
]
