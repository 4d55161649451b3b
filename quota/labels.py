"""The words of the quota stage, by key (their translations live in the one gettext catalog)."""

from __future__ import annotations

from presswatch.i18n import N_, gettext

_LABELS: dict[str, str] = {
    "status_title": N_("Publicity quota progress"),
    "ranking_title": N_("Ranking"),
    "rule": N_("Rule"),
    "unit": N_("Unit"),
    "period": N_("Quota period"),
    "done": N_("Done"),
    "target": N_("Target"),
    "progress": N_("Progress"),
    "status": N_("Status"),
    "met": N_("met"),
    "short": N_("short by {n}"),
    "days_left": N_("{n} days left"),
    "pieces": N_("pieces"),
    "points": N_("points"),
    "rank": N_("Rank"),
    "total": N_("Total"),
    "periods_met": N_("Periods met"),
    "evidence": N_("Evidence (registration ids)"),
    "registration": N_("Registration"),
    "outlet": N_("Outlet"),
    "title": N_("Title"),
    "published": N_("Published"),
    "kind": N_("Kind"),
    "adoption": N_("Adoption"),
    "state": N_("Review state"),
    "verified": N_("Verified"),
    "not_verified": N_("not verified"),
    "from": N_("From"),
    "to": N_("To"),
    "days_left_col": N_("Days left"),
    "points_col": N_("Points"),
    "rule_key": N_("Rule key"),
    "unit_code": N_("Unit code"),
    "address": N_("Address"),
    "article": N_("Article"),
    "story": N_("Story"),
    "no_rules": N_("No quota rules apply (presswatch quota load quota.yaml)"),
    "reminder_subject": N_("[Reminder] {unit}: '{rule}' {period} is short by {n}, {days} days left"),
    "reminder_body": N_(
        "{unit},\n\nRule '{rule}' for {period} (ends {end}): target {target}, done {value}, short by {n}. "
        "Please publish and register pieces before the period ends.\n\nRegistrations counted: {ids}\n\n— "
        "presswatch"
    ),
    "report_subject": N_("{unit}: publicity quota results for {period}"),
    "report_intro": N_("{unit},\n\nYour publicity quota results for {period}:\n"),
    "none": N_("none"),
    "submitted": N_("Submitted"),
    "standalone": N_("Standalone"),
    "combined": N_("In combined"),
    "count": N_("Number of pieces"),
    "target_met": N_("Target met"),
    "yes": N_("yes"),
    "no": N_("no"),
    "announce_subject": N_("'{rule}' {period}: submissions and adoptions of every unit"),
    "announce_intro": N_("{unit},\n\nSubmissions, adoptions and ranking of every unit, '{rule}' {period}:\n"),
}


def t(language: str, key: str, **kw: object) -> str:
    """The quota word ``key`` in ``language``; ``{name}`` placeholders filled from ``kw``."""
    return gettext(language, _LABELS[key], **kw)


def fmt_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


__all__ = ["fmt_number", "t"]
