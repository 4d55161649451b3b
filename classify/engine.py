"""The classifier: language, topics, sentiment and risk of a piece, each with its reasons.

``Classifier.classify_batch(docs, contexts)`` is the one entry point (the CLI, the service and the
demo call it). Per piece:

1. Language: the pipeline's when given, otherwise detected (``classify.lang``). Only ``zh`` and
   ``vi`` are scored; anything else (empty, emoji-only, other scripts) gets the defined answer
   lang und / neutral / low risk with the reason.
2. Topics: taxonomy rules (watch queries) and the learned topic model; the larger score wins,
   topics scoring at least ``TOPIC_THRESHOLD`` are kept, best first. A user's single-label topic
   model (``presswatch train --data``) gives exactly one topic, its most probable, and the rules
   join only when it was trained ``--with-rules``.
3. Sentiment toward the subject: the learned model's polarity blended with the domain lexicon
   (negation and degree words handled); signed score in [-1, 1]. A user's sentiment model gives
   its own most probable label.
4. Stance toward the office and its work (lexicon stance terms; the office's own channel speaks
   for it): supportive / neutral / critical. A supportive piece is at most neutral in sentiment.
5. Risk: a weighted sum of named factors (negative sentiment, sensitive terms, the learned
   hostility model, the organization or its officials named, source tier and reach, story spread
   velocity), mapped to low / medium / high / critical. The last three are amplifiers: they are
   scaled by how negative, sensitive or critical the piece is, so good news about the office
   stays low; a supportive piece's sensitive terms count less. Every factor's value, weight and
   contribution is part of the reasons.

Batches are classified together: each document tokenized once, every feature group hashed once
(numpy), models with the same features scored from one count matrix by one sparse product, and the
topic / watch rules prefiltered by one Aho-Corasick pass (``classify.query.QuerySet``).

The weights and thresholds below were set by hand on the training part of the hand-written
in-domain set and checked on its held-out part (see MODEL_CARD.md); change them with care, the
quality-floor test will tell.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from classify import lang as langmod
from classify.learned import ModelFileError, TextModel, config_groups, group_hashes, hash_counts
from classify.lexicon import Lexicon, default_lexicon, polarity
from classify.query import PreparedDoc, Query, QuerySet, QuerySyntaxError, parse_query
from classify.reasons import (
    Factor,
    Mention,
    Reasons,
    RiskReasons,
    SentimentReasons,
    StanceReasons,
    TopicReason,
)
from classify.taxonomy import Taxonomy, load_taxonomy

BUNDLED_MODELS = Path(__file__).parent / "models"
TASK_FILES = {"sentiment": "sentiment.npz", "topic": "topic.npz", "risk": "risk.npz"}

MAX_SCORED_CHARS = 20_000  # longer texts: the first 20k characters are scored (reason given)
MAX_RULE_CHARS = 100_000  # topic rules and watch queries look further

TOPIC_THRESHOLD = 0.5
MAX_TOPICS = 6

# Sentiment: blend of model polarity and lexicon polarity, then thresholds.
SENT_MODEL_WEIGHT = 0.45
SENT_LEXICON_WEIGHT = 0.55
SENT_MODEL_ONLY_DAMPING = 0.6  # no lexicon term: the review-trained model alone is less sure on news
SENT_THRESHOLD = 0.2
# Vietnamese: the default sentiment model has seen ~100 Vietnamese sentences (beside 15k Chinese
# reviews), so its polarity counts less there: 0.3 beside the lexicon's 0.7, and 0.3 x alone. With the
# Chinese weights it called most plain Vietnamese notices negative (issue 21; MODEL_CARD.md).
SENT_MODEL_WEIGHT_BY_LANG = {"vi": 0.3}
SENT_MODEL_ONLY_DAMPING_BY_LANG = {"vi": 0.3}

# Risk factors and their weights (contributions add up; the score is capped at 1).
RISK_WEIGHTS = {
    "negative_sentiment": 0.30,
    "sensitive_terms": 0.35,
    "hostility_model": 0.10,
    "names_organization": 0.15,
    "source_reach": 0.05,
    "spread_velocity": 0.10,
}
SENSITIVE_SATURATION = 1.5  # summed term weights at which the factor is full

# Stance toward the office (lexicon stance terms; see _stance). Set by hand on the train part of the
# stance set (data/stance_hand.tsv) and the demo; checked on its held-out part (quality_floors.json).
STANCE_THRESHOLD = 0.25
STANCE_SENTIMENT_SHARE = 0.3  # no stance term: the sentiment's sign, weakly
OWN_CHANNEL_STANCE = 0.3  # the office's own site / account speaks for it
SUPPORTIVE_SENSITIVE_SHARE = 0.3  # sensitive terms in a supportive piece count this much
RISK_LEVEL_THRESHOLDS = (("critical", 0.62), ("high", 0.31), ("medium", 0.1))
TIER_WEIGHT = {
    "central": 1.0,
    "provincial": 0.8,
    "prefecture": 0.6,
    "county": 0.4,
    "own_channel": 0.1,
    "other": 0.5,
}
LEVEL_CENTER = {"low": 0.1, "medium": 0.3, "high": 0.47, "critical": 0.75}
HOSTILE_LABELS = ("1", "true", "yes", "hostile", "offensive")


@dataclass(frozen=True)
class Spread:
    article_count: int = 1
    outlet_count: int = 1
    first_seen_at: datetime | None = None
    last_seen_at: datetime | None = None


@dataclass(frozen=True)
class Context:
    """What the article row knows beyond its text (all optional)."""

    outlet_tier: str | None = None
    outlet_reach: float | None = None
    spread: Spread | None = None
    now: datetime | None = None


@dataclass
class Result:
    lang: str
    topics: list[dict[str, Any]]
    sentiment: str
    sentiment_score: float
    risk_level: str
    risk_score: float
    mentions_org: bool
    reasons: Reasons = field(default_factory=lambda: Reasons())

    def risk_reasons(self) -> list[Factor]:
        return list(self.reasons["risk"]["factors"]) if "risk" in self.reasons else []

    def as_output(self) -> dict[str, Any]:
        """The batch-interface fields: lang, topics, sentiment, stance, risk (with reasons)."""
        risk_reasons: list[dict[str, Any]] = [dict(f) for f in self.risk_reasons() if f["contribution"] > 0]
        notes = self.reasons.get("notes", [])
        stance = self.reasons.get("stance") or {"label": "neutral", "score": 0.0}
        return {
            "lang": self.lang,
            "topics": self.topics,
            "sentiment": {"label": self.sentiment, "score": self.sentiment_score},
            "stance": {"label": stance["label"], "score": stance["score"]},
            "risk": {
                "level": self.risk_level,
                "score": self.risk_score,
                "reasons": risk_reasons + [{"factor": "note", "detail": n} for n in notes],
            },
        }


class ClassifierError(Exception):
    """Classifier set-up failed (a model file, the taxonomy or a watch query); the message says which."""


@dataclass(frozen=True)
class WatchRule:
    name: str
    query: Query
    purpose: str = "org"


def compile_watch_rules(items: Sequence[tuple[str, str, str]]) -> list[WatchRule]:
    """(name, query text, purpose) -> rules; a bad query raises ClassifierError naming it."""
    rules = []
    for name, text, purpose in items:
        try:
            rules.append(WatchRule(name, parse_query(text), purpose))
        except QuerySyntaxError as exc:
            raise ClassifierError(f"watch query '{name}': {exc}") from None
    return rules


def _r(x: float, nd: int = 3) -> float:
    return round(float(x), nd)


class Classifier:
    def __init__(
        self,
        models_dir: str | Path | None = None,
        *,
        taxonomy_file: str | Path | None = None,
        watch_rules: Sequence[WatchRule] = (),
        lexicon: Lexicon | None = None,
    ) -> None:
        self.models_dir = Path(models_dir) if models_dir else BUNDLED_MODELS
        self.models: dict[str, TextModel] = {}
        for task, filename in TASK_FILES.items():
            path = self.models_dir / filename
            if not path.exists() and models_dir and (BUNDLED_MODELS / filename).exists():
                # A models directory may hold only some tasks (``train --task X --models DIR``);
                # the others come from the bundled defaults.
                path = BUNDLED_MODELS / filename
            self.models[task] = TextModel.load(path, task)
        try:
            self.taxonomy: Taxonomy = load_taxonomy(taxonomy_file)
        except ValueError as exc:
            raise ClassifierError(str(exc)) from None
        self.lexicon = lexicon or default_lexicon()
        self.watch_rules = list(watch_rules)
        # The topic rules' and watch rules' needles and the Chinese lexicon terms in one automaton:
        # one pass over a piece finds them all (see _scan).
        zh_lex = self.lexicon.get("zh")
        self._zh_scan = zh_lex.scan if zh_lex is not None else None
        rules: dict[str, Query] = {f"t:{k}": t.rule for k, t in self.taxonomy.topics.items() if t.rule is not None}
        rules.update({f"w:{i}": rule.query for i, rule in enumerate(self.watch_rules)})
        self._rule_set = QuerySet(rules, zh_lex.scan_terms if zh_lex is not None else ())
        self.version = self._version()

    def _user_model(self, task: str) -> bool:
        """Whether ``task``'s model was trained on a user's own labels (``presswatch train --data``)."""
        return self.models[task].meta.get("origin") == "user"

    # ------------------------------------------------------------------ identity
    def _version(self) -> str:
        parts = {
            task: m.meta.get("data_sha256", "") + str(m.meta.get("trained_at", "")) for task, m in self.models.items()
        }
        parts["taxonomy"] = hashlib.sha256(Path(self.taxonomy.source).read_bytes()).hexdigest()
        from classify.lexicon import LEXICON_FILE

        parts["lexicon"] = hashlib.sha256(LEXICON_FILE.read_bytes()).hexdigest()
        digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:12]
        return f"classify-1-{digest}"

    # ------------------------------------------------------------------ entry point
    def classify(self, doc: Mapping[str, Any], context: Context | None = None) -> Result:
        return self.classify_batch([doc], [context])[0]

    def classify_batch(
        self, docs: Sequence[Mapping[str, Any]], contexts: Sequence[Context | None] | None = None
    ) -> list[Result]:
        contexts = list(contexts) if contexts is not None else [None] * len(docs)
        prepared = [self._prepare(doc) for doc in docs]
        scored_idx = [i for i, p in enumerate(prepared) if p["lang"] in langmod.SUPPORTED]
        probs: dict[str, Any] = {}
        if scored_idx:
            probs = self._model_probs([prepared[i] for i in scored_idx])
        results: list[Result] = []
        row_of = {doc_i: k for k, doc_i in enumerate(scored_idx)}
        for i, p in enumerate(prepared):
            k = row_of.get(i)
            model_probs = {task: arr[k] for task, arr in probs.items()} if k is not None else None
            results.append(self._result(p, model_probs, contexts[i] or Context()))
        return results

    def _model_probs(self, docs: list[dict[str, Any]]) -> dict[str, Any]:
        """Every model's probabilities for these documents: each document is tokenized once, each
        feature group (words, bigrams, character n-grams) hashed once and shared by the models that
        use it, and each model scores the whole batch with one sparse product."""
        langs = sorted({d["lang"] for d in docs})
        groups = {(task, lang): config_groups(m.config, lang) for task, m in self.models.items() for lang in langs}
        wanted = {lang: {g for (_, lg), gs in groups.items() if lg == lang for g in gs} for lang in langs}
        per_doc = [group_hashes(d["scored"], d["lang"], None, wanted[d["lang"]]) for d in docs]
        out = {}
        # Models with the same features here share one count matrix and its log-scaled values.
        by_config: dict[Any, tuple[Any, np.ndarray]] = {}
        for task, model in self.models.items():
            key = (model.config.n_features, tuple(groups[task, lang] for lang in langs))
            shared = by_config.get(key)
            if shared is None:
                doc_groups = [
                    [feats[g] for g in groups[task, d["lang"]]] for d, feats in zip(docs, per_doc, strict=True)
                ]
                counts = hash_counts(doc_groups, model.config.n_features)
                shared = by_config[key] = counts, np.log1p(counts.data, dtype=np.float32)
            out[task] = model.predict_proba_counts(shared[0], logged=shared[1])
        return out

    # ------------------------------------------------------------------ steps
    def _prepare(self, doc: Mapping[str, Any]) -> dict[str, Any]:
        title = doc.get("title") if isinstance(doc.get("title"), str) else ""
        text = doc.get("text") if isinstance(doc.get("text"), str) else ""
        notes: list[str] = []
        full = f"{title}\n{text}" if title else str(text)
        lang, lang_reason = langmod.resolve(doc.get("lang") if isinstance(doc.get("lang"), str) else None, full)
        scored = full
        if len(scored) > MAX_SCORED_CHARS:
            notes.append(f"text of {len(full)} characters: the first {MAX_SCORED_CHARS} were scored")
            scored = scored[:MAX_SCORED_CHARS]
        rule_doc = PreparedDoc(
            {
                "title": str(title)[:MAX_RULE_CHARS],
                "text": str(text)[:MAX_RULE_CHARS],
                "source": str(doc.get("source") or ""),
                "lang": lang,
            }
        )
        # The lexicons read the scored text normalized as the rules' document already is (one
        # normalization of a long text instead of two).
        lex_norm = None
        if scored is full:
            body = rule_doc.texts["text"]
            lex_norm = f"{rule_doc.texts['title']}\n{body}" if title else body
        return {
            "lang": lang,
            "lang_reason": lang_reason,
            "scored": scored,
            "lex_norm": lex_norm,
            "rule_doc": rule_doc,
            "notes": notes,
        }

    def _result(self, p: dict[str, Any], model_probs: dict[str, Any] | None, ctx: Context) -> Result:
        lang = p["lang"]
        reasons: Reasons = {
            "model_version": self.version,
            "lang": {"value": lang, "why": p["lang_reason"]},
            "notes": list(p["notes"]),
        }
        topic_candidates, watch_candidates = self._scan(p)
        mentions = self._mentions(p["rule_doc"], watch_candidates)
        reasons["mentions"] = mentions
        if model_probs is None:
            reasons["notes"].append(f"not scored: {p['lang_reason']}; neutral and low risk by definition")
            reasons["sentiment"] = {"label": "neutral", "score": 0.0}
            reasons["risk"] = {
                "level": "low",
                "score": 0.0,
                "factors": [
                    {
                        "factor": "unsupported_language",
                        "weight": 0.0,
                        "value": 0.0,
                        "contribution": 0.0,
                        "detail": p["lang_reason"],
                    }
                ],
            }
            reasons["topics"] = []
            return Result(lang, [], "neutral", 0.0, "low", 0.0, bool(mentions), reasons)

        topics, topic_reasons = self._topics(p["rule_doc"], model_probs["topic"], topic_candidates)
        reasons["topics"] = topic_reasons
        sentiment, sent_score, sent_reasons = self._sentiment(
            p["scored"], lang, model_probs["sentiment"], p["lex_norm"]
        )
        stance = self._stance(p["scored"], lang, sent_score, ctx, p["lex_norm"])
        reasons["stance"] = stance
        if stance["label"] == "supportive" and sent_score < 0 and not self._user_model("sentiment"):
            # Negative words about defaulters, detentions or a rumour the office rebuts are not
            # negative toward the office: the piece is at most neutral.
            sent_reasons["before_stance"] = {"label": sentiment, "score": sent_score}
            sent_reasons["label"], sent_reasons["score"] = "neutral", 0.0
            sent_reasons["how"] = "supportive stance: the negative words describe the office's action, not the office"
            sentiment, sent_score = "neutral", 0.0
        reasons["sentiment"] = sent_reasons
        level, risk_score, risk_reasons = self._risk(
            p["scored"], lang, sent_score, model_probs["risk"], mentions, ctx, p["lex_norm"], stance
        )
        reasons["risk"] = risk_reasons
        # Flat summaries for readers of the stored reasons (alerts, digests): the terms that matter
        # for risk, and the risk factors that contributed.
        matched = [t for m in mentions for t in m["terms"]]
        for factor in risk_reasons["factors"]:
            if factor["factor"] == "sensitive_terms" and factor.get("detail"):
                matched.extend(h["term"] for h in factor["detail"])
        matched.extend(h["term"] for h in sent_reasons.get("lexicon", {}).get("terms", []) if h["weight"] < 0)
        reasons["matched_terms"] = list(dict.fromkeys(matched))[:20]
        reasons["factors"] = [f for f in risk_reasons["factors"] if f["contribution"] > 0]
        return Result(lang, topics, sentiment, sent_score, level, risk_score, bool(mentions), reasons)

    def _scan(self, p: dict[str, Any]) -> tuple[list[str], list[str]]:
        """The topic rules and the watch rules that may match the piece, by one Aho-Corasick pass
        that also finds the Chinese lexicon's terms: when the lexicon's text is the haystack's (no
        marks stripped), its occurrences are handed to the lexicon, which then does not read the
        piece again (three passes of ~50 us each on ~900 characters became one)."""
        candidates, haystack, occurrences = self._rule_set.scan(p["rule_doc"])
        lex_text = p["lex_norm"]
        if p["lang"] == "zh" and self._zh_scan is not None and lex_text is not None:
            offset = 0 if p["rule_doc"].texts["title"] else 1  # no title: the haystack opens with "\n"
            end = offset + len(lex_text)
            if haystack[offset:end] == lex_text:
                self._zh_scan.prime(
                    lex_text, [(a - offset, b - offset, w) for a, b, w in occurrences if a >= offset and b <= end]
                )
        topics = [name[2:] for name in candidates if name.startswith("t:")]
        watch = [name[2:] for name in candidates if name.startswith("w:")]
        return topics, watch

    def _mentions(self, doc: PreparedDoc, candidates: Sequence[str]) -> list[Mention]:
        """The watch rules (``candidates``: those that may match, by :meth:`_scan`) that match."""
        out: list[Mention] = []
        for i in candidates:
            rule = self.watch_rules[int(i)]
            terms = rule.query.explain(doc)
            if terms:
                out.append(Mention(query=rule.name, purpose=rule.purpose, terms=terms))
        return out

    def _topics(
        self, doc: PreparedDoc, probs: Any, candidates: Sequence[str] | None = None
    ) -> tuple[list[dict[str, Any]], list[TopicReason]]:
        model = self.models["topic"]
        model_p = {name: float(probs[j]) for j, name in enumerate(model.classes)}
        if not model.multilabel:
            # Trained on one topic per document: exactly one, the most probable, with its probability.
            best = max(model_p, key=lambda k: model_p[k])
            entry = TopicReason(name=best, score=_r(model_p[best]), model=_r(model_p[best]))
            topics = [{"name": best, "score": _r(model_p[best])}]
            if self._user_model("topic") and not model.meta.get("with_rules"):
                return topics, [entry]
            extra = [
                TopicReason(name=k, score=h.score, rule_terms=h.terms, in_title=h.in_title)
                for k, h in sorted(self.taxonomy.rule_hits(doc, candidates).items(), key=lambda kv: -kv[1].score)
                if k != best
            ][: MAX_TOPICS - 1]
            return topics + [{"name": e["name"], "score": _r(e["score"])} for e in extra], [entry, *extra]
        hits = (
            {}
            if self._user_model("topic") and not model.meta.get("with_rules")
            else self.taxonomy.rule_hits(doc, candidates)
        )
        scored: dict[str, TopicReason] = {}
        for key, hit in hits.items():
            scored[key] = {"name": key, "score": hit.score, "rule_terms": hit.terms, "in_title": hit.in_title}
        for name, prob in model_p.items():
            if prob < TOPIC_THRESHOLD:
                continue
            entry = scored.setdefault(name, {"name": name, "score": 0.0})
            entry["model"] = _r(prob)
            entry["score"] = max(entry["score"], _r(prob))
        for name, entry in scored.items():
            if "model" not in entry and name in model_p:
                entry["model"] = _r(model_p[name])
        ranked = sorted((e for e in scored.values() if e["score"] >= TOPIC_THRESHOLD), key=lambda e: -e["score"])
        ranked = ranked[:MAX_TOPICS]
        return [{"name": e["name"], "score": _r(e["score"])} for e in ranked], ranked

    def _sentiment(
        self, text: str, lang: str, probs: Any, normalized: str | None = None
    ) -> tuple[str, float, SentimentReasons]:
        model = self.models["sentiment"]
        p = {name: float(probs[j]) for j, name in enumerate(model.classes)}
        lex = self.lexicon.get(lang)
        hits = lex.sentiment_hits(text, normalized) if lex else []
        lex_pol = polarity(hits)
        reasons = SentimentReasons(label="", score=0.0, model={k: _r(v) for k, v in p.items()})
        if hits:
            reasons["lexicon"] = {"score": _r(lex_pol), "terms": [h.as_dict() for h in hits[:20]]}
        if self._user_model("sentiment") or not set(p) <= {"negative", "neutral", "positive"}:
            # The user's own model (or one trained on other labels) predicts its classes as trained:
            # its most probable label, not blended with the lexicon. The signed score is
            # P(positive) - P(negative) when it knows those classes (risk reads it), else 0.
            label = max(p, key=lambda k: p[k])
            score = p.get("positive", 0.0) - p.get("negative", 0.0)
            reasons["label"], reasons["score"], reasons["how"] = label, _r(score), "the trained model's label"
            return label, _r(score), reasons
        model_pol = p.get("positive", 0.0) - p.get("negative", 0.0)
        if hits:
            w_model = SENT_MODEL_WEIGHT_BY_LANG.get(lang, SENT_MODEL_WEIGHT)
            score = w_model * model_pol + (1.0 - w_model) * lex_pol
        else:
            score = SENT_MODEL_ONLY_DAMPING_BY_LANG.get(lang, SENT_MODEL_ONLY_DAMPING) * model_pol
        label = "positive" if score >= SENT_THRESHOLD else "negative" if score <= -SENT_THRESHOLD else "neutral"
        reasons["label"], reasons["score"] = label, _r(score)
        reasons["model_polarity"], reasons["lexicon_polarity"] = _r(model_pol), _r(lex_pol)
        return label, _r(score), reasons

    def _stance(
        self, text: str, lang: str, sent_score: float, ctx: Context, normalized: str | None = None
    ) -> StanceReasons:
        """Stance toward the office and its work: supportive / neutral / critical, score in [-1, 1].

        The stance terms of the lexicon (the office exposing defaulters, detaining deadbeats,
        rebutting a rumour, praised: +; accused of violence, inaction, corruption, complained
        about: -) decide; a piece with none of them leans with its sentiment (x ``STANCE_SENTIMENT_SHARE``).
        A piece from the office's own channel is its own voice (+``OWN_CHANNEL_STANCE``)."""
        lex = self.lexicon.get(lang)
        hits = lex.stance_hits(text, normalized) if lex else []
        out = StanceReasons(label="neutral", score=0.0)
        if hits:
            score = polarity(hits)
            out["terms"] = [h.as_dict() for h in hits[:20]]
        else:
            score = STANCE_SENTIMENT_SHARE * sent_score
            out["from_sentiment"] = _r(sent_score)
        if ctx.outlet_tier == "own_channel":
            score += OWN_CHANNEL_STANCE
            out["own_channel"] = True
        score = max(-1.0, min(1.0, score))
        out["label"] = (
            "supportive" if score >= STANCE_THRESHOLD else "critical" if score <= -STANCE_THRESHOLD else "neutral"
        )
        out["score"] = _r(score)
        return out

    def _risk(
        self,
        text: str,
        lang: str,
        sent_score: float,
        probs: Any,
        mentions: list[Mention],
        ctx: Context,
        normalized: str | None = None,
        stance: StanceReasons | None = None,
    ) -> tuple[str, float, RiskReasons]:
        model = self.models["risk"]
        p = {name: float(probs[j]) for j, name in enumerate(model.classes)}
        lex = self.lexicon.get(lang)
        hits = lex.risk_hits(text, normalized) if lex else []
        factors: list[Factor] = []

        def add(name: str, value: float, detail: Any = None) -> None:
            weight = RISK_WEIGHTS[name]
            value = max(0.0, min(1.0, value))
            entry = Factor(factor=name, weight=weight, value=_r(value), contribution=_r(weight * value))
            if detail:
                entry["detail"] = detail
            factors.append(entry)

        stance = stance or {"label": "neutral", "score": 0.0}
        add("negative_sentiment", -sent_score if sent_score < 0 else 0.0, f"sentiment score {sent_score:+.2f}")
        sensitive = sum(h.weight for h in hits) / SENSITIVE_SATURATION
        if stance["label"] == "supportive":
            # The office's own rebuttal of "暴力执法" or its detention of a 老赖 names sensitive
            # things without being a risk itself.
            sensitive *= SUPPORTIVE_SENSITIVE_SHARE
        add("sensitive_terms", sensitive, [h.as_dict() for h in hits] or None)
        level_model = set(p) <= set(LEVEL_CENTER)
        if not level_model:
            hostile = next((p[c] for c in model.classes if c.lower() in HOSTILE_LABELS), p[model.classes[-1]])
            add("hostility_model", hostile, "learned on offensive-comment data (COLD, ViHOS) and the hand set")
        # Amplifiers (the office named, a far-reaching outlet, fast spread) make a negative or
        # sensitive piece riskier; on good news they add nothing. The gate is how negative/sensitive
        # the piece is (0..1).
        # A critical stance opens the amplifiers as negative sentiment does (it adds no weight of its
        # own: with one, the hand set's high pieces became critical; it mostly agrees with the two).
        critical = -float(stance["score"]) if stance["score"] < 0 else 0.0
        gate = max(factors[0]["value"], factors[1]["value"], critical)
        hostility = next((f for f in factors if f["factor"] == "hostility_model"), None)
        if hostility is not None and hostility["value"] >= 0.5 and stance["label"] != "supportive":
            gate = max(gate, hostility["value"])
        org = [m for m in mentions if m.get("purpose") in ("org", "official")]
        add("names_organization", gate if org else 0.0, [m["query"] for m in org] or None)
        if ctx.outlet_tier or ctx.outlet_reach is not None:
            tier_w = TIER_WEIGHT.get(ctx.outlet_tier or "other", 0.5)
            reach = ctx.outlet_reach if ctx.outlet_reach is not None else 1.0
            add(
                "source_reach", gate * min(1.0, tier_w * reach), f"tier {ctx.outlet_tier or 'unknown'}, reach {reach:g}"
            )
        if ctx.spread is not None:
            velocity, detail = _spread_value(ctx.spread, ctx.now)
            add("spread_velocity", gate * velocity, detail)
        score = min(1.0, sum(f["contribution"] for f in factors))
        how = "weighted factors"
        if level_model:
            expected = sum(LEVEL_CENTER[c] * p[c] for c in p)
            factors.append(
                {
                    "factor": "risk_model",
                    "weight": 0.5,
                    "value": _r(expected),
                    "contribution": _r(0.5 * expected),
                    "detail": {k: _r(v) for k, v in p.items()},
                }
            )
            score = 0.5 * score + 0.5 * expected
            how = "half weighted factors, half the trained risk-level model"
        level = next((name for name, threshold in RISK_LEVEL_THRESHOLDS if score >= threshold), "low")
        factors.sort(key=lambda f: -f["contribution"])
        out = RiskReasons(level=level, score=_r(score), how=how, factors=factors)
        out["stance"] = StanceReasons(label=stance["label"], score=stance["score"])
        return level, _r(score), out


def _spread_value(spread: Spread, now: datetime | None) -> tuple[float, str]:
    """0..1 from how many outlets carry the story and how fast it grew (articles per hour)."""
    now = now or datetime.now(UTC)
    first = spread.first_seen_at
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    hours = max(1.0, (now - first).total_seconds() / 3600) if first else 24.0
    per_hour = spread.article_count / hours
    outlets = min(1.0, max(0, spread.outlet_count - 1) / 4)  # 5 outlets or more: full
    velocity = max(outlets, min(1.0, per_hour / 2.0))  # 2 articles an hour: full
    return velocity, (
        f"{spread.article_count} articles from {spread.outlet_count} outlets in {hours:.0f} h ({per_hour:.2f}/h)"
    )


def load_classifier(
    models_dir: str | Path | None = None,
    taxonomy_file: str | Path | None = None,
    watch_rules: Sequence[WatchRule] = (),
) -> Classifier:
    try:
        return Classifier(models_dir, taxonomy_file=taxonomy_file, watch_rules=watch_rules)
    except ModelFileError as exc:
        raise ClassifierError(str(exc)) from None
