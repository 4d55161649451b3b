"""Run crawl plans through Scrapy: one ``CrawlerProcess`` per crawl run, one crawler per source.

Twisted's reactor cannot be restarted inside one process, so :func:`run_plans` may run once per
process. Callers that crawl more than once (the scheduler job, tests, the demo inside a longer
process) use :func:`run_plans_isolated`, which runs the same code in a child process
(``python -m crawlers.engine``) and streams its items and outcomes back through a file.
"""

from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from crawlers.plan import CrawlPlan, Outcome
from presswatch.items import RawItem
from presswatch.processes import python_child
from settings import CrawlSettings

log = logging.getLogger(__name__)
OnItem = Callable[[RawItem], None]


class CrawlEngineError(Exception):
    """The crawl process itself failed (not one source: those end up in their outcomes)."""


SCRAPY_LOGGERS = ("scrapy", "twisted", "py.warnings", "filelock", "protego")


def quiet_scrapy_logging(log_level: int | str) -> None:
    """Scrapy's chatter only at debug (-vv).

    ``CrawlerProcess()`` runs Scrapy's ``configure_logging``, whose ``dictConfig(DEFAULT_LOGGING)``
    sets the ``scrapy`` logger to DEBUG: every ``presswatch crawl`` printed ~170 KB of request logs
    and raw page bytes. So Scrapy's own default table says our level before the process is built,
    and the levels are set again after it."""
    from scrapy.utils import log as scrapy_log

    level = logging.getLevelName(log_level) if isinstance(log_level, str) else log_level
    root = logging.getLogger().getEffectiveLevel()
    debug = (isinstance(level, int) and level <= logging.DEBUG) or root <= logging.DEBUG
    quiet = logging.DEBUG if debug else logging.WARNING
    defaults: Any = scrapy_log.DEFAULT_LOGGING.get("loggers", {})
    if isinstance(defaults.get("scrapy"), dict):
        defaults["scrapy"]["level"] = logging.getLevelName(quiet)
    for name in SCRAPY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)


def run_plans(plans: list[CrawlPlan], cfg: CrawlSettings, on_item: OnItem,
              log_level: int | str = logging.WARNING) -> dict[str, Outcome]:
    """Crawl every plan in this process (once per process: see the module docstring)."""
    os.environ.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
    import warnings

    from scrapy import signals
    from scrapy.crawler import CrawlerProcess

    from crawlers.settings import scrapy_settings
    from crawlers.spiders import SPIDERS

    warnings.filterwarnings("ignore", category=DeprecationWarning, module="scrapy_redis")
    outcomes = {p.source_key: Outcome(p.source_key) for p in plans}
    quiet_scrapy_logging(log_level)
    process = CrawlerProcess({**scrapy_settings(cfg, log_level=log_level), "LOG_INSTALL_ROOT_HANDLER": False})
    quiet_scrapy_logging(log_level)
    handlers: list[Any] = []  # Scrapy's signals hold receivers weakly: keep the closures alive

    for plan in plans:
        crawler = process.create_crawler(SPIDERS[plan.decl["kind"]])
        outcome = outcomes[plan.source_key]

        def _scraped(item: Any, response: Any = None, spider: Any = None, *, _o: Outcome = outcome) -> None:
            if isinstance(item, RawItem):
                _o.items_new += 1
                on_item(item)

        def _error(failure: Any, response: Any = None, spider: Any = None, *, _o: Outcome = outcome) -> None:
            # A bug in a callback (not a network failure: those go to the errback).
            _o.errors.append(f"spider error at {getattr(response, 'url', '?')}: {failure.value!r}"[:300])

        handlers += [_scraped, _error]
        crawler.signals.connect(_scraped, signal=signals.item_scraped)
        crawler.signals.connect(_error, signal=signals.spider_error)
        process.crawl(crawler, plan=plan, outcome=outcome, timeout_seconds=cfg.fetch_timeout_seconds)
    if plans:
        process.start(install_signal_handlers=False)
    return outcomes


def run_plans_isolated(plans: list[CrawlPlan], cfg: CrawlSettings, on_item: OnItem,
                       timeout_seconds: float | None = None) -> dict[str, Outcome]:
    """:func:`run_plans` in a child process; items reach ``on_item`` here, in the caller's process.

    Items stream back through a pipe while the crawl runs (the caller's sink works in parallel
    with the crawler). Items the child sent before dying are still delivered, and the crash is
    recorded on every source's outcome, so a crash never loses the good items of the run.
    """
    with tempfile.TemporaryDirectory(prefix="presswatch-crawl-") as tmp:
        job, errors = Path(tmp) / "job.pkl", Path(tmp) / "stderr.txt"
        job.write_bytes(pickle.dumps({"plans": plans, "crawl": cfg.model_dump(mode="python"),
                                      "log_level": logging.getLogger().getEffectiveLevel()}))
        read_fd, write_fd = os.pipe()
        # Isolated from the working folder: a settings.py there must not replace ours in the child.
        argv, env = python_child("crawlers.engine", str(job), str(write_fd))
        env.setdefault("TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS", "")
        outcomes = {p.source_key: Outcome(p.source_key) for p in plans}
        with errors.open("wb") as err:
            proc = subprocess.Popen(argv, env=env,
                                    pass_fds=(write_fd,), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=err)
        os.close(write_fd)
        killed = threading.Event()

        def _kill() -> None:
            killed.set()
            proc.kill()

        watchdog = threading.Timer(timeout_seconds, _kill) if timeout_seconds else None
        if watchdog:
            watchdog.start()
        try:
            with os.fdopen(read_fd, "rb", buffering=1 << 16) as stream:
                for kind, payload in _read_stream(stream):
                    if kind == "item":
                        on_item(payload)
                    elif kind == "outcome":
                        outcomes[payload.source_key] = payload
            returncode = proc.wait()
        finally:
            if watchdog:
                watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        stderr = errors.read_text(encoding="utf-8", errors="replace").strip()
        if stderr:
            log.debug("crawl process stderr:\n%s", stderr)
        failure = None
        if killed.is_set():
            failure = f"crawl process killed after {timeout_seconds} s"
        elif returncode != 0:
            failure = f"crawl process exited {returncode}: {(stderr.splitlines() or [''])[-1][:300]}"
        if failure:
            log.error("%s", failure)
            for outcome in outcomes.values():
                outcome.errors.append(failure)
        return outcomes


def _read_stream(stream: BinaryIO) -> Iterator[tuple[str, Any]]:
    while True:
        try:
            yield pickle.load(stream)
        except EOFError:
            return
        except (pickle.UnpicklingError, ValueError):  # a half-written last record after a crash
            return


def _child_main(job_path: str, out_fd: str) -> int:
    job = pickle.loads(Path(job_path).read_bytes())
    logging.basicConfig(level=job["log_level"], format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    cfg = CrawlSettings.model_validate(job["crawl"])
    with os.fdopen(int(out_fd), "wb", buffering=1 << 16) as out:
        def on_item(item: RawItem) -> None:
            pickle.dump(("item", item), out, protocol=pickle.HIGHEST_PROTOCOL)

        outcomes = run_plans(job["plans"], cfg, on_item, log_level=job["log_level"])
        for outcome in outcomes.values():
            pickle.dump(("outcome", outcome), out, protocol=pickle.HIGHEST_PROTOCOL)
    return 0


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1], sys.argv[2]))
