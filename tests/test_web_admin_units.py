"""/admin/units: the admin's units with people; add / rename / move units (dated history), add people
and move them between units; another organization's units and people answer 404; audited.
On SQLite and PostgreSQL (the ``web`` fixture)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import AuditEntry, Person, Unit, UnitHistory


def _db(web: Any) -> Session:
    session: Session = web.app.state.session_factory()
    return session


def test_units_people_and_moves(web: Any) -> None:
    db = _db(web)
    hy_person = Person(unit_id=web.world.units["hy-vanlam"].id, name="Nguyễn Văn An")
    db.add(hy_person)
    db.commit()
    hy_person_id = hy_person.id
    db.close()
    client = web.login("dz-admin")
    page = client.get("/admin/units")
    assert page.status_code == 200
    assert 'data-unit="dz-exec-1"' in page.text and "Văn Lâm" not in page.text and "Nguyễn Văn An" not in page.text
    assert web.login("dz-duty").get("/admin/units").status_code == 403

    assert client.post("/admin/units", data={"code": "dz-exec-2", "name": "执行二队", "kind": "team",
                                             "parent": "dz-exec"}).status_code == 303
    assert client.post("/admin/units", data={"code": "x", "name": "x", "kind": "team",
                                             "parent": "hy-thads"}).status_code == 404
    assert client.post("/admin/units", data={"code": "top", "name": "top", "kind": "court"}).status_code == 404
    assert client.post("/admin/units", data={"code": "dz-exec-2", "name": "again", "kind": "team",
                                             "parent": "dz-exec"}).status_code == 400
    assert client.post("/admin/units/dz-exec-1/rename", data={"name": "执行一大队"}).status_code == 303
    assert client.post("/admin/units/dz-exec-2/move", data={"parent": "dz-court"}).status_code == 303
    assert client.post("/admin/units/dz-exec-2/move", data={"parent": "hy-thads"}).status_code == 404
    assert client.post("/admin/units/hy-vanlam/rename", data={"name": "x"}).status_code == 404
    # a unit cannot move under its own descendant
    assert client.post("/admin/units/dz-exec/move", data={"parent": "dz-exec-1"}).status_code == 400

    assert client.post("/admin/units/people", data={"unit": "dz-exec-1", "name": "张三"}).status_code == 303
    db = _db(web)
    person = db.scalar(select(Person).where(Person.name == "张三"))
    assert person is not None
    person_id = person.id
    db.close()
    assert client.post(f"/admin/units/people/{person_id}/move", data={"unit": "dz-exec-2"}).status_code == 303
    assert client.post(f"/admin/units/people/{person_id}/move", data={"unit": "hy-vanlam"}).status_code == 404
    assert client.post(f"/admin/units/people/{hy_person_id}/move", data={"unit": "dz-exec-1"}).status_code == 404

    db = _db(web)
    units = {u.code: u for u in db.scalars(select(Unit))}
    assert units["dz-exec-2"].parent_id == units["dz-court"].id and units["dz-exec-1"].name == "执行一大队"
    assert "执行一队" in units["dz-exec-1"].aliases  # old bylines still match
    history = db.scalars(select(UnitHistory).where(UnitHistory.unit_id == units["dz-exec-2"].id)
                         .order_by(UnitHistory.valid_from)).all()
    assert [h.parent_id for h in history] == [units["dz-exec"].id, units["dz-court"].id]
    assert history[0].valid_to is not None and history[1].valid_to is None
    moved = db.get(Person, person_id)
    assert moved is not None and moved.unit_id == units["dz-exec-2"].id
    entries = db.scalars(select(AuditEntry).where(AuditEntry.actor == "dz-admin",
                                                  AuditEntry.object_type.in_(["unit", "person"]))
                         .order_by(AuditEntry.id)).all()
    assert [e.action for e in entries] == ["unit.add", "unit.rename", "unit.move", "person.add", "person.move"]
    assert entries[4].before == {"name": "张三", "unit": "dz-exec-1"}
    assert entries[4].after == {"name": "张三", "unit": "dz-exec-2"}
    db.close()
