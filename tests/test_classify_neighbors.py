"""The nearest-neighbour vote beside the logistic regression (classify.learned.NeighborVote)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from classify.learned import (
    Example,
    FeatureConfig,
    ModelFileError,
    NeighborVote,
    TextModel,
    doc_features,
    feature_hash,
    hash_counts,
    train_model,
)

CONFIG = FeatureConfig(n_features=2**12, char_ngrams=(1, 2), zh_word_bigrams=True)
GOOD = ["质量很好，物流很快", "非常满意，推荐购买", "包装精美，值得推荐", "服务态度好，下次还来", "性价比很高，喜欢"]
BAD = ["质量太差，非常失望", "物流太慢，不推荐", "客服态度恶劣，退货", "做工粗糙，后悔购买", "用了两天就坏了"]


def named(*features: str) -> np.ndarray:
    """The hashes of named features (``c:，``, ``w:词``), as one document's feature array."""
    return np.array([feature_hash(f) for f in features], dtype=np.uint64)


def examples() -> list[Example]:
    rows = [Example(t, "zh", "positive") for t in GOOD] + [Example(t, "zh", "negative") for t in BAD]
    # a rare-worded row whose label the regression alone cannot learn from one example
    rows.append(Example("蓝莓味道的螺丝刀套装", "zh", "negative", 3.0))
    return rows


def test_vote_moves_probabilities_toward_the_nearest_rows_and_survives_save_load(tmp_path: Path) -> None:
    vote = NeighborVote(k=1, model_weight=0.5, max_df=0.5)
    model = train_model("sentiment", examples(), config=CONFIG, c=1.0, neighbors=vote)
    assert model.neighbors == vote and model.memory_counts is not None
    # common features (in more than half of the rows, like the comma) are not kept for the vote
    comma = hash_counts([named("c:，")], CONFIG.n_features).indices[0]
    assert comma not in set(model.memory_counts.indices)
    assert hash_counts([named("c:螺")], CONFIG.n_features).indices[0] in set(model.memory_counts.indices)
    texts, langs = ["蓝莓味道的螺丝刀套装很好"], ["zh"]
    with_vote = model.predict_proba(texts, langs)
    counts = hash_counts([doc_features(texts[0], "zh", CONFIG)], CONFIG.n_features)
    alone = model.predict_proba_counts(counts, vote=False)
    neg = model.classes.index("negative")
    # k=1: the nearest row is the negative one; half the probability comes from it
    assert with_vote[0, neg] == pytest.approx(0.5 * alone[0, neg] + 0.5)
    assert with_vote[0, neg] > alone[0, neg]
    # a text sharing no rare feature with any row keeps the regression's probabilities
    counts_none = hash_counts([named("w:完全无关的词")], CONFIG.n_features)
    assert np.allclose(model.predict_proba_counts(counts_none), model.predict_proba_counts(counts_none, vote=False))

    # sharpening keeps the most probable class and makes it more probable
    sharp = model.predict_proba_counts(counts, NeighborVote(k=1, model_weight=0.5, max_df=0.5, sharpen=2.0))
    assert np.allclose(sharp, with_vote**2 / (with_vote**2).sum(axis=1, keepdims=True))
    assert sharp.argmax() == with_vote.argmax() and sharp.max() > with_vote.max()

    path = model.save(tmp_path)
    loaded = TextModel.load(path, "sentiment")
    assert loaded.neighbors == vote
    assert np.abs(loaded.predict_proba(texts, langs) - with_vote).max() < 1e-6
    memory = model.memory_counts
    assert loaded.memory_counts is not None
    assert (loaded.memory_counts.indices == memory.indices).all() and (
        loaded.memory_counts.indptr == memory.indptr
    ).all()


def test_regression_alone_without_a_vote_and_for_multilabel() -> None:
    model = train_model("sentiment", examples(), config=CONFIG, c=1.0)
    assert model.neighbors is None and model.memory_counts is None
    topics = [Example(t, "zh", ("a",) if i % 2 else ("a", "b")) for i, t in enumerate(GOOD + BAD)]
    multi = train_model("topic", topics, config=CONFIG, neighbors=NeighborVote())
    assert multi.neighbors is None and multi.memory_counts is None


def test_corrupt_neighbour_rows_name_the_file(tmp_path: Path) -> None:
    model = train_model("sentiment", examples(), config=CONFIG, c=1.0, neighbors=NeighborVote(k=3, max_df=0.5))
    path = model.save(tmp_path)
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    arrays["memory_labels"] = arrays["memory_labels"][:-1]
    bad = tmp_path / "bad" / "sentiment.npz"
    bad.parent.mkdir()
    np.savez_compressed(bad, **arrays)
    with pytest.raises(ModelFileError, match=r"neighbour rows.*bad/sentiment\.npz"):
        TextModel.load(bad)
