"""Content fingerprints: exact content hash, and MinHash signatures with LSH band keys for reposts.

Shingles are runs of ``SHINGLE_WORDS_ZH`` jieba words (cut by rjieba) for Chinese and
``SHINGLE_SYLLABLES_VI`` syllables for Vietnamese (other languages: runs of words), taken from the
matching form of the text (width-folded, simplified), so a traditional-script or full-width repost
shingles the same.
The signature is ``NUM_PERM`` 32-bit minima of multiply-shift hashes over crc32 shingle ids: stable
across processes and restarts (Python's ``hash()`` is salted per process, so it is never used).

LSH: the signature is cut into ``BANDS`` bands of ``ROWS`` values; each band becomes one 63-bit
key stored in ``fingerprint_bands`` (its primary key is the index). Two texts share at least one
band key with probability 1 - (1 - J**ROWS)**BANDS for Jaccard similarity J: with 24 x 2 that is
0.999 at J=0.5, 0.96 at J=0.36 (the lowest repost similarity measured on the fixtures), 0.79 at
J=0.25 and 0.06 at J=0.05. Two rows per band favour recall (truncated and edited reposts sit at
J=0.35-0.5); the false candidates this lets through are bounded per band in ``dedupe`` and
rejected there against the full signatures.

Shingle sizes were chosen on the fixture stories (``tests/fixtures/pipeline/stories``): Chinese
word bigrams and Vietnamese syllable 4-grams gave the widest gap between reposts (Jaccard >= 0.36)
and different stories on the same event (<= 0.03); word unigrams let an official statement about
the incident reach 0.20 against the report, Vietnamese trigrams 0.11.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NUM_PERM = 64
BANDS = 24
ROWS = 2  # BANDS * ROWS <= NUM_PERM; the values past BANDS * ROWS still count in the estimates
SHINGLE_WORDS_ZH = 2
SHINGLE_SYLLABLES_VI = 4
SHINGLE_WORDS_OTHER = 3
FINGERPRINT_VERSION = 1
_HEADER = struct.Struct("<BI")  # version, number of distinct shingles

_rng = np.random.default_rng(20240514)  # fixed seed: the hash family must never change between runs
_A = (_rng.integers(1, 2**63, size=NUM_PERM, dtype=np.uint64) << np.uint64(1)) | np.uint64(1)  # odd
_B = _rng.integers(0, 2**63, size=NUM_PERM, dtype=np.uint64)
_BAND_MIX = _rng.integers(1, 2**63, size=(BANDS, ROWS), dtype=np.uint64) | np.uint64(1)
_BAND_SALT = _rng.integers(1, 2**63, size=BANDS, dtype=np.uint64)

_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_HAN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@functools.cache
def _segmenter() -> Callable[[str], list[str]]:
    """jieba's precise mode without HMM, run by rjieba (the Rust port: same algorithm, same bundled
    dictionary, ~15x faster). Measured identical to ``jieba.lcut(text, HMM=False)`` on the 4,000
    texts of ``bench/pipeline.py``, the fixture and seed texts and 20,000 random strings mixing Han
    (extension A and the U+9FD6.. block included), Latin, digits, punctuation and spaces, so stored
    fingerprints stay valid (``tests/test_pipeline_dedupe.py`` keeps checking it). No user
    dictionary here: fingerprints must not change when the classifier's dictionary does."""
    try:
        import rjieba
    except ImportError:  # a declared dependency; the fallback only keeps odd platforms working
        import jieba

        jieba.setLogLevel(logging.WARNING)
        jieba.initialize()
        return functools.partial(jieba.lcut, HMM=False)
    return functools.partial(rjieba.cut, hmm=False)


def tokens(text: str, lang: str) -> list[str]:
    """Words (Chinese, jieba's precise mode without HMM) or syllables/words (everything else)."""
    if lang == "zh" or (lang == "und" and _HAN.search(text)):
        return list(filter(_WORD.search, _segmenter()(text)))
    return _WORD.findall(text)


def shingles(toks: list[str], lang: str) -> set[str]:
    k = SHINGLE_WORDS_ZH if lang == "zh" else SHINGLE_SYLLABLES_VI if lang == "vi" else SHINGLE_WORDS_OTHER
    if len(toks) < k:
        return {" ".join(toks)} if toks else set()
    # Every run of k words, at C speed: the shifted copies end together at the last full run.
    return set(map(" ".join, zip(*(toks[i:] for i in range(k)), strict=False)))


@dataclass(frozen=True)
class Fingerprint:
    signature: np.ndarray  # uint32[NUM_PERM]
    size: int  # distinct shingles

    def to_bytes(self) -> bytes:
        return _HEADER.pack(FINGERPRINT_VERSION, self.size) + self.signature.astype("<u4").tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> Fingerprint | None:
        if not data or len(data) != _HEADER.size + 4 * NUM_PERM:
            return None
        version, size = _HEADER.unpack_from(data)
        if version != FINGERPRINT_VERSION:
            return None
        return cls(np.frombuffer(data, dtype="<u4", offset=_HEADER.size).astype(np.uint32), size)

    def band_keys(self) -> list[int]:
        """One signed 63-bit key per band (fits BIGINT on both backends)."""
        sig = self.signature[: BANDS * ROWS].astype(np.uint64).reshape(BANDS, ROWS)
        with np.errstate(over="ignore"):
            mixed = (sig * _BAND_MIX).sum(axis=1, dtype=np.uint64) ^ _BAND_SALT
            mixed = mixed * np.uint64(0x9E3779B97F4A7C15)
        return [int(v) for v in (mixed >> np.uint64(1))]

    def jaccard(self, other: Fingerprint) -> float:
        return float(np.count_nonzero(self.signature == other.signature)) / NUM_PERM

    def containment(self, other: Fingerprint) -> float:
        """Estimated share of the smaller text's shingles found in the larger (truncated reposts)."""
        j = self.jaccard(other)
        small = min(self.size, other.size)
        if small == 0:
            return 0.0
        return min(1.0, j * (self.size + other.size) / ((1.0 + j) * small))


def minhash(shingle_set: set[str]) -> Fingerprint:
    if not shingle_set:
        return Fingerprint(np.full(NUM_PERM, 0xFFFFFFFF, dtype=np.uint32), 0)
    ids = np.fromiter(map(zlib.crc32, map(str.encode, shingle_set)), dtype=np.uint64,  # utf-8
                      count=len(shingle_set))
    with np.errstate(over="ignore"):
        hashed = (ids[:, None] * _A[None, :] + _B[None, :]) >> np.uint64(32)  # multiply-shift, wraps mod 2**64
    return Fingerprint(hashed.min(axis=0).astype(np.uint32), len(shingle_set))


def fingerprint(match_text: str, lang: str) -> Fingerprint:
    return minhash(shingles(tokens(match_text, lang), lang))


_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)


def content_hash(match_text: str) -> str:
    """sha256 of the matching form with every space and punctuation mark removed (exact reposts)."""
    return hashlib.sha256(_NON_WORD.sub("", match_text).encode("utf-8")).hexdigest()
