"""Migrations 0150-0152 (admin screens): existing sources go to the installation's one organization;
with several organizations they wait for a superuser; rows written before keep their file ownership."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AlertRule, Source
from models.enums import RiskLevel, SourceKind
from tests import factories
from tests.test_models import _downgrade, scratch_url  # noqa: F401 (the fixture)


def test_existing_sources_get_the_single_organization(scratch_url: str) -> None:  # noqa: F811
    from models.db import make_engine, upgrade

    upgrade(scratch_url)
    engine = make_engine(scratch_url)
    with Session(engine) as s:
        root = factories.unit(s, code="dz-court")
        factories.unit(s, code="dz-exec", parent_id=root.id)
        s.add(Source(key="dz-news", name="儋州新闻", kind=SourceKind.FEED))
        s.add(AlertRule(name="r", severity=RiskLevel.HIGH))
        s.commit()
        root_id = root.id
    _downgrade(scratch_url, engine, "0060")
    upgrade(scratch_url, engine=engine)
    with Session(engine) as s:
        source = s.scalar(select(Source))
        rule = s.scalar(select(AlertRule))
        assert source is not None and source.unit_id == root_id and source.managed_by == "file"
        assert rule is not None and rule.managed_by == "file"
        # a second organization: a source without a unit stays without one (superusers only)
        factories.unit(s, code="hy-thads")
        source.unit_id = None
        s.commit()
    _downgrade(scratch_url, engine, "0060")
    upgrade(scratch_url, engine=engine)
    with Session(engine) as s:
        assert s.scalar(select(Source.unit_id)) is None
    engine.dispose()
