"""Where the app is assembled: which stage reacts to which event.

The service (``presswatch run``), the CLI (``presswatch.cli:main``) and the web app each call
:func:`wire` once at start; stages never subscribe as a side effect of being imported or of
``scheduled_jobs()``. Events are frozen dataclasses in ``presswatch/events.py``; every one is
published only after the transaction that wrote its rows has committed.

Each event, its fields, who publishes it and who subscribes:

- ``ArticleStored(article_id, story_id, is_new_story)``: pipeline.ingest, after each batch's
  commit. Subscriber: the service's event chain (classify -> evaluate -> deliver at once).
- ``ArticleClassified(article_id, risk_level, sentiment)``: classify.service, after the caller's
  commit. Subscriber: ``alerts.jobs.on_classified`` (marks work waiting for ``alerts-evaluate``).
- ``AlertRaised(alert_id, severity, is_update)``: alerts.engine, after commit. Subscribers: none
  yet (the web app's live view will be one).
- ``SourceFailing(source_key, consecutive_failures, reason, last_success_at)``: crawlers.run, after
  the health record commits, from the CLI's crawl as from the service's. Subscriber:
  ``alerts.jobs.on_source_failing`` (raises the source's alert); the service's ``alerts-sources``
  sweep of the ``sources`` table catches any the bus missed (a crawl in another process).
- ``AlertRaised`` and ``SourceFailing`` also: ``alerts.hooks.on_event`` (queues the organizations'
  outbound webhooks from the rows that record the events; the ``webhooks-sweep`` job catches up).
- ``CrawlFinished(source_key, items_found, items_new, status, errors)``: crawlers.run, after
  commit. Subscribers: none (tests; the web app).
"""

from __future__ import annotations

from presswatch.events import EventBus, bus


def wire(target: EventBus | None = None) -> EventBus:
    """Subscribe every stage's handlers to ``target`` (the process bus by default). Idempotent: the
    web app may call it from its startup hook even when the CLI already did."""
    import alerts.hooks
    import alerts.jobs

    on = target or bus
    alerts.jobs.subscribe(on)
    alerts.hooks.subscribe(on)  # after the alerts stage's own handlers: their rows exist when it reads
    return on
