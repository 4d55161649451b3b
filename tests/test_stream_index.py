"""The visibility index behind the coverage stream: classifying a stored piece records which
organizations' watch queries match it; ``presswatch classify --reindex`` rebuilds it after watch
queries change; the SQL condition agrees with ``article_visible`` piece by piece."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from presswatch.cli import app
from tests.test_models import scratch_url  # noqa: F401  (the fixture: a database of its own per backend)

runner = CliRunner()


def test_classify_indexes_and_reindex_follows_watch_query_changes(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("PRESSWATCH_DB__URL", f"sqlite:///{tmp_path / 'index.db'}")
    from classify.visibility import article_visible, visible_condition
    from models import Article, ArticleMatch, Unit, WatchQuery
    from models.db import get_engine
    from models.enums import UnitKind
    from models.scope import Scope
    from tests import factories

    with Session(get_engine()) as s, s.begin():
        dz = Unit(code="dz", name="儋州市人民法院", kind=UnitKind.COURT)
        hy = Unit(code="hy", name="Cục THADS Hưng Yên", kind=UnitKind.DEPARTMENT)
        s.add_all([dz, hy])
        s.flush()
        s.add(WatchQuery(name="dz", query='"儋州法院"', purpose="org", unit_id=dz.id))
        s.add(WatchQuery(name="hy", query='"Hưng Yên"', purpose="org", unit_id=hy.id))
        a = factories.article(s, title="儋州法院发布执行公告", text="儋州法院").id
        b = factories.article(s, title="Cưỡng chế ở Hưng Yen", text="hung yen", lang="vi").id  # no marks: no match
        c = factories.article(s, title="Thi hành án Hưng Yên", text="Hưng Yên", lang="vi").id
        # a story: its first piece names 儋州法院, its repost does not; the repost is visible with it
        story = factories.story(s)
        factories.article(s, title="儋州法院通报", text="儋州法院", story_id=story.id)
        repost = factories.article(s, title="转发通报", text="转发", story_id=story.id).id
        dz_id, hy_id = dz.id, hy.id
    result = runner.invoke(app, ["classify"])
    assert result.exit_code == 0, result.output
    with Session(get_engine()) as s:
        assert {(m.article_id, m.unit_id) for m in s.scalars(select(ArticleMatch))} >= {(a, dz_id), (c, hy_id)}
        assert repost not in {m.article_id for m in s.scalars(select(ArticleMatch))}
        # The SQL condition and the one-piece rule agree, for each organization
        for unit in (dz_id, hy_id):
            scope = Scope(user_id=None, username="x", unit_ids=frozenset({unit}))
            listed = set(s.scalars(select(Article.id).where(visible_condition(scope))))
            assert listed == {x.id for x in s.scalars(select(Article)) if article_visible(s, x, scope)}
            assert (repost in listed) == (unit == dz_id)
    with Session(get_engine()) as s, s.begin():
        s.scalar(select(WatchQuery).where(WatchQuery.name == "hy")).query = '"Hưng Yên" OR "hung yen"'
    result = runner.invoke(app, ["classify", "--reindex"])
    assert result.exit_code == 0 and "indexed 4" in result.output, result.output
    with Session(get_engine()) as s, s.begin():
        assert {(m.article_id, m.unit_id) for m in s.scalars(select(ArticleMatch)) if m.article_id in (a, b, c)} == {
            (a, dz_id), (b, hy_id), (c, hy_id)}
        s.scalar(select(WatchQuery).where(WatchQuery.name == "dz")).enabled = False
    assert runner.invoke(app, ["classify", "--reindex"]).exit_code == 0
    with Session(get_engine()) as s:
        assert {m.unit_id for m in s.scalars(select(ArticleMatch))} == {hy_id}


def test_migration_0100_indexes_the_pieces_already_stored(scratch_url: str) -> None:  # noqa: F811
    """An install upgraded to the stream has its stored pieces indexed against its watch queries."""
    from sqlalchemy import create_engine, text

    from models.db import upgrade

    upgrade(scratch_url, "0060")
    eng = create_engine(scratch_url)
    now = "2026-01-01 00:00:00"
    with eng.begin() as conn:
        conn.execute(text("INSERT INTO units (code, name, kind, aliases, active, contacts, created_at, updated_at) "
                          "VALUES ('court', '儋州市人民法院', 'court', '[]', :t, '[]', :now, :now)"), {"now": now, "t": True})
        court = conn.execute(text("SELECT id FROM units")).scalar_one()
        for name, query, enabled in (("org", '"儋州法院"', True), ("off", "天气", False)):
            conn.execute(text("INSERT INTO watch_queries (name, query, purpose, enabled, priority, unit_id, created_at,"
                              " updated_at) VALUES (:n, :q, 'org', :e, 0, :u, :now, :now)"),
                         {"n": name, "q": query, "e": enabled, "u": court, "now": now})
        for i, title in enumerate(("儋州法院发布公告", "某地天气晴好", "儋州法院执行局")):
            conn.execute(text("INSERT INTO articles (url, canonical_url, url_hash, title, text, lang, "
                              "published_at_missing, fetched_at, stored_at, metrics, flags, extra) VALUES "
                              "(:u, :u, :h, :t, '', 'zh', :f, :now, :now, '{}', '[]', '{}')"),
                         {"u": f"https://x.cn/{i}", "h": f"h{i}", "t": title, "f": False, "now": now})
    upgrade(scratch_url, "head")
    with eng.connect() as conn:
        rows = conn.execute(text("SELECT a.title, m.unit_id FROM article_matches m JOIN articles a ON a.id = m.article_id"
                                 " ORDER BY a.id")).all()
    assert [tuple(r) for r in rows] == [("儋州法院发布公告", court), ("儋州法院执行局", court)]
    eng.dispose()
    # The index remembers the queries it was built from: the service's job has nothing to do until
    # they change, then rebuilds.
    from sqlalchemy.orm import Session

    from classify.visibility import reindex_if_queries_changed
    from models import WatchQuery
    from models.db import make_engine

    engine = make_engine(scratch_url)
    with Session(engine) as s, s.begin():
        assert reindex_if_queries_changed(s) is None
        s.scalar(select(WatchQuery).where(WatchQuery.name == "off")).enabled = True
    with Session(engine) as s, s.begin():
        assert reindex_if_queries_changed(s) == 3  # two for the court's name, one for the weather
        assert reindex_if_queries_changed(s) is None
    engine.dispose()
