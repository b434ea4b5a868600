"""MinHash signatures of documents' word 5-grams, for a whole batch of documents in a few dozen numpy passes.

Why our own: datatrove's `MinhashDedupSignature` spends most of its time in spaCy's word splitter and hashes every
shingle with a Python call, and datasketch's `MinHash` hashes every shingle with a Python call too. Here no Python
code runs per word or per shingle: a batch of texts is encoded once as UTF-32 into a numpy array and all that follows
is array arithmetic. `bench/bench_minhash.py` measures the difference.

What a document's shingles are (the "text → set" half of MinHash):

- **Normalization**: Unicode NFKC (on by default, `nfkc=False` turns it off; it folds full-width forms, ligatures and
  other compatibility characters to their plain form; pure-ASCII texts skip the call, they are NFKC already), then
  lowercase: `str.lower` of each character on its own (by a lookup table), so the two exceptions to a one-to-one
  lowercase are settled per character: U+0130 İ → i (without the combining dot `str.lower` adds) and the Greek final
  sigma ς is folded to σ, so a word in capitals and the same word in lowercase hash the same.
- **Word splitter**: a word is a maximal run of word characters: those for which `str.isalnum()` is true, plus the
  combining marks (Unicode categories Mn, Mc, Me, so that Devanagari or Thai vowel signs do not cut words in two).
  Everything else (whitespace, punctuation, symbols, emoji, `_`, lone surrogates) only separates words:
  `"Don't-stop!"` is the three words `don`, `t`, `stop`. Scripts written without spaces (Chinese, Japanese) become
  one "word" per run of letters between punctuation marks, so their shingles are 5-grams of phrases: copies are
  still found, just more coarsely. `MinHasher.words(text)` shows the words of a text.
- **Shingles**: the consecutive word n-grams (default n = 5). A document with fewer than n words (but at least one)
  has a single shingle made of all its words. A document with no word at all has no shingle; its signature is
  `EMPTY` (2**32 - 1) in every position: deterministic, and the same for all such documents (so LSH puts all empty
  documents in one bucket; filter them out before dedup if that is not wanted).

Hashing uses only unsigned integer arithmetic that wraps (numpy's uint64 and uint32), so the values are the same on
every machine and in every process (no Python `hash()`, no per-process salt):

- word hash: the polynomial hash sum_j c_j * B**j mod 2**64 over the word's lowercased code points c_j (B odd),
  computed for all the words of a batch from one prefix sum: hash(s, e) = (P[e] - P[s]) * B**-s, B**-1 being B's
  inverse modulo 2**64; then the word length is added and splitmix64's finalizer mixes the result.
- shingle hash (64-bit, what `shingles()` returns): sum_k word_hash[i + k] * M_k mod 2**64 (odd constants M_k),
  mixed by the finalizer again.
- permutation i: h_i(x) = a_i * x mod 2**32, on x = the high 32 bits of the shingle hash, with a_i odd: a bijection
  of the 32-bit values. Signature value i = min over the document's shingles of h_i. Two documents agree in
  position i when the same shingle is the minimum of both, which happens with probability equal to the Jaccard
  similarity of their shingle sets. This is datasketch 2.0's default "affine32" scheme without the additive term:
  the input x is already the output of a 64-bit mixer, and with b_i or without it the agreement of 112 permutations
  on random sets of known Jaccard similarity is binomial (z-score variance 0.96 with b_i, 0.98 without, over 4,000
  pairs), while dropping it saves one of the three passes over the (permutations × shingles) block.
  32-bit values make signatures half the size; distinct shingles of two documents share a 32-bit x with
  probability about (shingles in the union)**2 / 2**33, negligible up to ~10**4 shingles and a slight upward bias
  far beyond.

The constants B and M_k are fixed, so `shingles()` is a function of the text alone; the a_i come from `seed`. All are
drawn from a splitmix64 stream in plain Python rather than from a numpy Generator, whose streams numpy does not
promise to keep across versions.

LSH on top: `band_keys` turns each band of `rows` signature values into one 64-bit key; the default banding is
FineWeb's 14 bands × 8 rows (112 permutations), and `choose_bands_rows` picks bands × rows for a Jaccard threshold
with datasketch's false-positive / false-negative optimiser.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence

import numpy as np

DEFAULT_N_GRAMS = 5
DEFAULT_BANDS = 14
DEFAULT_ROWS = 8
DEFAULT_NUM_PERM = DEFAULT_BANDS * DEFAULT_ROWS  # 112
DEFAULT_SEED = 1

EMPTY = np.uint32(2**32 - 1)
"""Every signature value of a document without words (the minimum over an empty set of shingles)."""

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_SHINGLE_SEED = 0x5EED_C0DE_0F_5EED  # fixes B and M_k: shingle hashes do not depend on the permutation seed

# Texts are processed in batches of about _BATCH_CHARS characters (arrays of ~30 bytes per character), and the
# permutations in blocks of num_perm × _CHUNK_SHINGLES uint32 values: small enough to stay in a core's cache, which
# is what made these sizes the fastest on the benchmark (2 MB L2); big enough that numpy's per-call cost is small.
_BATCH_CHARS = 1 << 18
_CHUNK_SHINGLES = 4096
# Power tables (16 bytes per character of the longest batch) are kept for the next batch up to this many characters;
# a longer single document gets tables of its own, dropped after it.
_KEEP_POWERS = 1 << 22


def _splitmix64(seed: int, count: int) -> list[int]:
    """`count` 64-bit values of the splitmix64 sequence started at `seed`: the same on every platform and version."""
    state = seed & _MASK64
    out = []
    for _ in range(count):
        state = (state + _GOLDEN) & _MASK64
        z = state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
        out.append(z ^ (z >> 31))
    return out


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place on a uint64 array (a bijection that spreads every input bit to all outputs)."""
    x ^= x >> np.uint64(30)
    x *= _MIX1
    x ^= x >> np.uint64(27)
    x *= _MIX2
    x ^= x >> np.uint64(31)
    return x


@functools.cache
def char_table() -> np.ndarray:
    """uint32 lookup table over all code points: 0 for a separator, else the character's lowercase code point.

    A word character is one for which `str.isalnum` is true, or a combining mark (category M*). Its lowercase is
    `str.lower` of the character alone (the first character where that gives two: U+0130 İ → i), and final sigma
    ς → σ. Built once per process (about 0.2 s); one gather into it lowercases and classifies a batch of text.
    """
    category = unicodedata.category
    is_word = np.fromiter(
        (chr(c).isalnum() or category(chr(c))[0] == "M" for c in range(0x110000)), dtype=bool, count=0x110000
    )
    word_chars = np.flatnonzero(is_word)
    table = np.zeros(0x110000, dtype=np.uint32)
    table[word_chars] = [ord(chr(c).lower()[0]) for c in word_chars.tolist()]
    table[ord("ς")] = ord("σ")  # str.lower gives ς or σ by position in the word, casefold always σ
    table.flags.writeable = False
    return table


def _inverse_mod_2_64(b: int) -> int:
    """The multiplicative inverse of an odd number modulo 2**64 (Newton's iteration doubles the correct bits)."""
    inv = b  # correct to 3 bits for any odd b
    for _ in range(6):
        inv = (inv * (2 - b * inv)) & _MASK64
    assert (inv * b) & _MASK64 == 1
    return inv


def _powers(base: int, count: int) -> np.ndarray:
    """base**0 .. base**(count-1) modulo 2**64 (numpy's uint64 cumprod wraps, which is the modulo)."""
    out = np.full(count, base, dtype=np.uint64)
    out[0] = 1
    np.cumprod(out, out=out)
    return out


class MinHasher:
    """MinHash signatures over word n-gram shingles: `num_perm` 32-bit values per document.

    `signatures(texts)` is the fast path: give it many texts at once (hundreds or more); it processes them in
    batches of about 256k characters. Results do not depend on how texts are batched.

    Not thread-safe: an instance keeps scratch arrays between calls, so use one per thread (or process). Pickling
    leaves the lookup and scratch tables behind; they are rebuilt on first use.
    """

    def __init__(
        self,
        n_grams: int = DEFAULT_N_GRAMS,
        num_perm: int = DEFAULT_NUM_PERM,
        seed: int = DEFAULT_SEED,
        *,
        nfkc: bool = True,
    ):
        if n_grams < 1:
            raise ValueError(f"n_grams must be at least 1, got {n_grams}")
        if num_perm < 1:
            raise ValueError(f"num_perm must be at least 1, got {num_perm}")
        self.n_grams = n_grams
        self.num_perm = num_perm
        self.seed = seed
        self.nfkc = nfkc

        constants = _splitmix64(_SHINGLE_SEED, 2 + n_grams)
        self._base = constants[0] | 1
        self._base_inv = _inverse_mod_2_64(self._base)
        self._length_mult = np.uint64(constants[1] | 1)
        self._gram_mults = [np.uint64(c | 1) for c in constants[2:]]

        # Odd multipliers: x → a_i * x mod 2**32 is then a bijection of the 32-bit values.
        self.a = np.array([(p >> 32) | 1 for p in _splitmix64(seed, num_perm)], dtype=np.uint32)
        self._a_col = self.a[:, None]  # the permutation pass works on a (num_perm × shingles) block, rows contiguous

        self._table = char_table()
        self._pow = np.ones(0, dtype=np.uint64)
        self._inv_pow = np.ones(0, dtype=np.uint64)
        self._scratch: dict[str, np.ndarray] = {}

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        for name in ("_table", "_pow", "_inv_pow", "_scratch"):
            del state[name]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._table = char_table()
        self._pow = np.ones(0, dtype=np.uint64)
        self._inv_pow = np.ones(0, dtype=np.uint64)
        self._scratch = {}

    # -- text → shingle hashes ------------------------------------------------------------------------------------

    def words(self, text: str) -> list[str]:
        """The words of `text` as they are hashed (normalized, lowercased), in order. For reading and tests: the
        hashing itself never builds these strings."""
        codes, _ = self._codes([text])
        starts, ends = self._word_spans(codes)
        return [codes[s:e].tobytes().decode("utf-32-le", "surrogatepass") for s, e in zip(starts, ends)]

    def shingles(self, text: str) -> np.ndarray:
        """The 64-bit hashes of the document's shingles (uint64), in document order, duplicates kept."""
        hashes, offsets = self._batch_shingles([text])
        return hashes[offsets[0] : offsets[1]].copy()

    def _codes(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """The batch as one array of lowercased code points, 0 for every non-word character, and where each text
        starts in it (len(texts) + 1 offsets; texts are joined by one space, a non-word character)."""
        if self.nfkc:  # ASCII text is already NFKC: skip the call, the common case on English web text
            texts = [t if t.isascii() else unicodedata.normalize("NFKC", t) for t in texts]
        lengths = np.fromiter((len(t) + 1 for t in texts), dtype=np.int64, count=len(texts))
        doc_starts = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(lengths, out=doc_starts[1:])
        # surrogatepass: a lone surrogate (from a bad decode) is just another non-word character, not an error.
        raw = np.frombuffer(" ".join(texts).encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
        return np.take(self._table, raw, out=self._buffer("codes", len(raw), np.uint32)), doc_starts

    def _word_spans(self, codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start and end (exclusive) offsets of every word: the maximal runs of nonzero codes."""
        is_word = self._buffer("is_word", len(codes) + 2, np.bool_)
        is_word[0] = is_word[-1] = False
        np.not_equal(codes, 0, out=is_word[1:-1])
        edges = np.flatnonzero(is_word[1:] != is_word[:-1])  # alternately a word's start and its end
        return edges[0::2], edges[1::2]

    def _buffer(self, name: str, size: int, dtype: type) -> np.ndarray:
        """A scratch array of `size` elements, kept between batches: a fresh one would cost a page fault per 4 KiB
        on every batch (5% of the run time on the benchmark). Its previous contents are garbage."""
        kept = self._scratch.get(name)
        if kept is None or len(kept) < size:
            kept = np.empty(max(size, 2 * _BATCH_CHARS), dtype=dtype)
            if size <= 4 * _BATCH_CHARS:
                self._scratch[name] = kept
        return kept[:size]

    def _powers_for(self, count: int) -> tuple[np.ndarray, np.ndarray]:
        """B**j and B**-j for j < count, from the kept tables, which grow when needed up to _KEEP_POWERS."""
        if count > _KEEP_POWERS:
            return _powers(self._base, count), _powers(self._base_inv, count)
        if len(self._pow) < count:
            size = min(max(count, 2 * len(self._pow), 1 << 16), _KEEP_POWERS)
            self._pow = _powers(self._base, size)
            self._inv_pow = _powers(self._base_inv, size)
        return self._pow, self._inv_pow

    def _batch_shingles(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Shingle hashes of all texts, concatenated (uint64), and offsets (len(texts) + 1) of each text's run."""
        codes, doc_starts = self._codes(texts)
        starts, ends = self._word_spans(codes)

        # Word hashes from one prefix sum of c_j * B**j over the whole batch, each then divided by B**start.
        powers, inverse_powers = self._powers_for(len(codes))
        prefix = self._buffer("prefix", len(codes) + 1, np.uint64)
        prefix[0] = 0
        np.multiply(codes, powers[: len(codes)], out=prefix[1:])
        np.cumsum(prefix, out=prefix)
        words = prefix[ends]
        words -= prefix[starts]
        del prefix
        words *= inverse_powers[starts]
        lengths = (ends - starts).astype(np.uint64)
        lengths *= self._length_mult
        words += lengths
        _mix(words)

        # Document d has words [first_word[d], first_word[d + 1]).
        first_word = np.searchsorted(starts, doc_starts)
        word_counts = np.diff(first_word)
        n = self.n_grams
        shingle_counts = np.where(word_counts >= n, word_counts - n + 1, np.minimum(word_counts, 1))
        offsets = np.zeros(len(texts) + 1, dtype=np.int64)
        np.cumsum(shingle_counts, out=offsets[1:])

        # The n-gram starting at every word (reading past a document's end: dropped or fixed below).
        total = len(words)
        padded = np.concatenate([words, np.zeros(n - 1, dtype=np.uint64)])
        grams = words * self._gram_mults[0]
        for k in range(1, n):
            grams += padded[k : k + total] * self._gram_mults[k]
        # Drop each document's last n - 1 start positions (all but the first for a document shorter than n words).
        keep = np.ones(total + 1, dtype=bool)
        ends_w, firsts = first_word[1:], first_word[:-1]
        for k in range(1, n):
            last = ends_w - k
            keep[last[last > firsts]] = False
        hashes = grams[keep[:total]]
        short = np.flatnonzero((word_counts > 0) & (word_counts < n))
        if len(short):  # their one shingle is all their words, none of the next document's
            first, count = firsts[short], word_counts[short]
            fixed = padded[first] * self._gram_mults[0]
            for k in range(1, n):
                fixed += np.where(k < count, padded[first + k], np.uint64(0)) * self._gram_mults[k]
            hashes[offsets[short]] = fixed
        return _mix(hashes), offsets

    # -- shingle hashes → signatures ------------------------------------------------------------------------------

    def signatures(self, texts: Sequence[str]) -> np.ndarray:
        """MinHash signatures, shape (len(texts), num_perm), dtype uint32; all `EMPTY` for a text without words."""
        out = np.empty((len(texts), self.num_perm), dtype=np.uint32)
        start = 0
        while start < len(texts):
            stop, chars = start + 1, len(texts[start])
            while stop < len(texts) and chars + len(texts[stop]) <= _BATCH_CHARS:
                chars += len(texts[stop]) + 1
                stop += 1
            hashes, offsets = self._batch_shingles(texts[start:stop])
            out[start:stop] = self._min_hash(hashes, offsets).T
            start = stop
        return out

    def _min_hash(self, hashes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """(num_perm, docs) minima of a_i * x mod 2**32 over each document's shingles, x = the high 32 bits of a
        shingle hash.

        Works on chunks of shingles, whatever documents they hold, so each (num_perm × chunk) block stays small;
        a document split between chunks takes the minimum of its parts.
        """
        x = (hashes >> np.uint64(32)).astype(np.uint32)
        docs = len(offsets) - 1
        result = np.full((self.num_perm, docs), EMPTY, dtype=np.uint32)
        nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
        if len(nonempty) == 0:
            return result
        seg_start, seg_end = offsets[nonempty], offsets[nonempty + 1]  # strictly increasing, back to back
        mins = np.full((self.num_perm, len(nonempty)), EMPTY, dtype=np.uint32)
        block = np.empty((self.num_perm, min(_CHUNK_SHINGLES, len(x))), dtype=np.uint32)
        for c0 in range(0, len(x), _CHUNK_SHINGLES):
            chunk = x[c0 : c0 + _CHUNK_SHINGLES]
            buf = block[:, : len(chunk)]
            np.multiply(self._a_col, chunk, out=buf)
            j0 = np.searchsorted(seg_end, c0, side="right")  # the first segment ending after c0
            j1 = np.searchsorted(seg_start, c0 + len(chunk), side="left")  # segments starting before the chunk end
            local = np.maximum(seg_start[j0:j1], c0) - c0
            np.minimum(mins[:, j0:j1], np.minimum.reduceat(buf, local, axis=1), out=mins[:, j0:j1])
        result[:, nonempty] = mins
        return result


# -- LSH banding ----------------------------------------------------------------------------------------------------


def band_keys(signatures: np.ndarray, bands: int = DEFAULT_BANDS, rows: int = DEFAULT_ROWS) -> np.ndarray:
    """One 64-bit key per band, shape (n, bands): the band's `rows` values chained through the 64-bit mixer.

    Band j uses signature columns j*rows .. (j+1)*rows - 1; columns past bands*rows are unused. Two documents share
    band j's key when (barring a 2**-64 accident) all its rows agree. Keys are only meant to be compared within the
    same band (bucket by band index, then key).
    """
    signatures = np.asarray(signatures, dtype=np.uint64)
    if signatures.ndim != 2:
        raise ValueError(f"signatures must be 2-D (documents × permutations), got shape {signatures.shape}")
    if bands < 1 or rows < 1 or bands * rows > signatures.shape[1]:
        raise ValueError(f"bands × rows = {bands} × {rows} does not fit {signatures.shape[1]} permutations")
    grid = signatures[:, : bands * rows].reshape(len(signatures), bands, rows)
    keys = np.full((len(signatures), bands), rows, dtype=np.uint64)
    for r in range(rows):
        keys ^= grid[:, :, r]
        keys *= np.uint64(_GOLDEN)
        _mix(keys)
    return keys


def true_jaccard(a_shingles: np.ndarray, b_shingles: np.ndarray) -> float:
    """Jaccard similarity of the two sets of shingle hashes (duplicates ignored); 1.0 when both are empty."""
    a, b = np.unique(a_shingles), np.unique(b_shingles)
    union = len(np.union1d(a, b))
    return 1.0 if union == 0 else len(np.intersect1d(a, b, assume_unique=True)) / union
