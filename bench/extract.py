"""Extraction quality on the gold set: presswatch (site rules + generic), presswatch's generic path
alone (no site rules) and trafilatura alone, side by side, on the gold set the extractor was
developed on and on a held-out set written after it was frozen (scored, never tuned on).

The gold set (``tests/fixtures/extraction/gold.json``) gives for each page its title, date,
byline names, where the body starts and ends, and snippets the body must hold ("with") and must
not hold ("without": comment threads, related links, navigation, footers). Body precision,
recall and F1 count those snippets the way trafilatura's own evaluation does (a "with" snippet
found is a true positive, a "without" snippet found a false positive). Dates are read as the
pipeline reads them (``pipeline.dates.page_date``) for a crawl made on 2026-12-04, long after
most pages were printed, so a relative date read from the crawl day shows up as wrong.

    .venv/bin/python bench/extract.py [--size N] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.dates import page_date, zone  # noqa: E402
from pipeline.extract import extract_html, url_date  # noqa: E402
from pipeline.normalize import clean_text, clean_title  # noqa: E402

GOLD = ROOT / "tests" / "fixtures" / "extraction" / "gold.json"
# written after the extractor was frozen on gold.json; scored, never tuned on
HELD_OUT = ROOT / "tests" / "fixtures" / "extraction" / "heldout" / "heldout.json"
HELD_OUT_2 = ROOT / "tests" / "fixtures" / "extraction" / "heldout" / "heldout2.json"
CRAWLED_AT = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)
EDGE_CHARS = 60  # body start / end must be found within this many characters of the text's ends


@dataclass
class Score:
    name: str
    pages: int = 0
    titles: int = 0
    dates: int = 0
    dated_pages: int = 0
    bylines: int = 0
    byline_pages: int = 0
    starts: int = 0
    ends: int = 0
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    seconds: float = 0.0
    misses: list[str] = field(default_factory=list)

    def body(self) -> tuple[float, float, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0
        return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def ours(html: str, page: dict[str, Any], *, rules: bool) -> dict[str, Any]:
    ex = extract_html(html, url=page["url"], site_rules=rules)
    published, _ = page_date(ex.published_raw, anchor=ex.date_anchor, fetched_at=CRAWLED_AT, tz=page["tz"],
                             lang=page["lang"])
    return {"title": ex.title, "text": ex.text, "date": published,
            "names": [*ex.correspondents, *ex.reporters, *ex.authors]}


def trafilatura_alone(html: str, page: dict[str, Any]) -> dict[str, Any]:
    import trafilatura

    doc = trafilatura.bare_extraction(html, url=page["url"], with_metadata=True)
    if doc is None:
        return {"title": "", "text": "", "date": None, "names": []}
    raw = getattr(doc, "date", None)
    published = None
    if raw:  # trafilatura gives a day (YYYY-MM-DD): read it in the page's zone
        published, _ = page_date(raw, anchor=url_date(page["url"]), fetched_at=CRAWLED_AT, tz=page["tz"],
                                 lang=page["lang"])
    return {"title": getattr(doc, "title", "") or "", "text": clean_text(getattr(doc, "text", "") or ""),
            "date": published,
            "names": [n.strip() for n in re.split(r"[;,、；，]", getattr(doc, "author", "") or "") if n.strip()]}


def _flat(text: str) -> str:
    return " ".join(text.split())


def score(result: dict[str, Any], page: dict[str, Any], into: Score) -> None:
    into.pages += 1
    name = page["file"]
    if clean_title(result["title"]) == page["title"]:
        into.titles += 1
    else:
        into.misses.append(f"{name}: title {result['title']!r}")
    if page.get("date"):
        into.dated_pages += 1
        got = result["date"]
        local = got.astimezone(zone(page["tz"])).date().isoformat() if got else None
        if local == page["date"]:
            into.dates += 1
        else:
            into.misses.append(f"{name}: date {local}")
    # bylines: exactly the gold names, nothing more (a menu word or an editor taken as a name is
    # wrong), on every page, including those that name nobody
    into.byline_pages += 1
    if {n.lower() for n in result["names"]} == {n.lower() for n in page["byline"]}:
        into.bylines += 1
    else:
        into.misses.append(f"{name}: byline names {sorted(result['names'])}")
    text = result["text"]
    flat = " ".join(text.split())
    if page["body_start"] in flat[:EDGE_CHARS + len(page["body_start"])]:
        into.starts += 1
    else:
        into.misses.append(f"{name}: body starts {flat[:30]!r}")
    if page["body_end"] in flat[-(EDGE_CHARS + len(page["body_end"])):]:
        into.ends += 1
    else:
        into.misses.append(f"{name}: body ends {flat[-30:]!r}")
    for snippet in map(_flat, page["with"]):
        if snippet in flat:
            into.tp += 1
        else:
            into.fn += 1
            into.misses.append(f"{name}: missing {snippet!r}")
    for snippet in map(_flat, page["without"]):
        if snippet in flat:
            into.fp += 1
            into.misses.append(f"{name}: holds {snippet!r}")
        else:
            into.tn += 1


def run_set(path: Path, size: int, verbose: bool) -> None:
    pages = json.loads(path.read_text(encoding="utf-8"))["pages"]
    if size:
        pages = pages[:size]
    runs = {"presswatch": Score("presswatch"), "generic": Score("presswatch generic (no site rules)"),
            "trafilatura": Score("trafilatura alone")}
    for page in pages:
        html = (GOLD.parent / page["file"]).read_text(encoding="utf-8")
        for key, run in runs.items():
            start = time.perf_counter()
            if key == "trafilatura":
                result = trafilatura_alone(html, page)
            else:
                result = ours(html, page, rules=key == "presswatch")
            run.seconds += time.perf_counter() - start
            score(result, page, run)
    print(f"\n{len(pages)} pages ({path.relative_to(ROOT)}), crawl time {CRAWLED_AT:%Y-%m-%d}")
    print(f"{'':36} {'title':>7} {'date':>7} {'byline':>7} {'start':>7} {'end':>7} "
          f"{'body P':>7} {'body R':>7} {'F1':>6} {'ms/page':>8}")
    for run in runs.values():
        p, r, f1 = run.body()
        print(f"{run.name:36} {run.titles / run.pages:7.0%} {run.dates / max(run.dated_pages, 1):7.0%} "
              f"{run.bylines / max(run.byline_pages, 1):7.0%} "
              f"{run.starts / run.pages:7.0%} {run.ends / run.pages:7.0%} "
              f"{p:7.3f} {r:7.3f} {f1:6.3f} {1000 * run.seconds / run.pages:8.1f}")
    if verbose:
        for run in runs.values():
            print(f"{run.name}: {len(run.misses)} misses")
            for miss in run.misses:
                print("  " + miss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=0, help="score only the first N pages of each set (default: all)")
    parser.add_argument("--set", choices=("gold", "heldout", "heldout2", "all"), default="all")
    parser.add_argument("--verbose", action="store_true", help="list every miss")
    args = parser.parse_args()
    for name, path in (("gold", GOLD), ("heldout", HELD_OUT), ("heldout2", HELD_OUT_2)):
        if args.set in (name, "all"):
            run_set(path, args.size, args.verbose)


if __name__ == "__main__":
    main()
