"""The JSON API's cost per request: paging a large case list with cursors, and one case action.

Builds the two-organization test world (tests/web_support.py) in a fresh SQLite file (or
``--db-url``), adds ``--cases`` alerts to 儋州 and as many to Hưng Yên, makes a key for dz-duty, and
through the app in-process (Starlette's TestClient, no network) pages through every 儋州 case
with ``limit=200``, then fetches single cases and acknowledges some. Reports per request the wall
and CPU time (``time.process_time``: this process's own CPU, so a loaded machine inflates the wall
figure more than the CPU one), with the load average, and checks each case came exactly once.

    .venv/bin/python bench/api.py                  # 20 000 cases per organization, SQLite
    .venv/bin/python bench/api.py --cases 5000
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=20_000)
    parser.add_argument("--db-url", default="")
    args = parser.parse_args()

    from fastapi.testclient import TestClient
    from sqlalchemy import insert, select

    from accounts.api_keys import create_key
    from accounts.audit import Actor
    from models import Alert, User, utcnow
    from models.db import make_engine, session_scope, upgrade
    from presswatch.web import create_app
    from tests.web_support import build_world, web_settings

    tmp = tempfile.mkdtemp(prefix="pw-bench-api-")
    url = args.db_url or f"sqlite:///{tmp}/api.db"
    upgrade(url)
    engine = make_engine(url)
    with session_scope(engine) as db:
        world = build_world(db)
        now = utcnow()
        for code in ("dz-court", "hy-thads"):
            unit_id = world.units[code].id
            db.execute(insert(Alert), [
                {"dedupe_key": f"bench:{code}:{i}", "kind": "story", "severity": "medium", "title": f"{code} {i}",
                 "state": "new", "unit_id": unit_id, "reason": {}, "created_at": now, "updated_at": now}
                for i in range(args.cases)])
        user = db.scalar(select(User).where(User.username == "dz-duty"))
        assert user is not None
        key = create_key(db, Actor.system("bench"), user, name="bench").key
    settings = web_settings(**{"db.url": url, "web.api_requests_per_minute": 1_000_000})
    client = TestClient(create_app(settings, engine), headers={"Authorization": f"Bearer {key}"})

    def timed(method: str, path: str, **kw: object) -> tuple[float, float, object]:
        wall, cpu = time.perf_counter(), time.process_time()
        response = client.request(method, path, **kw)  # type: ignore[arg-type]
        assert response.status_code == 200, response.text[:300]
        return time.perf_counter() - wall, time.process_time() - cpu, response.json()

    walls, cpus, seen = [], [], []
    cursor = None
    while True:
        params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
        wall, cpu, body = timed("GET", "/api/v1/cases", params=params)
        walls.append(wall)
        cpus.append(cpu)
        seen += [c["id"] for c in body["items"]]  # type: ignore[index]
        cursor = body["next_cursor"]  # type: ignore[index]
        if not cursor:
            break
    expected = args.cases + 1  # plus the world's own open case
    assert len(seen) == len(set(seen)) == expected, (len(seen), len(set(seen)), expected)
    print(f"load average {os.getloadavg()}")
    print(f"GET /cases?limit=200: {len(walls)} pages, {len(seen)} cases each once; per page "
          f"median wall {statistics.median(walls) * 1000:.1f} ms, CPU {statistics.median(cpus) * 1000:.1f} ms; "
          f"last page wall {walls[-1] * 1000:.1f} ms")
    one = [timed("GET", f"/api/v1/cases/{i}") for i in seen[:200:4]]
    print(f"GET /cases/{{id}}: median wall {statistics.median(w for w, _, _ in one) * 1000:.1f} ms, "
          f"CPU {statistics.median(c for _, c, _ in one) * 1000:.1f} ms")
    acks = [timed("POST", f"/api/v1/cases/{i}/ack", json={"note": "bench"}) for i in seen[:100:5]]
    print(f"POST /cases/{{id}}/ack: median wall {statistics.median(w for w, _, _ in acks) * 1000:.1f} ms, "
          f"CPU {statistics.median(c for _, c, _ in acks) * 1000:.1f} ms")
    print(f"load average {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
