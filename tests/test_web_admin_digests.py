"""/admin/digests: the organization's definitions (file and web), add / edit with the file's
validation, the saved definition wins over the file's, a sandboxed preview, scoping, audit.
On SQLite and PostgreSQL (the ``web`` fixture)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from alerts.digest.definitions import all_definitions
from models import AuditEntry, DigestDefinitionRow

DIGESTS = {"digests": [
    {"name": "dz-daily", "title": "儋州法院舆情日报", "recipients": ["leader@dz.example.cn"], "language": "zh-CN",
     "send_time": "07:30", "scope": {"units": ["dz-court"]}},
    {"name": "hy-daily", "title": "Bản tin Hưng Yên", "recipients": ["lanhdao@hy.example.vn"], "language": "vi",
     "timezone": "Asia/Ho_Chi_Minh", "scope": {"units": ["hy-thads"]}},
]}


@pytest.fixture
def digests_file(web: Any, tmp_path: Path) -> Path:
    path = tmp_path / "digests.yaml"
    path.write_text(yaml.safe_dump(DIGESTS, allow_unicode=True), encoding="utf-8")
    web.app.state.settings.alerts.digests_file = str(path)
    return path


def _form(**kw: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "dz-weekly", "title": "儋州法院舆情周报", "recipients": "leader@dz.example.cn",
                            "language": "zh-CN", "timezone": "Asia/Shanghai", "send_time": "08:00",
                            "units": ["dz-court"], "sections": ["headline", "flagged", "stories"],
                            "send_when_empty": "1", "enabled": "1"}
    data.update(kw)
    return data


def test_digests_are_scoped_validated_saved_and_previewed(web: Any, digests_file: Path) -> None:
    client = web.login("dz-admin")
    listing = client.get("/admin/digests").text
    assert "儋州法院舆情日报" in listing and "Bản tin Hưng Yên" not in listing
    assert client.get("/admin/digests/hy-daily").status_code == 404
    assert client.get("/admin/digests/hy-daily/preview").status_code == 404
    assert client.post("/admin/digests/hy-daily", data=_form(name="hy-daily", units=["dz-court"])).status_code == 404
    assert web.login("dz-duty").get("/admin/digests").status_code == 403
    bad = client.post("/admin/digests/new", data=_form(send_time="25:00"))
    assert bad.status_code == 400 and "send_time must be HH:MM" in bad.text
    bad_mail = client.post("/admin/digests/new", data=_form(recipients="not an address"))
    assert bad_mail.status_code == 400
    foreign = client.post("/admin/digests/new", data=_form(units=["hy-thads"]))
    assert foreign.status_code == 400
    taken = client.post("/admin/digests/new", data=_form(name="dz-daily"))
    assert taken.status_code == 400
    assert client.post("/admin/digests/new", data=_form()).status_code == 303
    # editing the file's definition: the saved one wins over the file's entry
    edited = client.post("/admin/digests/dz-daily", data=_form(name="dz-daily", title="儋州法院舆情日报",
                                                               send_time="06:45", sections=["headline", "chart"]))
    assert edited.status_code == 303
    db: Session = web.app.state.session_factory()
    effective = {d.name: d for d in all_definitions(db, digests_file)}
    assert effective["dz-daily"].send_time == "06:45" and effective["dz-daily"].sections == ["headline", "chart"]
    assert effective["dz-weekly"].send_time == "08:00" and effective["hy-daily"].send_time == "07:30"
    assert {r.name for r in db.scalars(select(DigestDefinitionRow))} == {"dz-weekly", "dz-daily"}
    entries = db.scalars(select(AuditEntry).where(AuditEntry.object_type == "digest").order_by(AuditEntry.id)).all()
    assert [(e.action, e.object_id) for e in entries] == [("digest.add", "dz-weekly"), ("digest.update", "dz-daily")]
    assert entries[1].before["send_time"] == "07:30" and entries[1].after["send_time"] == "06:45"  # type: ignore[index]
    db.close()
    page = client.get("/admin/digests/dz-daily").text
    assert 'src="/admin/digests/dz-daily/preview"' in page and 'value="06:45"' in page
    preview = client.get("/admin/digests/dz-daily/preview")
    assert preview.status_code == 200 and preview.headers["content-type"].startswith("text/html")
    assert preview.headers["content-security-policy"].startswith("sandbox")
    assert "<script" not in preview.text.lower() and "儋州法院舆情日报" in preview.text
