"""Learned text models: hashed token features + linear classifiers (scikit-learn), stored safely.

Features are the classifier tokens of ``classify.tokenize`` (jieba words with the domain dictionary
for Chinese; syllables and syllable bigrams for Vietnamese) plus character n-grams, hashed into a
fixed space (no vocabulary to store), log-scaled and L2-normalized. The classifier is a logistic
regression (multinomial for single-label tasks, one-vs-rest for multi-label topics), optionally
(single-label, :class:`NeighborVote`) mixed with a vote of the most similar training rows.

Artefacts are ``<task>.npz`` files holding only numeric arrays and one JSON header (no pickle:
``np.load(allow_pickle=False)``, so a models directory from elsewhere cannot run code). The header
records the classes, the feature settings, the SHA-256 of the training data, row counts and the
library versions. A missing, truncated or foreign file raises :class:`ModelFileError` naming it.
"""

from __future__ import annotations

import hashlib
import itertools
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

FORMAT_VERSION = 1
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

    Groups: ``w`` words, ``b`` Chinese word bigrams, ``c<n>`` Chinese character n-grams, ``v<n>``
    Vietnamese character n-grams inside syllables. The classifier computes and hashes each group
    once per document and shares it between the models.
    """
    groups = ["w"]
    if lang.startswith("zh"):
        if config.zh_word_bigrams:  # "不|满意", "没有|收到": negation and degree in context
            groups.append("b")
        lo, hi = config.char_ngrams
        if hi:
            groups.extend(f"c{n}" for n in range(max(lo, 1), hi + 1))
    else:
        lo, hi = config.vi_char_ngrams
        if hi:
            groups.extend(f"v{n}" for n in range(max(lo, 1), hi + 1))
    return tuple(groups)


def group_features(text: str, toks: list[str], groups: Iterable[str]) -> dict[str, list[str]]:
    """The feature strings of one document, per group (the strings are what gets hashed)."""
    out: dict[str, list[str]] = {}
    chars: str | None = None
    for group in groups:
        if group == "w":
            out[group] = ["w:" + t for t in toks]
        elif group == "b":
            out[group] = [f"b:{a}|{b}" for a, b in itertools.pairwise(toks)]
        elif group[0] == "c":
            if chars is None:
                chars = "".join(text.lower().split())  # every visible character: punctuation (！！！) carries tone
            n = int(group[1:])
            out[group] = ["c:" + chars[i : i + n] for i in range(len(chars) - n + 1)]
        elif group[0] == "v":
            n = int(group[1:])
            feats: list[str] = []
            for tok in toks:
                if "_" not in tok:
                    padded = f" {tok} "
                    feats.extend("c:" + padded[i : i + n] for i in range(len(padded) - n + 1))
            out[group] = feats
    return out


def doc_features(text: str, lang: str, config: FeatureConfig, toks: list[str] | None = None) -> list[str]:
    """The feature strings of one document (before hashing); ``toks`` if already tokenized."""
    toks = tokens(text, lang) if toks is None else toks
    groups = group_features(text, toks, config_groups(config, lang))
    return [f for feats in groups.values() for f in feats]


def _identity(x: list[str]) -> list[str]:
    return x


def hash_counts(feature_lists: Iterable[list[str]], n_features: int) -> Any:
    """Raw hashed counts (CSR, float32). Indices are murmurhash3 modulo ``n_features``, so counts
    hashed into a larger power of two fold exactly into a smaller one (see :func:`fold`)."""
    from sklearn.feature_extraction.text import HashingVectorizer

    vec = HashingVectorizer(
        n_features=n_features, analyzer=_identity, alternate_sign=False, norm=None, dtype=np.float32
    )
    return vec.transform(feature_lists)


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


def weight(counts: Any, idf: np.ndarray | None) -> Any:
    """Log-scaled, IDF-weighted (when given), L2-normalized copy of hashed counts."""
    from sklearn.preprocessing import normalize

    matrix = counts.copy()
    matrix.data = np.log1p(matrix.data)
    if idf is not None:
        matrix.data *= idf[matrix.indices]
    return normalize(matrix, copy=False)


def vectorize(feature_lists: Iterable[list[str]], config: FeatureConfig, idf: np.ndarray | None = None) -> Any:
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
    def predict_proba_features(self, features: Sequence[list[str]]) -> np.ndarray:
        """(n_docs, n_classes) probabilities (softmax, or per-class sigmoid when multi-label)."""
        if not features:
            return np.zeros((0, len(self.classes)))
        return self.predict_proba_counts(hash_counts(features, self.config.n_features))

    def predict_proba_counts(
        self, counts: Any, neighbors: NeighborVote | None = None, *, vote: bool = True
    ) -> np.ndarray:
        """Probabilities from raw hashed counts (of this model's feature groups, any power-of-two width).

        ``neighbors``: other ``k`` / ``model_weight`` than the model's own (cross-validation; the
        stored rows, hence ``max_df``, stay the model's); ``vote=False``: the regression alone."""
        if counts.shape[0] == 0:
            return np.zeros((0, len(self.classes)))
        x = weight(fold(counts, self.config.n_features), self.idf)
        scores = np.asarray(x @ self.coef.T, dtype=np.float64) + self.intercept
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
            raise ModelFileError(f"model file has an unknown format: {path}")
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


def train_model(
    task: str,
    examples: Sequence[Example],
    *,
    config: FeatureConfig | None = None,
    multilabel: bool | None = None,
    c: float = 4.0,
    use_idf: bool = True,
    meta: dict[str, Any] | None = None,
    features: Sequence[list[str]] | None = None,
    neighbors: NeighborVote | None = None,
) -> TextModel:
    """Fit a model for ``task`` on ``examples`` (single-label, or multi-label when labels are tuples).

    ``features``: the examples' :func:`doc_features` under ``config`` when already computed (cross-validation).
    ``neighbors``: keep the training rows for a nearest-neighbour vote (single-label only).
    """
    from sklearn.linear_model import LogisticRegression

    if not examples:
        raise ValueError(f"no training examples for task {task}")
    config = config or FeatureConfig()
    started = time.perf_counter()
    is_multi = multilabel if multilabel is not None else any(isinstance(e.label, tuple) for e in examples)
    if features is None:
        features = [doc_features(e.text, e.lang, config) for e in examples]
    counts = hash_counts(features, config.n_features)
    idf = fit_idf(counts) if use_idf else None  # document frequencies: the same with raw counts
    x = weight(counts, idf)
    weights = np.array([e.weight for e in examples], dtype=np.float64)
    if is_multi:
        label_sets = [e.label if isinstance(e.label, tuple) else (e.label,) for e in examples]
        classes = sorted({lab for labs in label_sets for lab in labs})
        coef = np.zeros((len(classes), config.n_features), dtype=np.float32)
        intercept = np.zeros(len(classes))
        for k, name in enumerate(classes):
            y = np.array([name in labs for labs in label_sets], dtype=int)
            if y.min() == y.max():  # every example has it (or none): a constant
                intercept[k] = 6.0 if y[0] else -6.0
                continue
            clf = LogisticRegression(C=c, max_iter=300, class_weight="balanced", solver="liblinear")
            clf.fit(x, y, sample_weight=weights)
            coef[k] = clf.coef_[0]
            intercept[k] = clf.intercept_[0]
    else:
        y_str = [str(e.label) for e in examples]
        classes = sorted(set(y_str))
        if len(classes) < 2:
            raise ValueError(f"task {task} needs at least two different labels, got {classes}")
        clf = LogisticRegression(
            C=c, max_iter=300, class_weight="balanced", solver="lbfgs" if len(classes) > 2 else "liblinear"
        )
        clf.fit(x, np.array(y_str), sample_weight=weights)
        classes = [str(k) for k in clf.classes_]
        coef = clf.coef_.astype(np.float32)
        intercept = clf.intercept_.astype(np.float64)
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
        memory_labels = np.array([index[str(e.label)] for e in examples], dtype=np.int64)
    import sklearn

    info = {
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "train_rows": len(examples),
        "train_seconds": round(time.perf_counter() - started, 2),
        "data_sha256": data_sha256(
            (e.lang, e.text, list(e.label) if isinstance(e.label, tuple) else e.label) for e in examples
        ),
        "sklearn": sklearn.__version__,
        "regularization_C": c,
    }
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
