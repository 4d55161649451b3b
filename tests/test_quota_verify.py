"""quota-verify: a piece registered before the crawler saw it is verified by the next run after its
article is stored, and a run with nothing new stored checks nothing (both backends)."""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from quota.registry import verify_after_crawl
from tests.test_quota_claims import WITH_WECHAT
from tests.test_quota_rules import at, crawled, load, reg


def test_waiting_pieces_are_verified_once_their_articles_are_stored(session: Session) -> None:
    load(session, WITH_WECHAT)
    crawled(session, "fazhi-shibao", "https://fzsb.example.cn/z/1.html", "法制时报旧稿", at(2024, 6, 1, 9), [])
    url = "https://jrdz.example.cn/c/50.html"
    waiting = reg(session, unit="dz-exec-1", outlet="jinri-danzhou", url=url, published=date(2024, 6, 3),
                  now=at(2024, 6, 3, 12))
    by_title = reg(session, unit="dz-exec-2", outlet="jinri-danzhou", title="执行二队集中清理涉企积案",
                   published=date(2024, 6, 3), now=at(2024, 6, 3, 12))
    elsewhere = reg(session, unit="dz-press", outlet="dz-wechat", title="新闻宣传科微信推送",
                    published=date(2024, 6, 3), now=at(2024, 6, 3, 12))
    assert waiting.verified_at is None and by_title.verified_at is None
    _, _, seen = verify_after_crawl(session, None, now=at(2024, 6, 3, 13))  # the first run checks every one
    assert seen is not None
    # Nothing stored since: nothing is checked.
    attempts = waiting.verification["attempts"]
    assert verify_after_crawl(session, seen, now=at(2024, 6, 3, 14)) == (0, 0, seen)
    assert waiting.verification["attempts"] == attempts
    # The crawler stores both pieces on 今日儋州: the next run verifies them, and only checks the
    # registrations on that outlet (not the WeChat one).
    crawled(session, "jinri-danzhou", url, "执行一队夜间集中执行", at(2024, 6, 3, 9), [])
    crawled(session, "jinri-danzhou", "https://jrdz.example.cn/c/51.html", "执行二队集中清理涉企积案",
            at(2024, 6, 3, 10), [])
    wechat_attempts = elsewhere.verification["attempts"]
    ok, missing, newest = verify_after_crawl(session, seen, now=at(2024, 6, 3, 15))
    assert (ok, missing) == (2, 0) and newest is not None and newest > seen
    assert waiting.verified_at is not None and waiting.verification["method"] == "url"
    assert by_title.verified_at is not None and by_title.verification["method"] == "title"
    assert elsewhere.verified_at is None and elsewhere.verification["attempts"] == wechat_attempts
