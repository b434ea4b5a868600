"""Near-duplicate detection: MinHash signatures (`minhash`), banded into LSH keys (`lsh`: the S-curve, bands × rows)."""

from curate.dedup.lsh import choose_bands_rows, detection_probability
from curate.dedup.minhash import DEFAULT_BANDS, DEFAULT_ROWS, MinHasher, band_keys, true_jaccard

__all__ = [
    "DEFAULT_BANDS",
    "DEFAULT_ROWS",
    "MinHasher",
    "band_keys",
    "choose_bands_rows",
    "detection_probability",
    "true_jaccard",
]
