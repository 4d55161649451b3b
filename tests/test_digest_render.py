"""Rendering: reviewed snapshots in zh-CN and vi (HTML and text), escaping, email-safe HTML, chart.

Snapshots live in tests/snapshots/digest/. After a deliberate change, regenerate them with
``UPDATE_SNAPSHOTS=1 python -m pytest tests/test_digest_render.py`` and review the diff (open the
.html files in a browser). The same snapshot must come out of SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from PIL import Image
from sqlalchemy.orm import Session

from alerts.digest.builder import build_for_definition
from alerts.digest.definitions import DigestDefinition
from alerts.digest.periods import daily_period
from alerts.digest.render import CHART_CID, TEMPLATE_VARIABLES, build_view, environment, render_digest
from tests.test_digest_world import DAY, HOSTILE_TITLE, NOW, VI_DEF, ZH_DEF, make_world

SNAPSHOTS = Path(__file__).parent / "snapshots" / "digest"


def _render(session: Session, definition: DigestDefinition, day=DAY, with_chart: bool = False):  # type: ignore[no-untyped-def]
    period = daily_period(day, definition.local_send_time, definition.timezone)
    data = build_for_definition(session, definition, period, now=NOW)
    return data, render_digest(data, recipients=definition.recipients, with_chart=with_chart)


def _check_snapshot(name: str, actual: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(actual, encoding="utf-8")
    assert path.is_file(), f"missing snapshot {path}; run with UPDATE_SNAPSHOTS=1 and review it"
    expected = path.read_text(encoding="utf-8")
    assert actual == expected, f"{name} differs from the reviewed snapshot (UPDATE_SNAPSHOTS=1 to accept)"


@pytest.mark.parametrize("definition", [ZH_DEF, VI_DEF], ids=["zh-CN", "vi"])
def test_digest_matches_reviewed_snapshot(session: Session, definition: DigestDefinition) -> None:
    make_world(session)
    # The chart is part of the email (cid:), but its pixels are checked separately, not here.
    _data, rendered = _render(session, definition)
    _check_snapshot(f"{definition.name}.{definition.language}.html", rendered.html)
    _check_snapshot(f"{definition.name}.{definition.language}.txt", rendered.text)
    _check_snapshot(f"{definition.name}.{definition.language}.subject.txt", rendered.subject + "\n")


def test_hostile_titles_and_urls_are_escaped(session: Session) -> None:
    make_world(session)
    _data, rendered = _render(session, ZH_DEF)
    html = rendered.html
    assert HOSTILE_TITLE not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&amp; &#34;公告&#34;" in html
    assert "<script" not in html.lower() and "onerror=" not in html.replace("onerror=alert(1)&gt;", "")
    assert "javascript:" not in html  # a javascript: link in crawled data is shown as text, unlinked
    assert "&lt;b&gt;加粗&lt;/b&gt;" in html and "&lt;质疑&gt;" in html
    # The text part shows the title as it is: it is not HTML.
    assert HOSTILE_TITLE in rendered.text


def test_email_html_survives_mail_clients(session: Session) -> None:
    make_world(session)
    _data, rendered = _render(session, ZH_DEF, with_chart=True)
    html = rendered.html
    assert not re.search(r"<(script|style|link|iframe|form|object)\b", html, re.IGNORECASE)
    assert "class=" not in html  # inline styles only: many clients drop <style> and classes
    # Fluid: one column at most 640 px wide that shrinks to a phone; Outlook gets a fixed ghost table.
    assert 'width="100%" cellpadding="0" cellspacing="0" border="0" style="width:100%;max-width:640px;' in html
    assert '<!--[if mso]><table role="presentation" width="640"' in html
    outside_outlook = re.sub(r"<!--\[if mso\]>.*?<!\[endif\]-->", "", html, flags=re.DOTALL)
    assert not re.search(r'width="(6[4-9]\d|[7-9]\d\d)"|width:(6[5-9]\d|[7-9]\d\d)px', outside_outlook)
    srcs = re.findall(r'src="([^"]+)"', html)
    assert srcs == [f"cid:{CHART_CID}"]  # no external resource: nothing to block, nothing to track
    hrefs = re.findall(r'href="([^"]+)"', html)
    assert hrefs and all(h.startswith("https://") for h in hrefs)
    # The file saved for a browser carries the same chart inline.
    assert 'src="data:image/png;base64,' in rendered.file_html
    assert rendered.inline_images()[0]["cid"] == CHART_CID


def test_chart_is_a_png_with_content(session: Session) -> None:
    make_world(session)
    _data, rendered = _render(session, VI_DEF, with_chart=True)
    assert rendered.chart_png is not None
    image = Image.open(io.BytesIO(rendered.chart_png))
    assert image.format == "PNG" and image.size == (640, 260)
    colours = image.convert("RGB").getcolors(maxcolors=100_000) or []
    assert len(colours) > 20  # bars, line, text: not a blank image
    # Same data, same bytes (no timestamp in the PNG), so stored digests compare equal.
    _data2, again = _render(session, VI_DEF, with_chart=True)
    assert again.chart_png == rendered.chart_png


def test_empty_day_says_no_new_coverage_and_whether_sources_were_healthy(session: Session) -> None:
    from datetime import date

    make_world(session)
    _data, zh = _render(session, ZH_DEF, day=date(2024, 3, 1))
    assert "本时段无新增报道。" in zh.text and "注意：有信息源异常" in zh.text
    assert zh.subject.endswith("| 本时段无新增报道。")
    _data, vi = _render(session, VI_DEF, day=date(2024, 3, 1))
    assert "Không có tin bài mới trong kỳ." in vi.text
    assert "Tất cả nguồn tin hoạt động bình thường: đây là một ngày ít tin." in vi.text
    assert "Tin bài rủi ro cao" not in vi.text  # no empty item sections in the short version


def test_template_variables_are_declared_in_one_place(session: Session) -> None:
    make_world(session)
    data, _rendered = _render(session, ZH_DEF)
    view = build_view(data)
    assert set(view) == set(TEMPLATE_VARIABLES)
    env = environment()
    source = env.loader.get_source(env, "digest.html.j2")[0]  # type: ignore[union-attr]
    for name in TEMPLATE_VARIABLES:
        assert name in source.split("-#}")[0], f"{name} not listed at the top of digest.html.j2"
    view.pop("flagged")
    with pytest.raises(UndefinedError):
        env.get_template("digest.html.j2").render(view)


def test_templates_run_in_a_sandbox(session: Session) -> None:
    from jinja2.exceptions import SecurityError

    env = environment()
    with pytest.raises(SecurityError):
        env.from_string("{{ t.__class__.__mro__[1].__subclasses__() }}").render(t="x")
