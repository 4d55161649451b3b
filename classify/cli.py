"""Command-line commands of the classify stage: thin wrappers over library functions.

- ``presswatch classify --input IN.jsonl --output OUT.jsonl [--models DIR]``: the batch interface;
  without ``--input`` it classifies the stored articles that lack a current classification.
- ``presswatch train --task T --data TRAIN.jsonl --models DIR``: one task from these examples;
  without ``--data``: the default models from the shared data + hand set + stored staff labels.
- ``presswatch evaluate --task T --data TEST.jsonl [--models DIR] [--baseline-train TRAIN.jsonl]``: table
  + one JSON line; with a training file, ours beside the character n-gram baseline trained on it.
- ``presswatch label ARTICLE_ID --task T --label L``: store a staff correction.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

TASK_HELP = "sentiment, topic or risk"


def _cli_error(message: str) -> Exception:
    from presswatch.console import CliError

    return CliError(message)


def _classifier(models: Path | None) -> Any:
    from classify.engine import ClassifierError, load_classifier
    from classify.service import settings_watch_rules
    from settings import get_settings

    settings = get_settings()
    models_dir = models or (Path(settings.classify.models_dir) if settings.classify.models_dir else None)
    if models is not None and not models.is_dir():
        raise _cli_error(f"models directory not found: {models}")
    try:
        return load_classifier(models_dir, settings.classify.taxonomy_file or None, settings_watch_rules(settings))
    except ClassifierError as exc:
        raise _cli_error(str(exc)) from None


def _stored_labels() -> list[Any]:
    """The staff labels in the database (``classify.service.stored_labels``)."""
    from sqlalchemy.orm import Session

    from classify.service import stored_labels
    from models.db import get_engine

    with Session(get_engine()) as session:
        return stored_labels(session)


def _check_task(task: str, also: tuple[str, ...] = ()) -> str:
    known = ("sentiment", "topic", "risk", *also)
    if task not in known:
        raise _cli_error(f"--task must be {', '.join(known[:-1])} or {known[-1]}, not '{task}'")
    return task


def classify_cmd(
    input: Path | None = typer.Option(None, "--input", "-i", help="JSONL: id, text, optional title and lang."),
    output: Path | None = typer.Option(None, "--output", "-o", help="JSONL written here ('-' for stdout)."),
    models: Path | None = typer.Option(None, "--models", help="Models directory (default: the shipped models)."),
    limit: int | None = typer.Option(None, help="Without --input: classify at most this many stored articles."),
    again_since: str | None = typer.Option(
        None, "--again-since", help="Classify again every article stored within this window (12h, 7d, 2w), "
        "classified or not: after changing watch queries, privacy patterns or the models. The alert rules see "
        "the new results."),
    reindex: bool = typer.Option(
        False, "--reindex", help="Only rebuild which organization sees which stored article (the coverage "
        "stream's index of watch-query matches), after adding, changing or disabling watch queries."),
) -> None:
    """Classify a JSONL file (topics, sentiment, risk with reasons), or the stored articles pending."""
    from rich.console import Console

    console = Console(stderr=True)
    if reindex:
        if input is not None or again_since is not None:
            raise _cli_error("--reindex works alone")
        from sqlalchemy.orm import Session

        from classify.visibility import reindex as rebuild
        from models.db import get_engine

        with Session(get_engine(create=False)) as session, session.begin():
            rows = rebuild(session)
        console.print(f"indexed {rows} watch-query matches of stored articles")
        return
    if input is None:
        if output is not None:
            raise _cli_error("--output needs --input")
        _classify_stored(limit, models, console, again_since)
        return
    if again_since is not None:
        raise _cli_error("--again-since works on stored articles, not with --input")
    if output is None:
        raise _cli_error("--output is required with --input")
    if not input.is_file():
        raise _cli_error(f"input file not found: {input}")
    classifier = _classifier(models)
    from settings import get_settings

    batch_size = get_settings().classify.batch_size
    out_fh = sys.stdout if str(output) == "-" else output.open("w", encoding="utf-8")
    counts: dict[str, int] = {}
    total = 0
    try:
        from presswatch.jsonl import JsonlError, read_objects

        batch: list[dict[str, Any]] = []
        try:
            for _n, row in read_objects(input):  # the one JSONL reader
                batch.append(row)
                if len(batch) >= batch_size:
                    total += _write_batch(classifier, batch, out_fh, counts)
                    batch = []
        except JsonlError as exc:
            raise _cli_error(str(exc)) from None
        if batch:
            total += _write_batch(classifier, batch, out_fh, counts)
    finally:
        if out_fh is not sys.stdout:
            out_fh.close()
    summary = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    console.print(f"classified {total} lines -> {output} (risk: {summary or 'none'}; model {classifier.version})")


def _write_batch(classifier: Any, batch: list[dict[str, Any]], out_fh: Any, counts: dict[str, int]) -> int:
    docs = [
        {
            "title": r.get("title") if isinstance(r.get("title"), str) else "",
            "text": r.get("text") if isinstance(r.get("text"), str) else "",
            "lang": r.get("lang") if isinstance(r.get("lang"), str) else None,
            "source": r.get("source") if isinstance(r.get("source"), str) else "",
        }
        for r in batch
    ]
    for row, res in zip(batch, classifier.classify_batch(docs), strict=True):
        out = dict(row)
        out.update(res.as_output())
        counts[res.risk_level] = counts.get(res.risk_level, 0) + 1
        out_fh.write(json.dumps(out, ensure_ascii=False) + "\n")
    return len(batch)


def _classify_stored(limit: int | None, models: Path | None, console: Any, again_since: str | None = None) -> None:
    from sqlalchemy.orm import Session

    from classify.engine import ClassifierError
    from classify.service import classify_articles, classify_pending, stored_since
    from models import utcnow
    from models.db import get_engine
    from presswatch.console import parse_since
    from settings import get_settings

    window = parse_since(again_since, "--again-since") if again_since is not None else None

    settings = get_settings()
    if models is not None:
        settings = settings.model_copy(
            update={"classify": settings.classify.model_copy(update={"models_dir": str(models)})}
        )
    engine = get_engine(create=False)
    try:
        with Session(engine) as session, session.begin():
            if window is None:
                events = classify_pending(session, settings, limit)
            else:
                events = classify_articles(session, settings, stored_since(session, utcnow() - window, limit))
    except ClassifierError as exc:
        raise _cli_error(str(exc)) from None
    by_level: dict[str, int] = {}
    for e in events:
        by_level[e.risk_level] = by_level.get(e.risk_level, 0) + 1
    again = f" stored in the last {again_since}" if again_since is not None else ""
    console.print(f"classified {len(events)} stored articles{again}; risk: {by_level or 'none'}")


def train_cmd(
    task: str | None = typer.Option(None, "--task", help=TASK_HELP + "; without --data, all three by default."),
    data: Path | None = typer.Option(None, "--data", help="JSONL lines with text and label (topic: string or list)."),
    models: Path | None = typer.Option(None, "--models", help="Where to save the model(s)."),
    with_rules: bool = typer.Option(
        False,
        "--with-rules",
        help="topic with --data: also add the built-in taxonomy rules' topics to the model's (off: the model's alone).",
    ),
    with_feedback: bool | None = typer.Option(
        None,
        "--with-feedback/--without-feedback",
        help="Learn the staff labels stored by the web app's feedback buttons, dismissed false alarms and "
        "`presswatch label` (newest per article and task). Default: on without --data, off with --data.",
    ),
    feedback_weight: float | None = typer.Option(
        None,
        "--feedback-weight",
        min=0.0,
        help="Weight of one staff label against one training row (default: 12 for the default models, "
        "2 with --data).",
    ),
) -> None:
    """Train a task's model from JSONL examples, or (no --data) retrain the defaults incl. staff labels.

    With --data the model predicts the labels it was trained on: one label per document when each
    line has one (multinomial), several when lines carry lists (one-vs-rest); C is chosen by
    cross-validation on these lines."""
    from settings import get_settings

    settings = get_settings()
    target = models or Path(settings.classify.models_dir or Path(settings.data_dir) / "models")
    if data is not None:
        if task is None:
            raise _cli_error("--task is required with --data")
        _check_task(task)
        if not data.is_file():
            raise _cli_error(f"training data not found: {data}")
        from classify.training import FEEDBACK_WEIGHT_USER, train_from_file

        feedback = _stored_labels() if with_feedback else []
        try:
            model = train_from_file(
                task,
                data,
                target,
                with_rules=with_rules,
                feedback=feedback,
                feedback_weight=FEEDBACK_WEIGHT_USER if feedback_weight is None else feedback_weight,
            )
        except ValueError as exc:
            raise _cli_error(str(exc)) from None
        typer.echo(
            f"trained {task} on {model.meta['train_rows']} examples ({', '.join(model.classes)}; "
            f"{model.meta['label_mode']}, C={model.meta['regularization_C']:g}) "
            f"in {model.meta['train_seconds']} s -> {target / (task + '.npz')}"
        )
        if with_feedback:
            used = model.meta.get("feedback_labels") or {"used": 0, "skipped": 0}
            typer.echo(
                f"staff labels: {used['used']} used, {used['skipped']} skipped (labels the file does not have)"
            )
        return
    tasks = [_check_task(task)] if task else ["sentiment", "topic", "risk"]
    from classify import datasets
    from classify.training import STORED_LABEL_WEIGHT, train_default

    if not settings.classify.shared_data_dir:
        raise _cli_error("classify.shared_data_dir is not set: name the folder of the labelled public data sets "
                         "(--set classify.shared_data_dir=PATH or presswatch.toml), or train from --data FILE")
    datasets.SHARED_DATA = Path(settings.classify.shared_data_dir)
    labels = _stored_labels() if with_feedback is not False else []
    try:
        trained = train_default(
            target, tasks, labels, STORED_LABEL_WEIGHT if feedback_weight is None else feedback_weight
        )
    except FileNotFoundError as exc:
        raise _cli_error(str(exc)) from None
    for name, model in trained.items():
        typer.echo(
            f"trained {name} on {model.meta['train_rows']} examples ({'; '.join(model.meta['trained_on'])}) "
            f"in {model.meta['train_seconds']} s"
        )
    typer.echo(f"saved to {target} ({len(labels)} stored staff labels used)")
    if not models and not settings.classify.models_dir:
        typer.echo(f"use them with --set classify.models_dir={target} (or in presswatch.toml)")


def evaluate_cmd(
    task: str = typer.Option(..., "--task", help=TASK_HELP),
    data: Path = typer.Option(..., "--data", help="JSONL lines with text and label."),
    models: Path | None = typer.Option(None, "--models", help="Models directory (default: the shipped models)."),
    baseline_train: Path | None = typer.Option(
        None,
        "--baseline-train",
        help="Training JSONL of the same task: also train the character 1-3-gram TF-IDF + logistic regression "
        "baseline on it and print ours beside it with a 95% paired-bootstrap interval.",
    ),
) -> None:
    """Accuracy, per-class precision / recall / F1 and macro-F1: a table, then one JSON line."""
    from classify.evaluate import baseline_comparison, evaluate, render_table, report_json_line

    _check_task(task, ("stance",))
    if not data.is_file():
        raise _cli_error(f"evaluation data not found: {data}")
    classifier = _classifier(models)
    try:
        report = evaluate(classifier, task, data)
    except (ValueError, json.JSONDecodeError) as exc:
        raise _cli_error(str(exc)) from None
    for line in render_table(report):
        typer.echo(line)
    if baseline_train is not None:
        if not baseline_train.is_file():
            raise _cli_error(f"baseline training data not found: {baseline_train}")
        try:
            comparison = baseline_comparison(report, data, baseline_train)
        except (ValueError, json.JSONDecodeError) as exc:
            raise _cli_error(str(exc)) from None
        typer.echo(f"beside the baseline (char 1-3-gram TF-IDF + LR on {baseline_train}): {comparison.line()}")
        line = json.loads(report_json_line(report))
        line["baseline"] = {
            "macro_f1": round(comparison.baseline, 4),
            "diff": round(comparison.diff, 4),
            "ci95": [round(comparison.low, 4), round(comparison.high, 4)],
            "trained_on": str(baseline_train),
        }
        typer.echo(json.dumps(line, ensure_ascii=False, sort_keys=True))
        return
    typer.echo(report_json_line(report))


def label_cmd(
    article_id: int = typer.Argument(..., help="The stored article's id."),
    task: str = typer.Option(..., "--task", help=TASK_HELP),
    label: str = typer.Option(
        ...,
        "--label",
        help="sentiment: negative/neutral/positive; risk: low..critical; topic: taxonomy keys, comma-separated.",
    ),
    author: str = typer.Option("", "--author", help="Who corrected it."),
    note: str | None = typer.Option(None, "--note"),
) -> None:
    """Store a staff correction of an article's topics, sentiment or risk (used by the next train)."""
    from sqlalchemy.orm import Session

    from classify.datasets import RISK_LEVELS, SENTIMENTS
    from classify.service import add_label, split_topics
    from classify.taxonomy import load_taxonomy
    from models.db import get_engine
    from settings import get_settings

    _check_task(task)
    if task == "sentiment" and label not in SENTIMENTS:
        raise _cli_error(f"sentiment label must be one of {', '.join(SENTIMENTS)}")
    if task == "risk" and label not in RISK_LEVELS:
        raise _cli_error(f"risk label must be one of {', '.join(RISK_LEVELS)}")
    if task == "topic":
        keys = set(load_taxonomy(get_settings().classify.taxonomy_file or None).topics)
        topics = split_topics(label)
        unknown = [t for t in topics if t not in keys]
        if not topics or unknown:
            raise _cli_error(
                f"unknown topic(s) {', '.join(unknown) or '(none given)'}; known: {', '.join(sorted(keys))}"
            )
        label = ",".join(topics)
    with Session(get_engine()) as session, session.begin():
        try:
            row = add_label(session, article_id, task, label, author=author, note=note)
        except LookupError as exc:
            raise _cli_error(str(exc)) from None
        label_id = row.id
    typer.echo(f"stored label {label_id}: article {article_id} {task} = {label} (used by the next 'presswatch train')")


def register(app: typer.Typer) -> None:
    """Add this stage's commands to the main presswatch app."""
    app.command("classify")(classify_cmd)
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("label")(label_cmd)
