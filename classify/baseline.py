"""The floor every trained model is compared with: a character 1-3-gram TF-IDF + logistic regression
trained on the same rows, and the paired bootstrap that says whether a gap is more than the noise of
a finite test set. ``presswatch evaluate --baseline-train`` and ``bench/train.py`` both use these.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

BASELINE_C = 4.0  # scikit-learn's usual strength for TF-IDF text features; the baseline is not tuned
BOOTSTRAP_ROUNDS = 1000


def baseline_predict(
    train_texts: Sequence[str], train_labels: Sequence[str], test_texts: Sequence[str]
) -> tuple[list[str], float]:
    """The baseline's labels for ``test_texts`` and its training seconds."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    started = time.perf_counter()
    vec = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1)
    x = vec.fit_transform(list(train_texts))
    clf = LogisticRegression(max_iter=1000, C=BASELINE_C)
    clf.fit(x, [str(y) for y in train_labels])
    seconds = time.perf_counter() - started
    return [str(p) for p in clf.predict(vec.transform(list(test_texts)))], seconds


def macro_f1(gold: Sequence[str], pred: Sequence[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(list(gold), list(pred), average="macro", labels=sorted(set(gold))))


@dataclass(frozen=True)
class Comparison:
    ours: float
    baseline: float
    low: float  # 95% interval of ours - baseline
    high: float

    @property
    def diff(self) -> float:
        return self.ours - self.baseline

    def verdict(self, tolerance: float = 0.005) -> str:
        if self.low > 0:
            return "above the baseline"
        if self.diff >= -tolerance:
            return "at the baseline (within noise)" if self.high >= 0 else "below, within tolerance"
        return "BELOW the baseline"

    def line(self) -> str:
        return (
            f"ours {self.ours:.4f}  baseline {self.baseline:.4f}  ours-baseline {self.diff:+.4f} "
            f"[{self.low:+.4f}, {self.high:+.4f}] (95% paired bootstrap)  {self.verdict()}"
        )


def paired_bootstrap(
    gold: Sequence[str], ours: Sequence[str], base: Sequence[str], rounds: int = BOOTSTRAP_ROUNDS, seed: int = 0
) -> Comparison:
    """Macro-F1 of both and the 95% interval of (ours - baseline) over test rows resampled with
    replacement, both scored on the same resample each round. Macro-F1 is over the gold classes."""
    import numpy as np
    from sklearn.metrics import f1_score

    y, a, b = (np.array([str(v) for v in seq]) for seq in (gold, ours, base))
    labels = sorted(set(y.tolist()))
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(rounds):
        i = rng.integers(0, len(y), len(y))
        diffs.append(
            f1_score(y[i], a[i], average="macro", labels=labels, zero_division=0)
            - f1_score(y[i], b[i], average="macro", labels=labels, zero_division=0)
        )
    lo, hi = np.percentile(diffs, [2.5, 97.5])
    return Comparison(macro_f1(gold, ours), macro_f1(gold, base), float(lo), float(hi))
