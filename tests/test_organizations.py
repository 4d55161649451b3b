"""The unit tree as the organization tree: rules name their unit, the cases they open belong to it,
a unit loaded after the rules is picked up, rows without a unit go to the single top unit, and old
login rows are purged."""

from __future__ import annotations

import copy
import logging
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.engine import evaluate_pending
from alerts.rules_file import parse_rules, sync_rules
from models import Alert, AlertRule, LoginAttempt, Unit, User, WebSession, utcnow
from models.enums import UnitKind
from models.scope import default_unit_id
from tests import test_alerts_engine as eng


def _unit(session: Session, code: str, parent: Unit | None = None) -> Unit:
    row = Unit(code=code, name=code.upper(), kind=UnitKind.COURT, parent_id=parent.id if parent else None)
    session.add(row)
    session.flush()
    return row


def test_a_rules_unit_owns_the_cases_it_opens(session: Session) -> None:
    court = _unit(session, "dz-court")
    _unit(session, "hy-thads")
    rules = copy.deepcopy(eng.RULES)
    rules["groups"]["dz"]["unit"] = "dz-court"
    sync_rules(session, parse_rules(rules, eng.SETTINGS))
    assert session.scalar(select(AlertRule.unit_id).where(AlertRule.name == "dz-negative")) == court.id
    eng.piece(session)
    evaluate_pending(session, eng.SETTINGS, now=eng.NOON)
    alerts = list(session.scalars(select(Alert)))
    assert alerts and all(a.unit_id == court.id for a in alerts)


def test_a_unit_loaded_after_the_rules_is_picked_up_at_the_next_sync(session: Session,
                                                                      caplog: pytest.LogCaptureFixture) -> None:
    rules = copy.deepcopy(eng.RULES)
    rules["rules"][0]["unit"] = "儋州市人民法院"  # by name
    _unit(session, "other-a")
    _unit(session, "other-b")  # two top units: no default organization
    with caplog.at_level(logging.WARNING, logger="alerts.rules"):
        sync_rules(session, parse_rules(rules, eng.SETTINGS))
    assert "not loaded yet" in caplog.text
    assert session.scalar(select(AlertRule.unit_id).where(AlertRule.name == "dz-negative")) is None
    court = Unit(code="dz-court", name="儋州市人民法院", kind=UnitKind.COURT)
    session.add(court)
    session.flush()
    sync_rules(session, parse_rules(rules, eng.SETTINGS))
    assert session.scalar(select(AlertRule.unit_id).where(AlertRule.name == "dz-negative")) == court.id


def test_rows_without_a_unit_go_to_the_single_top_unit(session: Session) -> None:
    assert default_unit_id(session) is None  # no units at all
    court = _unit(session, "court")
    _unit(session, "team", court)
    assert default_unit_id(session) == court.id
    sync_rules(session, parse_rules(eng.RULES, eng.SETTINGS))
    assert session.scalar(select(AlertRule.unit_id).where(AlertRule.name == "dz-negative")) == court.id
    _unit(session, "second-top")
    assert default_unit_id(session) is None


def test_old_login_attempts_and_sessions_are_purged(session: Session) -> None:
    from accounts.logins import purge
    from settings import load_settings

    web = load_settings(environ={}).settings.web
    user = User(username="u", password_hash="x")
    session.add(user)
    session.flush()
    now = utcnow()
    old = now - timedelta(days=2)
    session.add_all([LoginAttempt(at=old, username="u"), LoginAttempt(at=now, username="u"),
                     WebSession(token_hash="a" * 64, user_id=user.id, created_at=old, last_seen_at=old),
                     WebSession(token_hash="b" * 64, user_id=user.id, created_at=now, last_seen_at=now)])
    session.flush()
    assert purge(session, web, now=now) == 2
    assert session.scalar(select(LoginAttempt.at)) == now
    assert session.scalar(select(WebSession.token_hash)) == "b" * 64


def test_rule_changes_from_the_file_are_audited_with_before_and_after(session: Session) -> None:
    from models import AuditEntry

    court = _unit(session, "dz-court")
    rules = copy.deepcopy(eng.RULES)
    sync_rules(session, parse_rules(rules, eng.SETTINGS))
    sync_rules(session, parse_rules(rules, eng.SETTINGS))  # unchanged: nothing more to audit
    rules["rules"][0]["severity"] = "critical"
    sync_rules(session, parse_rules(rules, eng.SETTINGS))
    rules["rules"] = []
    rules.pop("surge"), rules.pop("source_failing")
    sync_rules(session, parse_rules(rules, eng.SETTINGS))
    entries = [(e.action, e.object_id, e.unit_id, e.before, e.after)
               for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert [e[0] for e in entries] == ["rule.add", "rule.update", "rule.disable"]
    assert entries[1][1:] == ("dz-negative", court.id, {"severity": "high"}, {"severity": "critical"})
    assert entries[2][3:] == ({"enabled": True}, {"enabled": False})
    assert all(e.actor == "alert_rules.yaml" for e in session.scalars(select(AuditEntry)))
