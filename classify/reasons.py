"""The reasons of a classification: their typed shape, and how people read them.

Words live in the one gettext catalog; :data:`FACTOR_LABELS` holds each risk factor's English source.
"""

from __future__ import annotations

from presswatch.i18n import N_, gettext

# Risk factors the classifier reports (classify.engine), as a reader would name them.
FACTOR_LABELS: dict[str, str] = {
    "negative_sentiment": N_("negative sentiment"),
    "sensitive_terms": N_("sensitive terms"),
    "hostility_model": N_("hostile language"),
    "names_organization": N_("names the organization"),
    "source_reach": N_("outlet reach"),
    "spread_velocity": N_("spread velocity"),
    "risk_model": N_("risk model"),
}


def factor_label(name: str, language: str) -> str:
    """A risk factor's name for people in ``language`` (an unknown factor keeps its key)."""
    message = FACTOR_LABELS.get(name)
    return gettext(language, message) if message else name
