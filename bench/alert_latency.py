"""Alert latency through the product as shipped: from "a negative piece appears in a feed" to "the
email is in the duty officer's mailbox".

The benchmark starts the real service (``python -m presswatch run``, a child process) with its
own crawler, scheduler, event chain, merge window and rate limit as configured by default; only
quiet hours are off, because the benchmark runs at any hour. Everything is on loopback: a
local fixture site serves an RSS feed of 儋州 court news and its article pages; at a random moment
in each trial it publishes a new NEGATIVE piece (a complaint of 暴力执法 in a forced eviction,
different each time, in a different town). The source is polled every ``--poll-seconds``
(``interval_seconds`` in sources.yaml). Each town has its duty officer (one rule each), so every
trial's alert is that officer's first within the merge window, as a single real event would be.
The clock stops when a real SMTP server (aiosmtpd on 127.0.0.1) has accepted the message.

Where the time went, per trial, from the rows the service wrote: crawl wait (published -> the
page fetched), store (fetched -> stored by the pipeline: Scrapy's child process, extraction,
dedupe), classify (stored -> classified), evaluate (classified -> alert raised and queued), send
(queued -> accepted by the SMTP server).

    .venv/bin/python bench/alert_latency.py                      # 20 trials, 30 s polling
    .venv/bin/python bench/alert_latency.py --poll-seconds 10    # an urgent source
    .venv/bin/python bench/alert_latency.py --trials 5           # quicker

Prints each trial and p50/p95/max with the phases; the target is p95 < 45 s at 30 s polling
(goal: p95 < 20 s at 10 s polling).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_P95_SECONDS = 45.0
GOAL_P95_SECONDS_FAST = 20.0
ROOT = Path(__file__).resolve().parents[1]
PLACES = ["那大镇", "和庆镇", "南丰镇", "大成镇", "雅星镇", "兰洋镇", "光村镇", "木棠镇", "峨蔓镇", "三都街道",
          "王五镇", "东成镇", "中和镇", "排浦镇", "海头镇", "新州镇", "白马井镇", "洋浦", "长坡镇", "福山镇"]
NAMES = ["陈女士", "李先生", "王大爷", "符阿姨", "吴先生", "羊女士", "黎师傅", "郑同学", "许老伯", "周女士", "林先生",
         "何大姐", "谢先生", "邢阿婆", "唐女士", "梁先生", "蔡老师", "黄大哥", "冯女士", "钟先生"]
# Sentence templates with slots: every trial's piece is a different story (the pipeline's near-
# duplicate check must not fold it into an earlier trial's story, which would update that alert).
SENTENCES = [
    "{name}向本报反映，{hour}点左右执行干警在现场推搡围观群众。", "{name}说，一位{age}岁老人在拉扯中摔倒，手臂擦伤。",
    "网友“{handle}”上传了一段{sec}秒的现场视频，引发大量转发。", "{name}表示，{month}月以来家里从未收到任何书面通知。",
    "现场有{n}名群众质疑执行程序是否合法。", "记者于{hour}时许致电法院执行局，截至发稿未获回复。",
    "附近经营{shop}的{name}说，当天上午{road}被临时封闭。", "{name}称执行人员态度粗暴，还没收了{item}。",
    "{name}表示将向海南省高级人民法院和纪检部门投诉。", "{name}的代理律师认为，强制腾退应保障被执行人基本生活。",
    "视频中可见{n}名身穿制服的人员与群众在{road}发生争执。", "{name}等{n}位受访者要求公开执法记录仪视频。",
    "据{name}回忆，执行车辆共{n}辆，{hour}点前后离开。", "{name}说自家{item}在搬离过程中损坏，损失约{money}元。",
    "有村民在{road}拉起横幅，写着“还我家园”。", "{name}表示，腾退前承诺的过渡安置房至今没有落实。",
    "当地{shop}老板{name}说，从没见过这么大的阵仗。", "{name}称孩子受到惊吓，第二天没有去上学。",
    "有自称知情人的网友“{handle}”发帖称，现场有人被带走。", "{name}说，自己签字时并不清楚文书内容。",
]
PLACEHOLDERS = {
    "shop": ["小卖部", "粉店", "五金店", "药店", "理发店", "早餐店", "修车铺", "茶店"],
    "road": ["中兴大街", "文化路", "人民大道", "军屯路", "先锋路", "解放路", "东风路", "伏波大道"],
    "item": ["电动车", "冰箱", "手机", "衣柜", "渔具", "货架", "电视机", "摩托车"],
    "handle": ["儋州老乡", "那大人", "海岛阿明", "椰风吹", "小城故事", "路人甲乙", "南丰小哥", "白马井渔民"],
}
SOURCES_YAML = """
outlets:
  - {{key: jinri-danzhou, name: 今日儋州, tier: prefecture, language: zh}}
sources:
  - key: jinri-danzhou
    name: 今日儋州
    kind: feed
    outlet: jinri-danzhou
    language: zh
    interval_seconds: {poll}
    start_urls: ["{url}"]
"""


def rules_yaml(trials: int) -> str:
    """One rule per town, each with its own duty officer; merge window and rate limit as shipped."""
    rules = []
    for n in range(trials):
        place = PLACES[n % len(PLACES)]
        rules.append(
            f"  - name: dz-negative-{n}\n    severity: high\n"
            f"    when: {{min_risk: medium, sentiment: [negative],"
            f" query: '(儋州法院 OR 儋州市人民法院) AND {place}'}}\n"
            f"    recipients: [{{name: 值班员{n}, address: duty{n}@dz-court.example.cn, language: zh-CN}}]\n"
        )
    return "rules:\n" + "".join(rules)


class Site:
    """The fixture site: an RSS feed that gains a piece when told to."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self.lock = threading.Lock()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.startswith("/a/"):
                    body, ctype = site.page(self.path).encode("utf-8"), "text/html; charset=utf-8"
                elif self.path == "/rss.xml":
                    body, ctype = site.feed().encode("utf-8"), "application/rss+xml; charset=utf-8"
                else:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self.published: dict[str, float] = {}  # token -> wall-clock time it appeared
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/rss.xml"

    def publish(self, n: int, rng: random.Random) -> tuple[str, str]:
        place = PLACES[n % len(PLACES)]
        token = hashlib.sha256(f"{n}-{rng.random()}".encode()).hexdigest()[:6]
        title = f"{place}居民称儋州法院执行干警强制腾退时暴力执法（读者来信{token}）"
        text = f"{place}消息：" + piece_text(n, rng)
        with self.lock:
            self.items.append({"title": title, "text": text, "link": f"{self.url[:-8]}/a/{token}.html",
                               "date": format_datetime(datetime.now(UTC)), "token": token})
            self.published[token] = time.time()
        return title, token

    def page(self, path: str) -> str:
        token = path.rsplit("/", 1)[-1].split(".")[0]
        with self.lock:
            item = next((i for i in self.items if i["token"] == token), None)
        if item is None:
            return "<html><body>not found</body></html>"
        paragraphs = "".join(f"<p>{escape(p)}。</p>" for p in item["text"].split("。") if p)
        return (f"<html><head><meta charset='utf-8'><title>{escape(item['title'])}</title></head><body>"
                f"<article><h1>{escape(item['title'])}</h1><div class='content'>{paragraphs}</div></article>"
                "</body></html>")

    def feed(self) -> str:
        with self.lock:
            items = list(self.items)
        entries = "".join(
            f"<item><title>{escape(i['title'])}</title><link>{escape(i['link'])}</link>"
            f"<description>{escape(i['text'])}</description><pubDate>{i['date']}</pubDate></item>"
            for i in reversed(items)
        )
        return ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>今日儋州</title>'
                f"<link>{self.url}</link><description>demo</description>{entries}</channel></rss>")

    def stop(self) -> None:
        self.server.shutdown()


def sentence_block(n: int, rng: random.Random) -> list[str]:
    """Four templates for trial ``n``; any two trials share at most one (lines of the plane Z5 x Z5)."""
    if n >= 25:
        return rng.sample(SENTENCES, 4)
    a, b = divmod(n, 5)
    picked = [SENTENCES[g * 5 + (a * g + b) % 5] for g in range(4)]
    rng.shuffle(picked)
    return picked


def piece_text(n: int, rng: random.Random) -> str:
    def fill(template: str) -> str:
        values: dict[str, object] = {k: rng.choice(v) for k, v in PLACEHOLDERS.items()}
        values.update(name=rng.choice(NAMES), hour=rng.randint(6, 18), age=rng.randint(60, 90),
                      sec=rng.randint(10, 300), month=rng.randint(1, 12), n=rng.randint(3, 40),
                      money=rng.randint(2, 90) * 100)
        return template.format(**values)

    return "".join(fill(t) for t in sentence_block(n, rng))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


PHASES = ("crawl wait", "store", "classify", "evaluate", "send")


def phases(engine: Any, token: str, published: float, arrived: float) -> dict[str, float] | None:
    """Seconds spent in each phase for the piece ``token``, from the rows the service wrote."""
    from sqlalchemy import select

    from models import Alert, Article, Classification, Delivery
    from models.db import session_scope

    with session_scope(engine) as session:
        article = session.scalars(select(Article).where(Article.url.contains(token))).first()
        if article is None:
            return None
        classified = session.scalar(select(Classification.created_at).where(Classification.article_id == article.id)
                                    .order_by(Classification.id))
        alert = session.scalars(select(Alert).where(Alert.article_id == article.id)).first()
        queued = session.scalar(select(Delivery.created_at).where(Delivery.alert_id == alert.id)) if alert else None
        if classified is None or alert is None or queued is None:
            return None
        marks = [published, article.fetched_at.timestamp(), article.stored_at.timestamp(),
                 classified.timestamp(), queued.timestamp(), arrived]
    return {name: max(0.0, b - a) for name, a, b in zip(PHASES, marks, marks[1:], strict=False)}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--poll-seconds", type=int, default=30)
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--db-url", default="", help="Default: a SQLite file in the work folder (as shipped).")
    parser.add_argument("--keep", action="store_true", help="Keep the work folder and the service log.")
    args = parser.parse_args()
    if args.trials > len(PLACES):
        parser.error(f"at most {len(PLACES)} trials (one town each)")

    from alerts.mailbox import LocalMailbox
    from models.db import make_engine

    workdir = Path(tempfile.mkdtemp(prefix="presswatch-alert-latency-"))
    box = LocalMailbox().start()
    site = Site()
    db_url = args.db_url or f"sqlite:///{workdir / 'presswatch.db'}"
    (workdir / "sources.yaml").write_text(SOURCES_YAML.format(poll=args.poll_seconds, url=site.url), encoding="utf-8")
    (workdir / "alert_rules.yaml").write_text(rules_yaml(args.trials), encoding="utf-8")
    (workdir / "presswatch.toml").write_text(
        f'data_dir = "{workdir}"\n'
        f'[db]\nurl = "{db_url}"\n'
        f'[crawl]\nsources_file = "{workdir / "sources.yaml"}"\nobey_robots_txt = false\n'
        f'[pipeline]\nsnapshot_dir = "{workdir / "snapshots"}"\n'
        f'[alerts]\nrules_file = "{workdir / "alert_rules.yaml"}"\ndigests_file = "{workdir / "none.yaml"}"\n'
        f'smtp_host = "{box.host}"\nsmtp_port = {box.port}\nfrom_address = "presswatch@dz-court.example.cn"\n'
        f'quiet_hours = ""\n'
        f'[quota]\nrules_file = "{workdir / "none-quota.yaml"}"\n',
        encoding="utf-8",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESSWATCH_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH", "")]))
    env.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    log_path = workdir / "service.log"
    with log_path.open("wb") as log_file:
        service = subprocess.Popen([sys.executable, "-m", "presswatch", "--config", str(workdir / "presswatch.toml"),
                                    "run", "--no-web"], cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    engine = make_engine(db_url)
    rng = random.Random(args.seed)
    latencies: list[float] = []
    spent: list[dict[str, float]] = []
    load = os.getloadavg()
    print(f"presswatch run (pid {service.pid}) as shipped; feed polled every {args.poll_seconds}s; "
          f"SMTP {box.host}:{box.port}; {args.trials} trials; load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
          flush=True)
    try:
        # Measure a running service, as one that has been up for a while: wait for its first crawl
        # of the (empty) feed and for its classifier to be loaded (the service log says when).
        deadline = time.monotonic() + 180
        marks = ("crawled jinri-danzhou", "classifier ready")
        while time.monotonic() < deadline and not all(m in log_path.read_text("utf-8", "replace") for m in marks):
            if service.poll() is not None:
                print(log_path.read_text("utf-8", "replace"))
                raise SystemExit("the service exited during start-up")
            time.sleep(0.5)
        for n in range(args.trials):
            time.sleep(rng.uniform(0, args.poll_seconds))  # a random moment relative to the poll
            before = len(box.messages)
            title, token = site.publish(n, rng)
            published = site.published[token]
            t0 = time.monotonic()
            timeout = args.poll_seconds * 4 + 60
            got = box.wait_for(before + 1, timeout_seconds=timeout)
            if len(got) <= before:
                print(f"trial {n + 1}: no email within {timeout}s for {title}", flush=True)
                latencies.append(float("inf"))
                continue
            latency = got[before].at - t0
            arrived = published + latency
            latencies.append(latency)
            time.sleep(0.3)  # let the service record the send
            split = phases(engine, token, published, arrived)
            if split:
                spent.append(split)
            shown = "  ".join(f"{k} {v:4.1f}" for k, v in (split or {}).items())
            print(f"trial {n + 1:2d}: {latency:5.1f}s  [{shown}]  {got[before].message['Subject']}", flush=True)
    finally:
        service.send_signal(signal.SIGTERM)
        try:
            service.wait(timeout=60)
        except subprocess.TimeoutExpired:
            service.kill()
        engine.dispose()
        site.stop()
        box.stop()
    finite = [v for v in latencies if v != float("inf")]
    load = os.getloadavg()
    if not finite:
        print(f"no alert arrived; service log: {log_path}")
        return 1
    p50, p95 = statistics.median(finite), percentile(finite, 0.95)
    missing = len(latencies) - len(finite)
    target = GOAL_P95_SECONDS_FAST if args.poll_seconds <= 10 else TARGET_P95_SECONDS
    print(f"\nalert latency over {len(latencies)} trials, polling every {args.poll_seconds}s: p50 {p50:.1f}s  "
          f"p95 {p95:.1f}s  max {max(finite):.1f}s  lost {missing}  "
          f"(target p95 < {target:.0f}s: {'met' if p95 < target and not missing else 'NOT met'})")
    if spent:
        print("where the time went (median / max seconds): " + ", ".join(
            f"{k} {statistics.median(s[k] for s in spent):.1f} / {max(s[k] for s in spent):.1f}" for k in PHASES))
    print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if args.keep:
        print(f"work folder and service log: {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
