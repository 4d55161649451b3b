"""`presswatch demo` end to end, as a newcomer runs it (`make demo`): offline, on the bundled
demo site, every stage shows its work, in order, and the digest sees what the quota step registered."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

from tests.conftest import subprocess_env


def test_demo_runs_every_stage_offline(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from presswatch.cli import main; main()", "demo", "--no-serve"],
        env=subprocess_env(CI="true", TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS=""),
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    crawled = re.search(r"(\d+) pieces crawled", out)
    stored = re.search(r"(\d+) articles\s+stored, grouped into (\d+) stories", out)
    assert crawled and stored, out[:3000]
    assert int(crawled.group(1)) > 0 and int(stored.group(2)) < int(stored.group(1))  # reposts grouped
    assert re.search(r"classified (\d+) stored articles", out)
    raised = re.search(r"raised (\d+)", out)
    assert raised and int(raised.group(1)) > 0
    # Quotas before the digest: the digest's own-pieces count includes today's registrations.
    assert out.index("Quotas: registration") < out.index("Digest · 每日舆情简报")
    own = [int(n) for n in re.findall(r"own pieces (\d+)", out)]
    assert own and own[0] > 0, out[-3000:]
    assert re.search(r"the demo mailbox received \d+ email\(s\)", out)
    # What people read shows topic labels and local times: the digests, the alert e-mails (as the
    # demo prints them) and this week's reports; raw topic keys only in machine outputs.
    keys = re.compile(r"(?<![\w.@])(enforcement|defaulter_blacklist|thads|coercive_enforcement|complaints|"
                      r"misconduct_allegation|sensitive_terms|names_organization)(?![\w.@])")
    workdir = tmp_path / "var" / "demo"
    digests = {p.name: p.read_text(encoding="utf-8") for p in (workdir / "digests").glob("*.txt")}
    assert digests and all(not keys.search(text) for text in digests.values()), digests
    zh = next(text for name, text in digests.items() if name.startswith("dz-daily"))
    assert "执行工作" in zh and re.search(r"2\d{3}年\d+月\d+日 \d\d:\d\d", zh) and "UTC" not in zh
    alerts = out[out.index("Alerts and cases"):out.index("Quotas: registration")]
    assert "话题：" in alerts and not keys.search(alerts), alerts
    assert not re.search(r"\d\d:\d\d(:\d\d)? UTC|\+00:00", out)
    from openpyxl import load_workbook

    reports = sorted((workdir / "reports").glob("*.xlsx"))
    assert len(reports) == 2 and len(list((workdir / "reports").glob("*.pdf"))) == 2
    for report in reports:
        book = load_workbook(report)
        topics = [row[0] for row in book.worksheets[4].iter_rows(min_row=2, values_only=True)]
        assert topics and not any(keys.fullmatch(str(t)) for t in topics), topics
        times = [row[0] for row in book.worksheets[2].iter_rows(min_row=2, values_only=True)]
        assert all(isinstance(t, datetime) for t in times), times
    # The organizations and web accounts come first; --no-serve stops before serving.
    assert out.index("Organizations and accounts") < out.index("Crawling")
    assert re.search(r"dz-duty\s+analyst\s+儋州市人民法院", out) and re.search(r"hy-duty\s+analyst\s+Cục Thi hành", out)
    assert "serving at" not in out
