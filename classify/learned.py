"""Learned text models: hashed token features + linear classifiers (scikit-learn), stored safely.

Features are the classifier tokens of ``classify.tokenize`` (jieba words with the domain dictionary
for Chinese; syllables and syllable bigrams for Vietnamese) plus character n-grams, hashed into a
fixed space (no vocabulary to store), log-scaled and L2-normalized. The classifier is a logistic
regression (multinomial for single-label tasks, one-vs-rest for multi-label topics).

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

    # ------------------------------------------------------------------ prediction
    def predict_proba_features(self, features: Sequence[list[str]]) -> np.ndarray:
        """(n_docs, n_classes) probabilities (softmax, or per-class sigmoid when multi-label)."""
        if not features:
            return np.zeros((0, len(self.classes)))
        return self.predict_proba_counts(hash_counts(features, self.config.n_features))

    def predict_proba_counts(self, counts: Any) -> np.ndarray:
        """Probabilities from raw hashed counts (of this model's feature groups, any power-of-two width)."""
        if counts.shape[0] == 0:
            return np.zeros((0, len(self.classes)))
        x = weight(fold(counts, self.config.n_features), self.idf)
        scores = np.asarray(x @ self.coef.T, dtype=np.float64) + self.intercept
        if self.multilabel:
            return 1.0 / (1.0 + np.exp(-scores))
        if scores.shape[1] == 1:  # binary: one output for classes[1]
            p1 = 1.0 / (1.0 + np.exp(-scores[:, 0]))
            return np.column_stack([1.0 - p1, p1])
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

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
        tmp = path.with_suffix(".tmp.npz")
        np.savez_compressed(
            tmp,
            header=np.array(json.dumps(header, ensure_ascii=False)),
            coef=self.coef.astype(np.float32),
            intercept=self.intercept.astype(np.float64),
            idf=self.idf if self.idf is not None else np.zeros(0, dtype=np.float32),
        )
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
        return cls(
            task=str(header["task"]),
            classes=classes,
            multilabel=bool(header["multilabel"]),
            coef=coef,
            intercept=intercept,
            config=config,
            idf=idf if idf.size else None,
            meta=dict(header.get("meta") or {}),
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
) -> TextModel:
    """Fit a model for ``task`` on ``examples`` (single-label, or multi-label when labels are tuples).

    ``features``: the examples' :func:`doc_features` under ``config`` when already computed (cross-validation).
    """
    from sklearn.linear_model import LogisticRegression

    if not examples:
        raise ValueError(f"no training examples for task {task}")
    config = config or FeatureConfig()
    started = time.perf_counter()
    is_multi = multilabel if multilabel is not None else any(isinstance(e.label, tuple) for e in examples)
    if features is None:
        features = [doc_features(e.text, e.lang, config) for e in examples]
    raw = vectorize(features, config)
    idf = fit_idf(raw) if use_idf else None
    x = vectorize(features, config, idf)
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
    )


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))
