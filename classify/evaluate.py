"""Evaluation: accuracy, per-class precision / recall / F1 and macro-F1 of a task on a labelled JSONL.

What is compared with the gold label:

- sentiment: the final sentiment label when the gold labels are negative / neutral / positive
  (gold sets with only two of them, like review polarity, are scored over those two classes);
  otherwise the sentiment model's own label.
- risk: the final risk level when the gold labels are levels (low ... critical); otherwise (e.g.
  offensive "1" / "0") the risk model's own label (the hostility part of risk).
- stance: the stance toward the office (supportive / neutral / critical) the engine gives.
- topic: a list of gold topics per line is compared as sets with the predicted topics (per-topic
  P/R/F1, accuracy = exact set match); a single gold topic per line with the best predicted topic.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classify.baseline import Comparison, baseline_predict, paired_bootstrap
from classify.datasets import RISK_LEVELS, SENTIMENTS, read_jsonl
from classify.engine import Classifier


@dataclass
class Report:
    task: str
    data: str
    rows: int
    accuracy: float
    macro_f1: float
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)
    mode: str = ""
    gold: list[str] = field(default_factory=list, repr=False)  # single-label reports: the compared labels
    pred: list[str] = field(default_factory=list, repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "task": self.task,
            "data": self.data,
            "rows": self.rows,
            "mode": self.mode,
            "accuracy": round(self.accuracy, 4),
            "macro_f1": round(self.macro_f1, 4),
            "per_class": {k: {m: round(v, 4) for m, v in d.items()} for k, d in self.per_class.items()},
        }


def _prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 0.0
    r = tp / (tp + fn) if tp + fn else 0.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def single_label_report(task: str, data: str, gold: Sequence[str], pred: Sequence[str], mode: str) -> Report:
    classes = sorted(set(gold))
    per: dict[str, dict[str, float]] = {}
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p == c)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if g != c and p == c)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if g == c and p != c)
        p_, r_, f_ = _prf(tp, fp, fn)
        per[c] = {"precision": p_, "recall": r_, "f1": f_, "support": float(sum(1 for g in gold if g == c))}
    acc = sum(1 for g, p in zip(gold, pred, strict=True) if g == p) / len(gold) if gold else 0.0
    macro = sum(d["f1"] for d in per.values()) / len(per) if per else 0.0
    return Report(task, data, len(gold), acc, macro, per, mode, list(gold), list(pred))


def multi_label_report(task: str, data: str, gold: Sequence[set[str]], pred: Sequence[set[str]], mode: str) -> Report:
    classes = sorted(set().union(*gold)) if gold else []
    per: dict[str, dict[str, float]] = {}
    for c in classes:
        tp = sum(1 for g, p in zip(gold, pred, strict=True) if c in g and c in p)
        fp = sum(1 for g, p in zip(gold, pred, strict=True) if c not in g and c in p)
        fn = sum(1 for g, p in zip(gold, pred, strict=True) if c in g and c not in p)
        p_, r_, f_ = _prf(tp, fp, fn)
        per[c] = {"precision": p_, "recall": r_, "f1": f_, "support": float(sum(1 for g in gold if c in g))}
    acc = sum(1 for g, p in zip(gold, pred, strict=True) if g == p) / len(gold) if gold else 0.0
    macro = sum(d["f1"] for d in per.values()) / len(per) if per else 0.0
    return Report(task, data, len(gold), acc, macro, per, mode)


def evaluate(classifier: Classifier, task: str, data: Path, batch_size: int = 512) -> Report:
    rows = list(read_jsonl(data))
    if not rows:
        raise ValueError(f"{data}: no labelled lines")
    for n, row in enumerate(rows, 1):
        if not isinstance(row.get("text"), str) or "label" not in row:
            raise ValueError(f"{data}:{n}: each line needs 'text' and 'label'")
    docs = [{"text": r["text"], "title": r.get("title") or "", "lang": r.get("lang")} for r in rows]
    results = []
    for start in range(0, len(docs), batch_size):
        results.extend(classifier.classify_batch(docs[start : start + batch_size]))
    name = str(data)
    if task == "topic":
        multi = any(isinstance(r["label"], list) for r in rows)
        if multi:
            gold_sets = [set(r["label"]) if isinstance(r["label"], list) else {str(r["label"])} for r in rows]
            pred_sets = [{t["name"] for t in res.topics} for res in results]
            return multi_label_report(task, name, gold_sets, pred_sets, "topic sets")
        gold = [str(r["label"]) for r in rows]
        pred = [res.topics[0]["name"] if res.topics else "(none)" for res in results]
        return single_label_report(task, name, gold, pred, "best topic")
    gold = [str(r["label"]) for r in rows]
    if task == "sentiment":
        if set(gold) <= set(SENTIMENTS):
            return single_label_report(task, name, gold, [res.sentiment for res in results], "final sentiment")
        return single_label_report(
            task, name, gold, [_model_label(res, "sentiment") for res in results], "sentiment model"
        )
    if task == "risk":
        if set(gold) <= set(RISK_LEVELS):
            return single_label_report(task, name, gold, [res.risk_level for res in results], "final risk level")
        return single_label_report(
            task, name, gold, [_model_label(res, "risk", classifier) for res in results], "risk model"
        )
    if task == "stance":
        pred = [str(res.reasons.get("stance", {}).get("label", "neutral")) for res in results]
        return single_label_report(task, name, gold, pred, "stance toward the office")
    raise ValueError(f"unknown task {task}")


def baseline_comparison(report: Report, data: Path, train: Path) -> Comparison:
    """Ours beside the character 1-3-gram TF-IDF + logistic regression baseline trained on ``train``
    (JSONL, text + label) and scored on the same rows of ``data``, with the paired-bootstrap interval."""
    if not report.gold:
        raise ValueError("the baseline comparison needs one gold label per line (not topic lists)")
    train_rows = list(read_jsonl(train))
    if not train_rows or any(not isinstance(r.get("text"), str) or "label" not in r for r in train_rows):
        raise ValueError(f"{train}: each line needs 'text' and 'label'")
    if any(isinstance(r["label"], list) for r in train_rows):
        raise ValueError(f"{train}: the baseline compares single-label tasks (a line has a list of labels)")
    test_texts = [_doc_text(r) for r in read_jsonl(data)]
    base, _ = baseline_predict([_doc_text(r) for r in train_rows], [str(r["label"]) for r in train_rows], test_texts)
    return paired_bootstrap(report.gold, report.pred, base)


def _doc_text(row: dict[str, Any]) -> str:
    title = row.get("title") or ""
    return f"{title}\n{row['text']}" if title else str(row["text"])


def _model_label(res: Any, task: str, classifier: Classifier | None = None) -> str:
    if task == "sentiment":
        probs = res.reasons.get("sentiment", {}).get("model") or {}
        return max(probs, key=lambda k: probs[k]) if probs else "neutral"
    assert classifier is not None
    for factor in res.reasons.get("risk", {}).get("factors", []):
        if factor["factor"] == "hostility_model":
            classes = classifier.models["risk"].classes
            return classes[-1] if factor["value"] >= 0.5 else classes[0]
        if factor["factor"] == "risk_model":
            detail = factor.get("detail") or {}
            return max(detail, key=lambda k: detail[k]) if detail else "low"
    return classifier.models["risk"].classes[0]


def render_table(report: Report) -> list[str]:
    lines = [
        f"{report.task} on {report.data} ({report.rows} rows; compared: {report.mode})",
        f"{'class':<24}{'precision':>10}{'recall':>10}{'f1':>10}{'support':>9}",
    ]
    for c, d in report.per_class.items():
        lines.append(f"{c:<24}{d['precision']:>10.3f}{d['recall']:>10.3f}{d['f1']:>10.3f}{int(d['support']):>9}")
    lines.append(f"{'accuracy':<24}{report.accuracy:>30.3f}")
    lines.append(f"{'macro-F1':<24}{report.macro_f1:>30.3f}")
    return lines


def report_json_line(report: Report) -> str:
    return json.dumps(report.as_json(), ensure_ascii=False, sort_keys=True)
