"""Learned text models: hashed token features + linear classifiers (scikit-learn), stored safely.

Features are the classifier tokens of ``classify.tokenize`` (jieba words with the domain dictionary
for Chinese; syllables and syllable bigrams for Vietnamese) plus character n-grams, hashed into a
fixed space (no vocabulary to store; 64-bit hashes computed here, character n-grams in numpy),
log-scaled, IDF-weighted and L2-normalized. The classifier is a logistic
regression (multinomial for single-label tasks, one-vs-rest for multi-label topics), optionally
(single-label, :class:`NeighborVote`) mixed with a vote of the most similar training rows.

Artefacts are ``<task>.npz`` files holding only numeric arrays and one JSON header (no pickle:
``np.load(allow_pickle=False)``, so a models directory from elsewhere cannot run code). The header
records the classes, the feature settings, the SHA-256 of the training data, row counts and the
library versions. A missing, truncated or foreign file raises :class:`ModelFileError` naming it.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from classify.tokenize import tokens

FORMAT_VERSION = 2  # 2: features hashed by classify.learned itself (splitmix64), not murmurhash3
TASKS = ("sentiment", "topic", "risk")


class ModelFileError(Exception):
    """A model file that is missing, corrupt or of the wrong kind; the message names the file."""


@dataclass(frozen=True)
class FeatureConfig:
    n_features: int = 2**18
    char_ngrams: tuple[int, int] = (1, 2)  # for Chinese, over the raw CJK characters
    vi_char_ngrams: tuple[int, int] = (0, 0)  # (0, 0): none
    zh_word_bigrams: bool = True


@dataclass(frozen=True)
class NeighborVote:
    """A nearest-neighbour member beside the logistic regression (single-label tasks).

    The model keeps its weighted training rows restricted to the features found in at most
    ``max_df`` of the training documents (the common ones add little to which rows are nearest and
    cost most of the time). A document's class probabilities are then ``model_weight`` x the
    regression's + (1 - ``model_weight``) x the similarity- and sample-weighted class shares of its
    ``k`` most similar training rows (cosine over those features); a document that shares no such
    feature with any row keeps the regression's probabilities.

    The mixture is less extreme than the regression alone, so it is sharpened (p ** ``sharpen``,
    renormalized; the most probable class stays the same) to keep the polarity scale the engine's
    sentiment thresholds were set for.
    """

    k: int = 40
    model_weight: float = 0.6
    max_df: float = 0.01
    sharpen: float = 1.0


def neighbor_shares(
    x: Any, memory_t: Any, labels: np.ndarray, weights: np.ndarray, n_classes: int, k: int, chunk: int = 512
) -> tuple[np.ndarray, np.ndarray]:
    """Per row of ``x`` (weighted features): the class shares of its ``k`` most similar memory rows
    (``memory_t`` = the memory transposed, CSR), and whether it had any similar row at all."""
    n = x.shape[0]
    shares = np.zeros((n, n_classes))
    found = np.zeros(n, dtype=bool)
    n_mem = memory_t.shape[1]
    k = min(k, n_mem)
    for start in range(0, n, chunk):
        sims = np.asarray((x[start : start + chunk] @ memory_t).toarray(), dtype=np.float64)
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < n_mem else np.tile(np.arange(n_mem), (len(sims), 1))
        vote = np.take_along_axis(sims, top, axis=1) * weights[top]
        total = vote.sum(axis=1)
        block = np.zeros((len(sims), n_classes))
        for c in range(n_classes):
            block[:, c] = (vote * (labels[top] == c)).sum(axis=1)
        ok = total > 0
        block[ok] /= total[ok, None]
        shares[start : start + len(sims)] = block
        found[start : start + len(sims)] = ok
    return shares, found


def config_groups(config: FeatureConfig, lang: str) -> tuple[str, ...]:
    """The feature groups a model with ``config`` uses for a document in ``lang``.

    Groups: ``w`` words, ``b`` Chinese word bigrams, ``c<n>`` character n-grams (Chinese: over the
    text without whitespace; Vietnamese: over the lower-cased text with single spaces, so n-grams
    cross syllable boundaries as the character-n-gram baseline's do). The classifier computes and
    hashes each group once per document and shares it between the models.
    """
    groups = ["w"]
    if lang.startswith("zh"):
        if config.zh_word_bigrams:  # "不|满意", "没有|收到": negation and degree in context
            groups.append("b")
        lo, hi = config.char_ngrams
    else:
        lo, hi = config.vi_char_ngrams
    if hi:
        groups.extend(f"c{n}" for n in range(max(lo, 1), hi + 1))
    return tuple(groups)


# Feature hashing. Every feature is a 64-bit hash; a model keeps its low bits (``n_features`` is a power
# of two), so counts hashed for a wider model fold exactly into a narrower one (see :func:`fold`).
# Character n-grams are hashed in numpy from the text's code points (no per-n-gram Python string: at
# ~900 characters that was a third of the classifier's time); words through a memo of their hashes.
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_PRIME = np.uint64(0x100000001B3)
_GROUP_SALT = {"w": 0x77, "b": 0x62, "c": 0x63}
_word_hashes: dict[str, int] = {}
# Memos of word hashes, each cleared when full: distinct tokens (Vietnamese syllables and bigrams,
# named features) and Chinese segmenter words. ~120 bytes an entry, so together they stay under
# ~100 MB beside the models.
_WORD_MEMO_MAX = 500_000
_ZH_WORD_MEMO_MAX = 300_000


def _mix(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer: every input bit reaches the low bits a model keeps."""
    h = h ^ (h >> np.uint64(30))
    h = h * _MIX1
    h = h ^ (h >> np.uint64(27))
    h = h * _MIX2
    return h ^ (h >> np.uint64(31))


def _blake(word: str) -> int:
    return int.from_bytes(hashlib.blake2b(word.encode("utf-8"), digest_size=8).digest(), "little")


def _word_hash(word: str) -> int:
    h = _word_hashes.get(word)
    if h is None:
        if len(_word_hashes) >= _WORD_MEMO_MAX:
            _word_hashes.clear()
        h = _word_hashes[word] = _blake(word)
    return h


def word_hashes(words: Sequence[str]) -> np.ndarray:
    """Unsalted 64-bit hashes of ``words`` (memoized)."""
    found = list(map(_word_hashes.get, words))
    if None in found:
        found = [h if h is not None else _word_hash(w) for h, w in zip(found, words, strict=True)]
    return np.array(found, dtype=np.uint64)


_zh_word_hashes: dict[str, int] = {}  # segmenter word -> hash of its classifier token (0: dropped)


def zh_word_hashes(text: str) -> np.ndarray:
    """The unsalted hashes of :func:`classify.tokenize.tokens_zh` of ``text`` in one pass (the same
    values as ``word_hashes(tokens_zh(text))``): one memo from the segmenter's raw word to its kept
    token's hash, so the per-word Python work is one dictionary look-up."""
    from classify.tokenize import kept_zh_token, zh_tokenizer

    words = zh_tokenizer().cut(text, HMM=True)
    try:
        found = list(map(_zh_word_hashes.__getitem__, words))
    except KeyError:
        if len(_zh_word_hashes) >= _ZH_WORD_MEMO_MAX:
            _zh_word_hashes.clear()
        found = []
        for w in words:
            h = _zh_word_hashes.get(w)
            if h is None:
                kept = kept_zh_token(w)
                h = _zh_word_hashes[w] = _blake(kept) if kept else 0
            found.append(h)
    out = np.array(found, dtype=np.uint64)
    return out[out != 0]


def text_word_hashes(text: str, lang: str) -> np.ndarray:
    """Unsalted hashes of the classifier tokens of ``text`` (:func:`classify.tokenize.tokens`)."""
    if lang.startswith("zh"):
        return zh_word_hashes(text)
    return word_hashes(tokens(text, lang))


def char_text(text: str, lang: str) -> str:
    """The text character n-grams are taken from: lower case; Chinese without whitespace (every
    visible character: punctuation such as ！！！ carries tone), other languages with single spaces."""
    low = text.lower()
    return "".join(low.split()) if lang.startswith("zh") else " ".join(low.split())


def char_codes(chars: str) -> np.ndarray:
    """The code points of ``chars`` (uint64), what character n-grams are hashed from."""
    return np.frombuffer(chars.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def char_ngram_hashes(chars: str, n: int, code: np.ndarray | None = None) -> np.ndarray:
    """Hashes of the character ``n``-grams of ``chars`` (``code``: its :func:`char_codes`, if known)."""
    if len(chars) < n:
        return np.zeros(0, dtype=np.uint64)
    if code is None:
        code = char_codes(chars)
    h = np.full(len(code) - n + 1, np.uint64(_GROUP_SALT["c"] * 1_000_003 + n), dtype=np.uint64)
    for j in range(n):
        h = h * _PRIME + code[j : len(code) - n + 1 + j]
    return _mix(h)


def group_hashes(text: str, lang: str, toks: Sequence[str] | None, groups: Iterable[str]) -> dict[str, np.ndarray]:
    """The hashed features of one document, per group (``toks``: its classifier tokens, or None to
    tokenize and hash them here in one pass)."""
    out: dict[str, np.ndarray] = {}
    chars: str | None = None
    code: np.ndarray | None = None
    words: np.ndarray | None = None
    for group in groups:
        if group in ("w", "b"):
            if words is None:
                words = word_hashes(toks) if toks is not None else text_word_hashes(text, lang)
            if group == "w":
                out[group] = _mix(words + np.uint64(_GROUP_SALT["w"]))
            else:
                out[group] = _mix(words[:-1] * _PRIME + words[1:] + np.uint64(_GROUP_SALT["b"]))
        elif group[0] == "c":
            if chars is None:
                chars = char_text(text, lang)
                code = char_codes(chars)
            out[group] = char_ngram_hashes(chars, int(group[1:]), code)
    return out


def doc_features(text: str, lang: str, config: FeatureConfig, toks: list[str] | None = None) -> np.ndarray:
    """The hashed features of one document under ``config``; ``toks`` if already tokenized (else
    tokenized and hashed here, as the classifier does)."""
    groups = group_hashes(text, lang, toks, config_groups(config, lang))
    return np.concatenate(list(groups.values())) if groups else np.zeros(0, dtype=np.uint64)


def feature_hash(feature: str) -> int:
    """The hash of one named feature (``w:word``, ``b:a|b``, ``c:ngram``), for tests and explanations."""
    kind, _, value = feature.partition(":")
    if kind == "w":
        return int(_mix(word_hashes([value]) + np.uint64(_GROUP_SALT["w"]))[0])
    if kind == "b":
        a, _, b = value.partition("|")
        hw = word_hashes([a, b])
        return int(_mix(hw[:1] * _PRIME + hw[1:] + np.uint64(_GROUP_SALT["b"]))[0])
    return int(char_ngram_hashes(value, len(value))[0])


def hash_counts(feature_arrays: Iterable[np.ndarray | Sequence[np.ndarray]], n_features: int) -> Any:
    """Raw hashed counts (CSR, float32) of each document's feature hashes, in ``n_features`` slots.

    A document is one array of hashes or a sequence of arrays (its feature groups)."""
    from scipy.sparse import csr_matrix, vstack

    parts: list[np.ndarray] = []
    row_lengths: list[int] = []
    for item in feature_arrays:
        if isinstance(item, np.ndarray):
            parts.append(item)
            row_lengths.append(len(item))
        else:
            parts.extend(item)
            row_lengths.append(sum(len(a) for a in item))
    n_rows = len(row_lengths)
    if not n_rows or not any(row_lengths):
        return csr_matrix((n_rows, n_features), dtype=np.float32)
    flat = np.concatenate(parts)
    offsets = np.concatenate([[0], np.cumsum(np.asarray(row_lengths, dtype=np.int64))])
    # (row, slot) keys in 32 bits: blocks of up to 4,096 rows at 2^20 slots.
    rows_per_block = 1 << max(0, 32 - (n_features.bit_length() - 1))
    if n_rows <= rows_per_block:
        return _count_block(flat, offsets, 0, n_rows, n_features)
    blocks = [
        _count_block(flat, offsets, start, min(n_rows, start + rows_per_block), n_features)
        for start in range(0, n_rows, rows_per_block)
    ]
    return vstack(blocks, format="csr")


def _count_block(flat: np.ndarray, offsets: np.ndarray, start: int, stop: int, n_features: int) -> Any:
    """Counts of rows ``start:stop`` (their hashes: ``flat[offsets[start]:offsets[stop]]``): one
    sort of 32-bit (row, slot) keys for the whole block, then run lengths, already in CSR order
    (scipy's ``sum_duplicates`` sorted row by row and cost about twice as much at news length)."""
    from scipy.sparse import csr_matrix

    bits = n_features.bit_length() - 1
    n_rows = stop - start
    lo, hi = int(offsets[start]), int(offsets[stop])
    if hi == lo:
        return csr_matrix((n_rows, n_features), dtype=np.float32)
    key = flat[lo:hi].astype(np.uint32) & np.uint32(n_features - 1)
    key |= np.repeat(np.arange(n_rows, dtype=np.uint32) << np.uint32(bits), np.diff(offsets[start : stop + 1]))
    key.sort()
    first = np.empty(len(key), dtype=bool)
    first[0] = True
    np.not_equal(key[1:], key[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    unique = key[starts]
    counts = np.diff(starts, append=len(key)).astype(np.float32)
    indptr = np.searchsorted(unique, np.arange(n_rows + 1, dtype=np.int64) << bits)
    indices = (unique & np.uint32(n_features - 1)).astype(np.int32)
    return csr_matrix((counts, indices, indptr), shape=(n_rows, n_features))


def fold(counts: Any, n_features: int) -> Any:
    if counts.shape[1] == n_features:
        return counts
    from scipy.sparse import csr_matrix

    if counts.shape[1] % n_features:
        raise ValueError("feature spaces must be powers of two")
    out = csr_matrix(
        (counts.data.copy(), counts.indices % n_features, counts.indptr.copy()), shape=(counts.shape[0], n_features)
    )
    out.sum_duplicates()
    return out


def weight(counts: Any, idf: np.ndarray | None, logged: np.ndarray | None = None) -> Any:
    """Log-scaled, IDF-weighted (when given), L2-normalized hashed counts (a new matrix sharing the
    counts' index arrays; ``logged``: ``log1p(counts.data)`` when already computed for another model
    on the same counts)."""
    from scipy.sparse import csr_matrix

    counts = counts.tocsr()
    data = np.log1p(counts.data, dtype=np.float32) if logged is None else logged.copy()
    if idf is not None:
        data *= idf[counts.indices]
    lengths = np.diff(counts.indptr)
    squares = np.zeros(len(lengths), dtype=np.float64)
    filled = lengths > 0
    if data.size:
        squares[filled] = np.add.reduceat(data * data, counts.indptr[:-1][filled], dtype=np.float64)
    norms = np.sqrt(squares)
    norms[norms == 0] = 1.0
    data /= np.repeat(norms.astype(np.float32), lengths)
    return csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)


def vectorize(feature_lists: Iterable[np.ndarray], config: FeatureConfig, idf: np.ndarray | None = None) -> Any:
    """Hashed, log-scaled, IDF-weighted (when given), L2-normalized sparse matrix."""
    return weight(hash_counts(feature_lists, config.n_features), idf)


def fit_idf(matrix: Any) -> np.ndarray:
    """Smoothed inverse document frequency per hashed feature (as scikit-learn's TfidfTransformer)."""
    n_docs = matrix.shape[0]
    df = np.bincount(matrix.indices, minlength=matrix.shape[1])
    return (np.log((1 + n_docs) / (1 + df)) + 1.0).astype(np.float32)


def data_sha256(rows: Iterable[tuple[str, str, Any]]) -> str:
    """SHA-256 over the (lang, text, label) rows a model was trained on, in order."""
    digest = hashlib.sha256()
    for lang, text, label in rows:
        digest.update(json.dumps([lang, text, label], ensure_ascii=False, sort_keys=True).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


@dataclass
class TextModel:
    task: str
    classes: list[str]
    multilabel: bool
    coef: np.ndarray  # (n_outputs, n_features) float32
    intercept: np.ndarray  # (n_outputs,)
    config: FeatureConfig
    idf: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    neighbors: NeighborVote | None = None
    # The neighbour vote's training rows: raw hashed counts of the features with df <= max_df (CSR),
    # each row's L2 norm over all its weighted features, class index and sample weight.
    memory_counts: Any = None
    memory_norms: np.ndarray | None = None
    memory_labels: np.ndarray | None = None
    memory_weights: np.ndarray | None = None
    _memory_t: Any = field(default=None, repr=False, compare=False)
    _coef_t: Any = field(default=None, repr=False, compare=False)

    def memory_vectors(self) -> Any:
        """The stored rows weighted as the documents are (log-scaled, IDF, divided by the row's full norm)."""
        from scipy.sparse import csr_matrix

        counts = self.memory_counts
        assert counts is not None and self.memory_norms is not None
        data = np.log1p(counts.data.astype(np.float32))
        if self.idf is not None:
            data *= self.idf[counts.indices]
        data /= np.repeat(self.memory_norms, np.diff(counts.indptr)).astype(np.float32)
        return csr_matrix((data, counts.indices, counts.indptr), shape=counts.shape)

    # ------------------------------------------------------------------ prediction
    def predict_proba_features(self, features: Sequence[np.ndarray]) -> np.ndarray:
        """(n_docs, n_classes) probabilities (softmax, or per-class sigmoid when multi-label)."""
        if not features:
            return np.zeros((0, len(self.classes)))
        return self.predict_proba_counts(hash_counts(features, self.config.n_features))

    def predict_proba_counts(
        self, counts: Any, neighbors: NeighborVote | None = None, *, vote: bool = True, logged: Any = None
    ) -> np.ndarray:
        """Probabilities from raw hashed counts (of this model's feature groups, any power-of-two width).

        ``neighbors``: other ``k`` / ``model_weight`` than the model's own (cross-validation; the
        stored rows, hence ``max_df``, stay the model's); ``vote=False``: the regression alone;
        ``logged``: ``log1p(counts.data)`` (float32) when the counts are this model's width."""
        if counts.shape[0] == 0:
            return np.zeros((0, len(self.classes)))
        folded = fold(counts, self.config.n_features)
        x = weight(folded, self.idf, logged if folded is counts else None)
        if self._coef_t is None:  # contiguous once: `x @ coef.T` copied the whole matrix every batch
            self._coef_t = np.ascontiguousarray(self.coef.T)
        scores = np.asarray(x @ self._coef_t, dtype=np.float64) + self.intercept
        if self.multilabel:
            return 1.0 / (1.0 + np.exp(-scores))
        if scores.shape[1] == 1:  # binary: one output for classes[1]
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            probs = np.column_stack([1.0 - p1, p1])
        else:
            scores -= scores.max(axis=1, keepdims=True)
            exp = np.exp(scores)
            probs = exp / exp.sum(axis=1, keepdims=True)
        setting = neighbors or self.neighbors
        if (
            not vote
            or setting is None
            or self.memory_counts is None
            or self.memory_labels is None
            or self.memory_weights is None
        ):
            return probs
        if self._memory_t is None:
            self._memory_t = self.memory_vectors().T.tocsr()
        shares, found = neighbor_shares(
            x, self._memory_t, self.memory_labels, self.memory_weights, len(self.classes), setting.k
        )
        a = setting.model_weight
        mixed = (a * probs[found] + (1.0 - a) * shares[found]) ** setting.sharpen
        probs[found] = mixed / mixed.sum(axis=1, keepdims=True)
        return probs

    def predict_proba(self, texts: Sequence[str], langs: Sequence[str]) -> np.ndarray:
        return self.predict_proba_features(
            [doc_features(t, lang, self.config) for t, lang in zip(texts, langs, strict=True)]
        )

    # ------------------------------------------------------------------ persistence
    def save(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.task}.npz"
        header = {
            "format": FORMAT_VERSION,
            "task": self.task,
            "classes": self.classes,
            "multilabel": self.multilabel,
            "config": {
                "n_features": self.config.n_features,
                "char_ngrams": list(self.config.char_ngrams),
                "vi_char_ngrams": list(self.config.vi_char_ngrams),
                "zh_word_bigrams": self.config.zh_word_bigrams,
            },
            "meta": self.meta,
        }
        arrays: dict[str, np.ndarray] = {}
        if self.neighbors is not None and self.memory_counts is not None:
            header["neighbors"] = {
                "k": self.neighbors.k,
                "model_weight": self.neighbors.model_weight,
                "max_df": self.neighbors.max_df,
                "sharpen": self.neighbors.sharpen,
            }
            counts = self.memory_counts
            gaps = np.diff(counts.indices.astype(np.int64), prepend=0)  # sorted per row: small gaps compress
            starts = counts.indptr[:-1][np.diff(counts.indptr) > 0]
            gaps[starts] = counts.indices[starts]
            arrays = {
                "memory_indptr": counts.indptr.astype(np.int64),
                "memory_gaps": gaps.astype(np.int32),
                "memory_counts": np.minimum(counts.data, 65535).astype(np.uint16),
                "memory_norms": np.asarray(self.memory_norms, dtype=np.float32),
                "memory_labels": np.asarray(self.memory_labels, dtype=np.int16),
                "memory_weights": np.asarray(self.memory_weights, dtype=np.float32),
            }
        tmp = path.with_suffix(".tmp.npz")
        arrays.update(
            header=np.array(json.dumps(header, ensure_ascii=False)),
            coef=self.coef.astype(np.float32),
            intercept=self.intercept.astype(np.float64),
            idf=self.idf if self.idf is not None else np.zeros(0, dtype=np.float32),
        )
        np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: Path, task: str | None = None) -> TextModel:
        if not path.is_file():
            raise ModelFileError(f"model file not found: {path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                coef = np.asarray(data["coef"], dtype=np.float32)
                intercept = np.asarray(data["intercept"], dtype=np.float64)
                idf = np.asarray(data["idf"], dtype=np.float32)
                mem = {
                    name: np.asarray(data[name])
                    for name in (
                        "memory_indptr",
                        "memory_gaps",
                        "memory_counts",
                        "memory_norms",
                        "memory_labels",
                        "memory_weights",
                    )
                    if name in data.files
                }
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, json.JSONDecodeError, EOFError) as exc:
            raise ModelFileError(f"model file is corrupt or not a presswatch model: {path} ({exc})") from None
        if not isinstance(header, dict) or header.get("format") != FORMAT_VERSION:
            raise ModelFileError(
                f"model file has an unknown format: {path} (made by another presswatch version: train it again)"
            )
        if task is not None and header.get("task") != task:
            raise ModelFileError(f"model file {path} holds task {header.get('task')!r}, expected {task!r}")
        cfg = header["config"]
        config = FeatureConfig(
            n_features=int(cfg["n_features"]),
            char_ngrams=(int(cfg["char_ngrams"][0]), int(cfg["char_ngrams"][1])),
            vi_char_ngrams=(int(cfg["vi_char_ngrams"][0]), int(cfg["vi_char_ngrams"][1])),
            zh_word_bigrams=bool(cfg.get("zh_word_bigrams", False)),
        )
        classes = [str(c) for c in header["classes"]]
        outputs = len(classes) if (header["multilabel"] or len(classes) > 2) else 1
        if (
            coef.shape != (outputs, config.n_features)
            or intercept.shape != (outputs,)
            or idf.shape
            not in (
                (0,),
                (config.n_features,),
            )
        ):
            raise ModelFileError(f"model file is corrupt (array shapes do not match its header): {path}")
        neighbors = memory = None
        if header.get("neighbors"):
            nb = header["neighbors"]
            neighbors = NeighborVote(
                int(nb["k"]), float(nb["model_weight"]), float(nb["max_df"]), float(nb.get("sharpen", 1.0))
            )
            try:
                from scipy.sparse import csr_matrix

                indptr, labels, weights = mem["memory_indptr"], mem["memory_labels"], mem["memory_weights"]
                gaps, norms = mem["memory_gaps"].astype(np.int64), mem["memory_norms"]
                n_rows = len(indptr) - 1
                if (
                    n_rows < 1
                    or labels.shape != (n_rows,)
                    or weights.shape != (n_rows,)
                    or norms.shape != (n_rows,)
                    or labels.min() < 0
                    or labels.max() >= len(classes)
                    or indptr[0] != 0
                    or indptr[-1] != len(gaps)
                    or mem["memory_counts"].shape != gaps.shape
                    or (np.diff(indptr) < 0).any()
                ):
                    raise ValueError("shapes")
                running = np.cumsum(gaps)
                lengths = np.diff(indptr)
                before = np.concatenate([[0], running])[indptr[:-1]]  # sum of gaps before each row
                indices = running - np.repeat(before, lengths)
                memory = csr_matrix(
                    (mem["memory_counts"].astype(np.float32), indices.astype(np.int32), indptr),
                    shape=(n_rows, config.n_features),
                )
                memory.check_format(full_check=True)
            except (KeyError, ValueError, IndexError) as exc:
                raise ModelFileError(f"model file is corrupt (neighbour rows: {exc}): {path}") from None
        return cls(
            task=str(header["task"]),
            classes=classes,
            multilabel=bool(header["multilabel"]),
            coef=coef,
            intercept=intercept,
            config=config,
            idf=idf if idf.size else None,
            meta=dict(header.get("meta") or {}),
            neighbors=neighbors,
            memory_counts=memory,
            memory_norms=mem["memory_norms"].astype(np.float32) if memory is not None else None,
            memory_labels=mem["memory_labels"].astype(np.int64) if memory is not None else None,
            memory_weights=mem["memory_weights"].astype(np.float64) if memory is not None else None,
        )


# ---------------------------------------------------------------------------------- training


@dataclass(frozen=True)
class Example:
    text: str
    lang: str
    label: str | tuple[str, ...]  # a tuple for multi-label topics
    weight: float = 1.0


def is_multilabel(examples: Sequence[Example]) -> bool:
    """The data's shape decides: rows carrying other than exactly one label make a multi-label task
    (one-vs-rest, per-label thresholds); one label per row, a single-label one (multinomial)."""
    return any(isinstance(e.label, tuple) and len(e.label) != 1 for e in examples)


def _single(label: str | tuple[str, ...]) -> str:
    return label[0] if isinstance(label, tuple) else str(label)


# C candidates for :func:`choose_c` (the features are L2-normalized, so one grid serves every set) and
# the share of the training rows held out to choose among them when there are many rows.
C_GRID = (1.0, 4.0, 16.0, 64.0)
CV_HOLDOUT = 0.2
CV_FOLDS_BELOW = 500  # fewer training rows: 3-fold cross-validation instead of one hold-out split
MIN_DF_ROWS = 1000  # from this many training rows, features seen in one document are not fitted


def _fit_lr(x: Any, y: np.ndarray, weights: np.ndarray, c: float, warm: Any = None) -> Any:
    from sklearn.linear_model import LogisticRegression
    from threadpoolctl import threadpool_limits

    clf = warm if warm is not None else LogisticRegression(max_iter=300, class_weight="balanced", warm_start=True)
    clf.set_params(C=c)
    # One BLAS thread: the solver's small vector steps gain nothing from threads, and on a busy
    # machine OpenBLAS's spinning threads made each step ~100x slower (ViHOS: 0.3 s -> 91 s at load 22).
    with threadpool_limits(limits=1, user_api="blas"):
        clf.fit(x, y, sample_weight=weights)
    return clf


def _fit_lr_start(coef: np.ndarray, intercept: np.ndarray) -> Any:
    """An unfitted regression that starts from these coefficients (warm start)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=300, class_weight="balanced", warm_start=True)
    clf.coef_, clf.intercept_ = coef, intercept
    return clf


def choose_c(
    x: Any, y: np.ndarray, weights: np.ndarray, grid: Sequence[float] = C_GRID, seed: int = 0
) -> tuple[dict[float, float], dict[float, tuple[np.ndarray, np.ndarray]]]:
    """Macro-F1 for each C of ``grid`` on the training rows only: 3-fold cross-validation on small
    sets, one stratified hold-out split (``CV_HOLDOUT``) on larger ones. C ascends with warm starts,
    so the whole path costs little more than one fit. Also each C's last coefficients and
    intercepts, to start the final fit from."""
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, StratifiedShuffleSplit

    _, counts = np.unique(y, return_counts=True)
    if counts.min() < 3:
        return {}, {}
    if len(y) < CV_FOLDS_BELOW:
        splits = list(StratifiedKFold(3, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    else:
        splits = list(StratifiedShuffleSplit(1, test_size=CV_HOLDOUT, random_state=seed).split(np.zeros(len(y)), y))
    scores: dict[float, list[float]] = {c: [] for c in grid}
    starts: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for tr, va in splits:
        clf = None
        for c in sorted(grid):
            clf = _fit_lr(x[tr], y[tr], weights[tr], c, clf)
            scores[c].append(float(f1_score(y[va], clf.predict(x[va]), average="macro")))
            starts[c] = (clf.coef_.copy(), clf.intercept_.copy())
    return {c: float(np.mean(v)) for c, v in scores.items()}, starts


def train_model(
    task: str,
    examples: Sequence[Example],
    *,
    config: FeatureConfig | None = None,
    multilabel: bool | None = None,
    c: float | None = 4.0,
    use_idf: bool = True,
    meta: dict[str, Any] | None = None,
    features: Sequence[np.ndarray] | None = None,
    neighbors: NeighborVote | None = None,
) -> TextModel:
    """Fit a model for ``task`` on ``examples``: multinomial when every row has one label, one-vs-rest
    when rows carry several (``multilabel`` forces one or the other).

    ``c=None``: the regularization is chosen by :func:`choose_c` on these rows.
    ``features``: the examples' :func:`doc_features` under ``config`` when already computed (cross-validation).
    ``neighbors``: keep the training rows for a nearest-neighbour vote (single-label only).
    """
    if not examples:
        raise ValueError(f"no training examples for task {task}")
    config = config or FeatureConfig()
    started = time.perf_counter()
    is_multi = multilabel if multilabel is not None else is_multilabel(examples)
    if features is None:
        features = [doc_features(e.text, e.lang, config) for e in examples]
    counts = hash_counts(features, config.n_features)
    idf = fit_idf(counts) if use_idf else None  # document frequencies: the same with raw counts
    full_x = weight(counts, idf)
    # Fit on the hashed slots that occur (a few per cent of the space): the same model, far less
    # work per solver iteration; the coefficients are put back in their slots afterwards.
    used = np.unique(full_x.indices)
    if len(examples) >= MIN_DF_ROWS:
        # A feature in one training document only is fitted to that document; dropping them
        # halves the solver's work on larger sets at no measured cost (bench/train.py, model card).
        df = np.bincount(counts.indices, minlength=config.n_features)
        used = used[df[used] >= 2]
    x = full_x[:, used]
    weights = np.array([e.weight for e in examples], dtype=np.float64)
    cv_scores: dict[float, float] = {}
    if is_multi:
        from sklearn.linear_model import LogisticRegression

        label_sets = [e.label if isinstance(e.label, tuple) else (e.label,) for e in examples]
        classes = sorted({lab for labs in label_sets for lab in labs})
        c_used = c if c is not None else 4.0
        coef_used = np.zeros((len(classes), len(used)), dtype=np.float32)
        intercept = np.zeros(len(classes))
        for k, name in enumerate(classes):
            y = np.array([name in labs for labs in label_sets], dtype=int)
            if y.min() == y.max():  # every example has it (or none): a constant
                intercept[k] = 6.0 if y[0] else -6.0
                continue
            clf = LogisticRegression(C=c_used, max_iter=300, class_weight="balanced", solver="liblinear")
            clf.fit(x, y, sample_weight=weights)
            coef_used[k] = clf.coef_[0]
            intercept[k] = clf.intercept_[0]
    else:
        y_arr = np.array([_single(e.label) for e in examples])
        classes = sorted(set(y_arr.tolist()))
        if len(classes) < 2:
            raise ValueError(f"task {task} needs at least two different labels, got {classes}")
        warm = None
        if c is None:
            cv_scores, starts = choose_c(x, y_arr, weights)
            c_used = max(cv_scores, key=lambda k: cv_scores[k]) if cv_scores else 4.0
            if c_used in starts:
                warm = _fit_lr_start(*starts[c_used])
        else:
            c_used = c
        clf = _fit_lr(x, y_arr, weights, c_used, warm)
        classes = [str(k) for k in clf.classes_]
        coef_used = clf.coef_.astype(np.float32)
        intercept = clf.intercept_.astype(np.float64)
    coef = np.zeros((coef_used.shape[0], config.n_features), dtype=np.float32)
    coef[:, used] = coef_used
    memory = memory_labels = memory_norms = None
    if neighbors is not None and not is_multi:
        full = counts.copy()
        full.data = np.log1p(full.data)
        if idf is not None:
            full.data *= idf[full.indices]
        memory_norms = np.sqrt(np.asarray(full.multiply(full).sum(axis=1)).ravel()).astype(np.float32)
        memory_norms[memory_norms == 0] = 1.0
        df = np.bincount(counts.indices, minlength=config.n_features) / counts.shape[0]
        memory = counts.multiply((df <= neighbors.max_df)[None, :].astype(np.float32)).tocsr()
        memory.eliminate_zeros()
        memory.sort_indices()
        index = {name: k for k, name in enumerate(classes)}
        memory_labels = np.array([index[_single(e.label)] for e in examples], dtype=np.int64)
    import sklearn

    info = {
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "train_rows": len(examples),
        "train_seconds": round(time.perf_counter() - started, 2),
        "data_sha256": data_sha256(
            (e.lang, e.text, list(e.label) if isinstance(e.label, tuple) else e.label) for e in examples
        ),
        "sklearn": sklearn.__version__,
        "regularization_C": c_used,
        "label_mode": "multi-label, one-vs-rest" if is_multi else "single-label, multinomial",
    }
    if cv_scores:
        info["c_by_cv"] = {f"{k:g}": round(v, 4) for k, v in cv_scores.items()}
    if memory is not None and neighbors is not None:
        info["neighbor_vote"] = {
            "k": neighbors.k,
            "model_weight": neighbors.model_weight,
            "max_df": neighbors.max_df,
            "sharpen": neighbors.sharpen,
        }
    info.update(meta or {})
    return TextModel(
        task=task,
        classes=classes,
        multilabel=is_multi,
        coef=coef,
        intercept=intercept,
        config=config,
        idf=idf,
        meta=info,
        neighbors=neighbors if memory is not None else None,
        memory_counts=memory,
        memory_norms=memory_norms,
        memory_labels=memory_labels,
        memory_weights=weights if memory is not None else None,
    )


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
