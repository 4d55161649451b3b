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
    # case history actions (alerts.cases / alerts.engine)
    N_("raised"), N_("updated"), N_("ack"), N_("assign"), N_("respond"), N_("response_line"), N_("note"),
    N_("resolve"), N_("dismiss"), N_("reopen"), N_("escalated"), N_("escalated_sla"), N_("sla_missed"),
    N_("correction_requested"), N_("correction_overdue"), N_("correction_published"), N_("delivery_dead"),
    # sentiments
    N_("positive"), N_("neutral"), N_("negative"),
    # quota: registration states, review steps, piece kinds, adoption, verification methods, periods
    N_("proposed"), N_("submitted"), N_("section_approved"), N_("leader_approved"), N_("rejected"),
    N_("submit"), N_("section_approve"), N_("leader_approve"), N_("reject"),
    N_("news"), N_("bulletin"), N_("publicity_lead"), N_("case_report"), N_("press_conference"),
    N_("live_stream"), N_("other"), N_("standalone"), N_("combined"), N_("none"),
    N_("url"), N_("title"), N_("title_similar"), N_("text"), N_("byline"), N_("own_channel"),
    N_("week"), N_("half_month"), N_("month"), N_("quarter"), N_("year"),
    N_("met"), N_("behind"), N_("missed"),
    # correction request states and history (alerts.cases)
    N_("draft"), N_("requested"), N_("corrected"), N_("refused"), N_("no_response"), N_("overdue"),
    # risk plan states
    N_("planned"), N_("open"), N_("closed"),
    # how an article joined its story, and the decisions on stories (pipeline.stories)
    N_("first"), N_("exact_repost"), N_("near_repost"), N_("headline_repost"), N_("moved"),
    N_("merge"), N_("auto_merge"), N_("split"), N_("undo"),
    # where a message about a case stands (alerts.outbox.case_messages)
    N_("queued"), N_("held"), N_("sending"), N_("sent"), N_("dead"), N_("cancelled"),
    # API key states (accounts.api_keys.key_state)
    N_("active"), N_("expired"), N_("revoked"),
    # digest and report kinds, digest records' and outbox messages' states (the report centre)
    N_("daily"), N_("weekly"), N_("monthly"), N_("quarterly"), N_("yearly"),
    N_("built"), N_("skipped_empty"), N_("pending"),
)
