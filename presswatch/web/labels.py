"""Names of stored values (roles, severities, case states) as shown on pages; templates write
``{{ _(value) }}`` and these markers put the values into the translation catalog."""

from __future__ import annotations

from presswatch.i18n import N_

VALUE_LABELS = (
    # roles
    N_("admin"), N_("analyst"), N_("leader"), N_("correspondent"),
    # severities / risk levels
    N_("critical"), N_("high"), N_("medium"), N_("low"),
    # case states
    N_("new"), N_("acknowledged"), N_("responding"), N_("resolved"), N_("dismissed"),
)
