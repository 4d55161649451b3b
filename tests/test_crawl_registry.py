"""The source registry: validation at load (key and field named), upsert into the tables, CLI."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from crawlers.registry import RegistryError, load_registry, parse_registry, sync_registry
from models import Outlet, Source
from models.enums import OutletTier, SourceKind
from presswatch.cli import app

EXAMPLE = Path(__file__).resolve().parents[1] / "presswatch" / "templates" / "sources.example.yaml"


def _raw() -> dict:
    return yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))


def test_example_registry_is_the_demo_world() -> None:
    registry = load_registry(EXAMPLE)
    assert {s.key for s in registry.sources} == {
        "jinri-danzhou", "fazhi-shibao", "danzhou-court", "weibo-danzhou", "bao-hungyen", "baophapluat"}
    assert {s.kind for s in registry.sources} == set(SourceKind) - {SourceKind.IMPORT}
    assert registry.get("bao-hungyen").language == "vi"


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["sources"][0]["selectors"].update(links="ul.news-list a[href"),
         "source 'jinri-danzhou', field selectors.links: invalid CSS selector"),
        (lambda r: r["sources"][4]["selectors"].update(next_page="//a[@rel='next'/@href"),
         "source 'bao-hungyen', field selectors.next_page: invalid XPath selector"),
        (lambda r: r["sources"][1].update(start_urls=["ftp://example.org/feed"]),
         "source 'fazhi-shibao', field start_urls: not an http(s) URL"),
        (lambda r: r["sources"][0].update(link_pattern="(unclosed"),
         "source 'jinri-danzhou', field link_pattern: invalid regular expression"),
        (lambda r: r["sources"][3].pop("fields"), "source 'weibo-danzhou', field (entry): kind json_api needs"),
        (lambda r: r["sources"][2].update(kind="rss"), "source 'danzhou-court', field kind"),
        (lambda r: r["sources"][5].update(encoding="klingon-8"), "source 'baophapluat', field encoding"),
        (lambda r: r["sources"][5].update(outlet="nowhere"), "outlet 'nowhere' is not declared"),
        (lambda r: r["sources"][5].update(selectorz={}), "source 'baophapluat', field selectorz"),
    ],
)
def test_bad_declarations_fail_naming_source_and_field(mutate, expected: str) -> None:  # type: ignore[no-untyped-def]
    raw = _raw()
    mutate(raw)
    with pytest.raises(RegistryError) as err:
        parse_registry(raw, "sources.yaml")
    assert expected in str(err.value)
    assert str(err.value).startswith("sources.yaml:")


def test_registry_vocabularies_match_the_models() -> None:
    from crawlers.registry import CHANNELS, KINDS, TIERS
    from models.enums import OutletChannel

    assert set(KINDS) == {k.value for k in SourceKind}
    assert set(TIERS) == {t.value for t in OutletTier}
    assert set(CHANNELS) == {c.value for c in OutletChannel}


def test_missing_and_unparsable_files(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="not found"):
        load_registry(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sources: [\n", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid YAML"):
        load_registry(bad)


def test_sync_upserts_and_keeps_health(session: Session) -> None:
    registry = load_registry(EXAMPLE)
    sync_registry(session, registry)
    row = session.scalars(select(Source).where(Source.key == "jinri-danzhou")).one()
    assert row.kind == SourceKind.HTML and row.config["selectors"]["links"].startswith("ul.news-list")
    assert row.outlet is not None and row.outlet.tier == OutletTier.PREFECTURE
    assert row.outlet.domains == ["127.0.0.1"]
    row.consecutive_failures, row.health = 2, "warning"
    session.flush()

    raw = _raw()
    raw["sources"][0]["interval_minutes"] = 45
    raw["sources"] = [s for s in raw["sources"] if s["key"] != "baophapluat"]
    sync_registry(session, parse_registry(raw), disable_missing=True)
    session.refresh(row)
    assert row.interval_minutes == 45 and row.consecutive_failures == 2 and row.health == "warning"
    gone = session.scalars(select(Source).where(Source.key == "baophapluat")).one()
    assert gone.enabled is False
    assert session.scalar(select(Outlet).where(Outlet.key == "baophapluat")) is not None
    assert len(session.scalars(select(Source)).all()) == 6


def test_cli_sources_check_add_list(tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["init", "."]).exit_code == 0
    result = runner.invoke(app, ["sources", "check"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "jinri-danzhou" in result.output

    result = runner.invoke(app, ["sources", "add", "hn-daily", "--url", "https://www.hndaily.cn/rss.xml",
                                 "--name", "海南日报"])
    assert result.exit_code == 0, result.output
    assert "# presswatch source registry" in Path("sources.yaml").read_text(encoding="utf-8")  # comments kept
    assert load_registry("sources.yaml").get("hn-daily").start_urls == ["https://www.hndaily.cn/rss.xml"]
    result = runner.invoke(app, ["sources", "list"])
    assert result.exit_code == 0 and "hn-daily" in result.output

    bad = runner.invoke(app, ["sources", "add", "x-site", "--kind", "html", "--url", "https://x.cn/",
                              "--links", "a[href"])
    assert bad.exit_code != 0 and "selectors.links" in str(bad.exception)
    assert "x-site" not in Path("sources.yaml").read_text(encoding="utf-8")


def test_demo_site_serves_every_outlet() -> None:
    from crawlers.demo_site import start_demo_site

    server = start_demo_site()
    try:
        def get(path: str) -> tuple[bytes, str]:
            with urllib.request.urlopen(server.url(path), timeout=5) as resp:
                return resp.read(), resp.headers.get("Content-Type", "")

        body, ctype = get("/jrdz/list_1.html")
        assert "GBK" in ctype and "下一页" in body.decode("gbk")
        body, ctype = get("/jrdz/content/jr-1001.html")
        assert "charset" not in ctype and "暴力执法" in body.decode("gbk")
        body, _ = get("/fzsb/rss.xml")
        assert body.decode().count("<item>") == 5 and "【转载】" in body.decode()
        body, _ = get("/court/sitemap-news.xml")
        assert "news:publication_date" in body.decode()
        body, _ = get("/weibo/api/posts?page=1")
        assert '"reposts_count": 1860' in body.decode()
        body, _ = get("/hy/tin/hy-5001.html")
        assert "Khiếu nại đông người" in body.decode()
    finally:
        server.stop()
