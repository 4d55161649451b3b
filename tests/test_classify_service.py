"""classify_pending on stored articles (SQLite and PostgreSQL), labels, the scheduled job, the demo step."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session

from classify.service import add_label, classify_pending, stored_labels
from models import Classification
from models.articles import Label, WatchQuery
from models.enums import OutletTier, RiskLevel, SentimentLabel
from presswatch.events import ArticleClassified, bus
from settings import Settings
from tests import factories

NEG_TEXT = "有居民称，儋州市人民法院执行干警在强制腾退中暴力执法，多人受伤，视频在网上流传。"
POS_TEXT = "儋州市人民法院执行局集中开展执行攻坚行动，帮助农民工拿到被拖欠的工资，工人们送来锦旗表示感谢。"


def test_classify_pending_stores_current_rows_and_publishes(session: Session) -> None:
    outlet = factories.outlet(session, tier=OutletTier.PROVINCIAL, reach=1.0)
    now = datetime.now(UTC)
    story = factories.story(session, article_count=5, outlet_count=4, first_seen_at=now - timedelta(hours=2))
    neg = factories.article(
        session, title="儋州法院被指暴力执法", text=NEG_TEXT, outlet_id=outlet.id, story_id=story.id
    )
    pos = factories.article(session, title="执行攻坚成效显著", text=POS_TEXT, lang="zh-CN")
    empty = factories.article(session, title="", text="", lang="und")
    already = factories.article(session, title="旧文", text=POS_TEXT)
    factories.classification(session, already, model_version="old")
    session.add(WatchQuery(name="dz-court", query="儋州法院 OR 儋州市人民法院", purpose="org"))
    session.add(WatchQuery(name="broken", query="(儋州", purpose="org"))  # skipped with a warning
    session.flush()

    seen: list[ArticleClassified] = []
    bus.subscribe(ArticleClassified, seen.append)
    try:
        events = classify_pending(session, Settings())
    finally:
        bus._handlers[ArticleClassified].remove(seen.append)
    assert {e.article_id for e in events} == {neg.id, pos.id, empty.id}
    # Published after the caller's commit, never before (this test's transaction is rolled back):
    # tests/test_events_wiring.py checks they arrive once it commits.
    assert seen == []
    rows = {c.article_id: c for c in session.scalars(select(Classification).where(Classification.is_current.is_(True)))}
    assert rows[neg.id].risk_level == RiskLevel.CRITICAL
    assert rows[neg.id].sentiment == SentimentLabel.NEGATIVE
    assert rows[neg.id].mentions_org is True
    factor_names = {f["factor"] for f in rows[neg.id].reasons["risk"]["factors"] if f["contribution"] > 0}
    assert {"sensitive_terms", "names_organization", "spread_velocity", "source_reach"} <= factor_names
    assert rows[pos.id].risk_level == RiskLevel.LOW and rows[pos.id].sentiment == SentimentLabel.POSITIVE
    assert rows[empty.id].lang == "und" and rows[empty.id].risk_level == RiskLevel.LOW
    assert rows[already.id].model_version == "old"
    # nothing left: a second run does nothing
    assert classify_pending(session, Settings()) == []
    # limit
    factories.article(session, text=POS_TEXT)
    factories.article(session, text=POS_TEXT)
    assert len(classify_pending(session, Settings(), limit=1)) == 1


def test_label_applies_correction_and_feeds_training(session: Session) -> None:
    art = factories.article(session, title="执行局召开会议", text="执行局召开执行工作推进会，部署下一阶段工作。")
    classify_pending(session, Settings())
    add_label(session, art.id, "sentiment", "negative", author="王五")
    add_label(session, art.id, "topic", "enforcement,press_relations")
    current = session.scalars(
        select(Classification).where(Classification.article_id == art.id, Classification.is_current.is_(True))
    ).one()
    assert current.sentiment == SentimentLabel.NEGATIVE
    assert [t["name"] for t in current.topics] == ["enforcement", "press_relations"]
    assert [c["task"] for c in current.reasons["corrections"]] == ["sentiment", "topic"]
    labels = stored_labels(session)
    assert [(lab.task, lab.label) for lab in labels] == [
        ("sentiment", "negative"),
        ("topic", "enforcement,press_relations"),
    ]
    assert "执行局召开会议" in labels[0].text and labels[0].lang == "zh"
    assert session.scalars(select(Label)).all()[0].author == "王五"


def test_reclassifying_demotes_the_old_row(session: Session) -> None:
    from classify.service import classify_articles

    art = factories.article(session, text=POS_TEXT)
    factories.classification(session, art, model_version="older")
    classify_articles(session, Settings(), [art])
    rows = session.scalars(select(Classification).where(Classification.article_id == art.id)).all()
    assert sorted(r.is_current for r in rows) == [False, True]
    classify_articles(session, Settings(), [art])  # same version again: updated in place
    assert len(session.scalars(select(Classification).where(Classification.article_id == art.id)).all()) == 2


def test_job_and_demo_step_classify_stored_articles(fresh_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from models.db import ensure_schema, make_engine
    from presswatch.demo import DemoContext

    engine = make_engine(fresh_db_url)
    ensure_schema(engine)
    with Session(engine) as s, s.begin():
        factories.article(s, title="儋州法院被指暴力执法", text=NEG_TEXT)
        factories.article(
            s,
            title="Khiếu nại đông người",
            lang="vi",
            text="Nhiều hộ dân khiếu nại đông người về việc cưỡng chế thi hành án ở Văn Lâm.",
        )
    console = Console(record=True, width=160)
    ctx = DemoContext(workdir=tmp_path, settings=Settings(), engine=engine, console=console)
    from classify.demo import run

    run(ctx)
    out = console.export_text()
    assert "儋州法院被指暴力执法" in out and "CRITICAL" in out and "紧急" in out
    assert "暴力执法" in out  # the top reason names the sensitive term
    assert len(ctx.state["classified_article_ids"]) == 2
    with Session(engine) as s:
        assert s.scalars(select(WatchQuery.name)).all()  # demo org queries seeded
    engine.dispose()


def test_scheduled_job_definition() -> None:
    from classify.jobs import scheduled_jobs
    from presswatch.service import resolve

    job, index_job = scheduled_jobs(Settings())
    assert job.trigger == "interval" and job.trigger_args == {"seconds": 30}
    assert callable(resolve(job.func))
    # the stream's index follows watch query changes, on one instance
    assert index_job.id == "stream-index" and index_job.once and callable(resolve(index_job.func))


def test_an_article_edited_after_classification_is_classified_again(session: Session, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The pipeline updates an article in place when its page changes (an outlet edits a report);
    the classification of the old text is then out of date, and the next run classifies the new
    text. An unchanged re-crawl does not make it pending again."""
    from pipeline.ingest import process_item
    from presswatch.items import RawItem
    from settings import load_settings

    settings = load_settings(environ={}, overrides={"pipeline.snapshot_dir": str(tmp_path / "snaps")}).settings
    url = "https://news.example.cn/dz/edited-report.html"

    def crawl(text: str) -> str:
        item = RawItem(url=url, source_key="news", fetched_at=datetime.now(UTC), title="儋州法院执行工作", text=text)
        return process_item(session, item, settings).outcome

    assert crawl(POS_TEXT) == "stored"
    (first,) = classify_pending(session, Settings())
    assert first.sentiment == "positive"
    assert crawl(POS_TEXT) == "duplicate" and classify_pending(session, Settings()) == []

    assert crawl(NEG_TEXT) == "updated"
    (again,) = classify_pending(session, Settings())
    assert again.article_id == first.article_id and again.sentiment == "negative"
    rows = session.scalars(select(Classification).where(Classification.article_id == first.article_id)).all()
    assert [(r.is_current, r.sentiment) for r in rows] == [(True, SentimentLabel.NEGATIVE)]
    assert classify_pending(session, Settings()) == []


def test_an_edited_article_that_turns_negative_is_alerted(fresh_db_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """Through the stages: stored and classified positive (no alert); the outlet edits the page
    into a report of violent enforcement; the pipeline updates the article, the classifier reads
    the new text, and the alert engine raises an alert on it."""
    from alerts.engine import evaluate_new
    from models import Alert
    from models.db import make_engine, upgrade
    from pipeline.ingest import ingest_items
    from presswatch.events import EventBus
    from presswatch.items import RawItem
    from settings import load_settings

    (tmp_path / "rules.yaml").write_text(
        "rules:\n  - name: dz\n    when: {min_risk: low, sentiment: [negative], query: 儋州}\n"
        "    recipients: [{name: 王五, address: wangwu@dz-court.example.cn, language: zh-CN}]\n", encoding="utf-8")
    settings = load_settings(environ={}, overrides={
        "db.url": fresh_db_url, "alerts.rules_file": str(tmp_path / "rules.yaml"),
        "pipeline.snapshot_dir": str(tmp_path / "snaps")}).settings
    upgrade(fresh_db_url)
    engine = make_engine(fresh_db_url)
    url = "https://news.example.cn/dz/edited-report.html"

    def crawl_classify_alert(text: str, *others: RawItem) -> tuple[str, list[str], int]:
        item = RawItem(url=url, source_key="news", fetched_at=datetime.now(UTC), title="儋州法院执行工作", text=text)
        stats = ingest_items([item, *others], engine=engine, settings=settings, bus=EventBus())
        with Session(engine) as s, s.begin():
            classified = [e.sentiment for e in classify_pending(s, settings)]
        # Evaluated 10 minutes on: the alert engine re-reads rows behind its cursor only for 5
        # minutes (late commits), and an edit usually comes days after the first classification.
        later = datetime.now(UTC) + timedelta(minutes=10)
        return ("stored" if stats.stored else "updated" if stats.updated else "duplicate", classified[:1],
                evaluate_new(engine, settings, now=later).raised)

    try:
        # Another piece is classified after it, as on any working day.
        other = RawItem(url="https://news.example.cn/hy/other.html", source_key="news", fetched_at=datetime.now(UTC),
                        title="海口法院开展普法宣传", text="海口市中级人民法院干警走进社区开展普法宣传，发放资料500余份。")
        assert crawl_classify_alert(POS_TEXT, other) == ("stored", ["positive"], 0)
        assert crawl_classify_alert(NEG_TEXT) == ("updated", ["negative"], 1)
        with Session(engine) as s:
            assert s.scalar(select(Alert.title)) == "儋州法院执行工作"
    finally:
        engine.dispose()


def test_classify_articles_scores_batches_of_batch_size(session: Session) -> None:
    """The service's classify job goes through ``classify_batch`` in ``classify.batch_size`` chunks
    (the batch path is what the speed figures measure), and each piece still gets its own result."""
    from classify.service import classify_articles, db_watch_rules, get_classifier, settings_watch_rules

    settings = Settings.model_validate({"classify": {"batch_size": 2}})
    arts = [factories.article(session, title=f"第{i}篇", text=NEG_TEXT if i % 2 else POS_TEXT) for i in range(5)]
    session.flush()
    classifier = get_classifier(settings, [*settings_watch_rules(settings), *db_watch_rules(session)])
    sizes: list[int] = []
    original = classifier.classify_batch

    def recording(docs, contexts=None):  # type: ignore[no-untyped-def]
        sizes.append(len(docs))
        return original(docs, contexts)

    classifier.classify_batch = recording  # type: ignore[method-assign]
    try:
        events = classify_articles(session, settings, arts)
    finally:
        del classifier.classify_batch
    assert sizes == [2, 2, 1]
    assert [e.article_id for e in events] == [a.id for a in arts]
    assert [e.sentiment for e in events] == ["positive", "negative", "positive", "negative", "positive"]
