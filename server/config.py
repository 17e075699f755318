"""Arena's settings: defaults <- config.toml <- ARENA_<SECTION>__<KEY> environment.

Every key has a type and a default here, so the file and the environment can only set what
exists: an unknown key or a value of the wrong type stops start-up with a message that names
the key. This module uses the standard library only, because `python -m server` reads it
before it monkey-patches (see server/__main__.py).
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import tomllib
import typing
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "config.toml"
ENV_PREFIX = "ARENA_"
ASYNC_MODES = ("eventlet", "gevent", "threading")


class ConfigError(ValueError):
    """A setting is unknown or has the wrong type; the message names it."""


@dataclass
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 5000
    # The public address, used in share links, Open Graph tags, feeds and the
    # Socket.IO origin check. Empty: derived from host and port.
    base_url: str = ""
    # Empty: generated once into <instance_path>/secret_key and reused.
    secret_key: str = ""
    async_mode: str = "eventlet"
    instance_path: str = "instance"
    debug: bool = False
    # How many reverse proxies (nginx, a load balancer) stand in front of Arena and add
    # X-Forwarded-For/-Proto/-Host. 0: the connection's own address is the client's (a
    # forwarded header is ignored, so nobody can pick their address). 1 behind docs/nginx.conf.
    trusted_proxies: int = 0


@dataclass
class DatabaseSettings:
    url: str = "sqlite:///instance/arena.db"
    echo: bool = False


@dataclass
class MediaSettings:
    recordings_dir: str = "recordings"
    # Recording imports from a URL (server/media/importer.py, docs/configuration.md).
    # Hosts (as written in a URL: a name or an IP literal) whose private addresses an import
    # may reach anyway, e.g. an intranet video server. Empty: only public addresses.
    import_allowed_hosts: list[str] = field(default_factory=list)
    import_max_duration_seconds: int = 6 * 3600
    # Counted while the bytes arrive, not taken from Content-Length.
    import_max_megabytes: int = 4096
    # Wall clock for one whole import (metadata, media, thumbnail, captions).
    import_timeout_seconds: int = 3600
    # An uploaded MP4/WebM file.
    upload_max_megabytes: int = 4096
    # Uploaded captions (WebVTT or SRT).
    captions_max_kilobytes: int = 2048
    # Empty: ffprobe on PATH (Debian's ffmpeg package).
    ffprobe: str = ""


@dataclass
class GoLiveSettings:
    """Going live from the browser (server/media/ingest.py, docs/golive.md)."""

    # Empty: Debian's ffmpeg on PATH.
    ffmpeg: str = ""
    # HLS segment length; short segments keep viewers within a few seconds of the speaker.
    segment_seconds: int = 1
    # A speaker whose connection drops may come back this long and continue the same stream.
    reconnect_seconds: int = 30
    # Going live is refused below this much free space in recordings_dir, and a live
    # stream is ended (and kept) when the space falls below it.
    min_free_megabytes: int = 1024
    # One binary piece from the browser; below chat.max_http_buffer_size (the frame limit).
    max_chunk_bytes: int = 60000
    # Average upload allowed per stream over 10 s: room for a 30 s backlog after a reconnect.
    max_bytes_per_second: int = 2_000_000


@dataclass
class IngestSettings:
    """Live video from a venue's encoder over RTMP, the quality ladder and simulcast
    (server/media/rtmp.py, docs/ingest.md)."""

    # Arena starts Debian's nginx with the RTMP module as a child process (config generated
    # into <instance>/ingest/) and stops it with itself. false: no RTMP ingest at all.
    enabled: bool = True
    rtmp_port: int = 1935
    rtmp_bind: str = "127.0.0.1"
    # The host name encoders are told to publish to (rtmp://<public_host>:<rtmp_port>/live).
    # Empty: the host of server.base_url.
    public_host: str = ""
    # false: the system's nginx runs the RTMP server (docs/ingest.md); Arena only answers its
    # callbacks and reads stat/control at control_url.
    manage_nginx: bool = True
    # Empty: /usr/sbin/nginx and Debian's module.
    nginx: str = ""
    rtmp_module: str = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
    # nginx-rtmp's stat and control locations. Empty: the managed nginx's own socket.
    control_url: str = ""
    # Caps on what an encoder may send; a stream above them is refused or ended, its
    # recording kept.
    max_width: int = 1920
    max_height: int = 1080
    max_kbps: int = 10000
    # A publisher that has sent no video this long after connecting is dropped.
    no_data_seconds: int = 10
    # The quality ladder for browser and RTMP go-lives alike: the source (copied), 360p at
    # about 600 kbit/s and audio only (64 kbit/s). false: the source only, for a small CPU.
    ladder: bool = True
    # x264 preset of the 360p rendition.
    ladder_preset: str = "veryfast"
    # A simulcast destination that fails is tried again after 2, 4, 8 ... seconds, at most this.
    simulcast_retry_max_seconds: int = 60


@dataclass
class LoggingSettings:
    """Logging, configured once at start-up (server/logs.py, docs/operations.md)."""

    # "text": one human-readable line per record; "json": one JSON object per line, for a
    # log system (journald, Loki, Elastic).
    format: str = "text"
    # The root level: DEBUG, INFO, WARNING, ERROR.
    level: str = "INFO"
    # Levels of single loggers, "name=LEVEL", e.g. ["sqlalchemy.engine=WARNING", "server.media=DEBUG"].
    levels: list[str] = field(default_factory=list)
    # One line per HTTP request (method, path, status, milliseconds, request id), at INFO on
    # the logger "arena.request". Query strings are left out: they can carry sign-in tokens.
    request_log: bool = True


@dataclass
class MetricsSettings:
    """/metrics in Prometheus' text format (server/web/ops.py)."""

    # Empty: /metrics answers loopback only. Set: other addresses too, with
    # "Authorization: Bearer <token>". Never logged.
    token: str = ""


@dataclass
class MailSettings:
    """Sending e-mail over SMTP (server/services/mail.py). Empty host: no e-mail; links are
    copied by hand as before."""

    host: str = ""
    port: int = 587
    # "starttls" (port 587), "tls" (implicit TLS, port 465) or "none" (a relay on localhost only).
    security: str = "starttls"
    user: str = ""
    # Never shown or logged; prefer ARENA_MAIL__PASSWORD in the service's EnvironmentFile.
    password: str = ""
    # The sender, e.g. "Arena <arena@kommun.se>". Required when host is set.
    from_address: str = ""
    timeout_seconds: int = 20


MAIL_SECURITY = ("starttls", "tls", "none")
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
LOG_FORMATS = ("text", "json")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass
class LanguageSettings:
    default: str = "sv"
    available: list[str] = field(default_factory=lambda: ["sv", "en"])


@dataclass
class TimeSettings:
    # The zone used for an event that names none, and for the home page.
    time_zone: str = "Europe/Stockholm"


@dataclass
class ChatSettings:
    message_max_length: int = 500
    question_max_length: int = 300
    history_size: int = 50
    flood_messages: int = 5
    flood_window_seconds: int = 10
    max_http_buffer_size: int = 65536
    message_queue: str = ""
    # Redis pub/sub channel; empty: one derived from the database URL, so two deployments on
    # one Redis never share rooms.
    message_queue_channel: str = ""
    # Entries of one talk closer together than this go to clients as one frame (0: never).
    push_interval_ms: int = 50


@dataclass
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    database: DatabaseSettings = field(default_factory=DatabaseSettings)
    media: MediaSettings = field(default_factory=MediaSettings)
    languages: LanguageSettings = field(default_factory=LanguageSettings)
    time: TimeSettings = field(default_factory=TimeSettings)
    chat: ChatSettings = field(default_factory=ChatSettings)
    golive: GoLiveSettings = field(default_factory=GoLiveSettings)
    ingest: IngestSettings = field(default_factory=IngestSettings)
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    metrics: MetricsSettings = field(default_factory=MetricsSettings)
    mail: MailSettings = field(default_factory=MailSettings)

    # -- derived values -------------------------------------------------------------
    @property
    def instance_dir(self) -> Path:
        return _project_path(self.server.instance_path)

    @property
    def recordings_path(self) -> Path:
        return _project_path(self.media.recordings_dir)

    @property
    def public_base_url(self) -> str:
        if self.server.base_url:
            return self.server.base_url.rstrip("/")
        return f"http://{self.server.host}:{self.server.port}"

    @property
    def database_url(self) -> str:
        """The database URL with a relative SQLite path anchored at the project root."""
        url = self.database.url
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
            return prefix + str(PROJECT_ROOT / url[len(prefix):])
        return url


def _project_path(value: str) -> Path:
    path = Path(value)
    return path if path.is_absolute() else PROJECT_ROOT / path


# -- loading ------------------------------------------------------------------------------

CONFIG_ENV = "ARENA_CONFIG"
_FROM_ENVIRONMENT = "<ARENA_CONFIG or ./config.toml>"


def config_file_from(environ: Mapping[str, str]) -> tuple[Path, bool]:
    """The config file to read, and whether it was named (ARENA_CONFIG): a named file must
    exist; the default ./config.toml may be missing (the defaults then apply)."""
    named = environ.get(CONFIG_ENV, "").strip()
    if named:
        return Path(named), True
    return DEFAULT_CONFIG_FILE, False


def load_settings(
    config_file: Path | str | None = _FROM_ENVIRONMENT,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Build Settings from defaults, then the TOML file, then the environment, then overrides.

    The file is the one ARENA_CONFIG names, else ./config.toml; None reads no file.
    `overrides` ({"database": {"url": ...}}) is for tests and tools; it is checked like the file.
    """
    environ = os.environ if environ is None else environ
    settings = Settings()
    if config_file == _FROM_ENVIRONMENT:
        config_file, named = config_file_from(environ)
        if named and not config_file.is_file():
            raise ConfigError(f"{CONFIG_ENV}={config_file}: no such file")
    if config_file is not None and Path(config_file).exists():
        with open(config_file, "rb") as fh:
            try:
                data = tomllib.load(fh)
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(f"{config_file}: not valid TOML: {exc}") from None
        _apply(settings, data, source=str(config_file))
    _apply(settings, _from_environment(environ), source="environment")
    if overrides:
        _apply(settings, overrides, source="overrides")
    _validate(settings)
    return settings


def _apply(settings: Settings, data: Mapping[str, Any], *, source: str) -> None:
    sections = {f.name: f for f in dataclasses.fields(settings)}
    for section_name, values in data.items():
        if section_name not in sections:
            raise ConfigError(f"{source}: unknown section [{section_name}]; known: {', '.join(sections)}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{source}: [{section_name}] must be a table of keys")
        section = getattr(settings, section_name)
        hints = typing.get_type_hints(type(section))
        for key, value in values.items():
            if key not in hints:
                raise ConfigError(
                    f"{source}: unknown key {section_name}.{key}; known keys of [{section_name}]: {', '.join(hints)}"
                )
            setattr(section, key, _coerce(value, hints[key], f"{section_name}.{key}", source))


def _coerce(value: Any, expected: Any, name: str, source: str) -> Any:
    from_env = source == "environment"
    if expected is bool:
        if isinstance(value, bool):
            return value
        words = ("1", "true", "yes", "on", "0", "false", "no", "off")
        if from_env and isinstance(value, str) and value.lower() in words:
            return value.lower() in ("1", "true", "yes", "on")
    elif expected is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if from_env and isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif expected is str:
        if isinstance(value, str):
            return value
    elif typing.get_origin(expected) is list:
        if from_env and isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        expected_name = "a list of strings"
        raise ConfigError(f"{source}: {name} must be {expected_name}, got {value!r}")
    type_name = getattr(expected, "__name__", str(expected))
    raise ConfigError(f"{source}: {name} must be of type {type_name}, got {value!r}")


def _from_environment(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """ARENA_SERVER__PORT=8000 -> {"server": {"port": "8000"}}."""
    data: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or "__" not in name:  # ARENA_CONFIG names the file
            continue
        section, _, key = name[len(ENV_PREFIX):].partition("__")
        data.setdefault(section.lower(), {})[key.lower()] = value
    return data


def _validate(settings: Settings) -> None:
    if settings.server.async_mode not in ASYNC_MODES:
        raise ConfigError(f"server.async_mode must be one of {', '.join(ASYNC_MODES)}, "
                          f"got {settings.server.async_mode!r}")
    if not 1 <= settings.server.port <= 65535:
        raise ConfigError(f"server.port must be between 1 and 65535, got {settings.server.port}")
    if not 0 <= settings.server.trusted_proxies <= 10:
        raise ConfigError(f"server.trusted_proxies must be between 0 and 10, got {settings.server.trusted_proxies}")
    if settings.languages.default not in settings.languages.available:
        raise ConfigError("languages.default must be one of languages.available")
    unsupported = set(settings.languages.available) - {"sv", "en"}
    if unsupported:
        raise ConfigError(f"languages.available has no translation for: {', '.join(sorted(unsupported))}")
    try:
        ZoneInfo(settings.time.time_zone)
    except Exception:
        raise ConfigError(f"time.time_zone is not a known time zone: {settings.time.time_zone!r}") from None
    for name in ("message_max_length", "question_max_length", "history_size", "flood_messages",
                 "flood_window_seconds", "max_http_buffer_size"):
        if getattr(settings.chat, name) <= 0:
            raise ConfigError(f"chat.{name} must be greater than 0")
    if not 0 <= settings.chat.push_interval_ms <= 1000:
        raise ConfigError(f"chat.push_interval_ms must be between 0 and 1000, got {settings.chat.push_interval_ms}")
    if settings.logging.format not in LOG_FORMATS:
        raise ConfigError(f"logging.format must be one of {', '.join(LOG_FORMATS)}, got {settings.logging.format!r}")
    if settings.logging.level.upper() not in LOG_LEVELS:
        raise ConfigError(f"logging.level must be one of {', '.join(LOG_LEVELS)}, got {settings.logging.level!r}")
    for entry in settings.logging.levels:
        name, _, level = entry.partition("=")
        if not name.strip() or level.strip().upper() not in LOG_LEVELS:
            raise ConfigError(f"logging.levels entries are \"logger=LEVEL\" with LEVEL one of "
                              f"{', '.join(LOG_LEVELS)}, got {entry!r}")
    if settings.mail.security not in MAIL_SECURITY:
        raise ConfigError(f"mail.security must be one of {', '.join(MAIL_SECURITY)}, got {settings.mail.security!r}")
    if (settings.mail.security == "none" and settings.mail.host
            and settings.mail.host.strip().strip("[]").lower() not in LOOPBACK_HOSTS):
        # Without TLS the SMTP login (mail.user/mail.password) and every link would cross the
        # network readable by anyone on the path.
        raise ConfigError(f"mail.security = \"none\" is only allowed with a relay on this machine "
                          f"(mail.host one of {', '.join(LOOPBACK_HOSTS)}), got mail.host = "
                          f"{settings.mail.host!r}: use \"starttls\" or \"tls\"")
    if settings.mail.host and not settings.mail.from_address:
        raise ConfigError("mail.from_address must be set when mail.host is set")
    if not 1 <= settings.mail.port <= 65535:
        raise ConfigError(f"mail.port must be between 1 and 65535, got {settings.mail.port}")
    for name in ("import_max_duration_seconds", "import_max_megabytes", "import_timeout_seconds",
                 "upload_max_megabytes", "captions_max_kilobytes"):
        if getattr(settings.media, name) <= 0:
            raise ConfigError(f"media.{name} must be greater than 0")


def ensure_secret_key(settings: Settings) -> str:
    """The configured secret key, or one generated once into the instance folder."""
    if settings.server.secret_key:
        return settings.server.secret_key
    path = settings.instance_dir / "secret_key"
    if path.exists():
        key = path.read_text().strip()
        if key:
            return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    # Written with owner-only permissions: the key signs sessions and invite links.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def patch_for_async_mode() -> str:
    """Monkey-patch the standard library for the configured async mode; called by
    `python -m server` before anything else is imported, and by nothing else."""
    try:
        mode = load_settings().server.async_mode
    except ConfigError:
        return "threading"  # main() reports the error and stops
    if mode == "eventlet":
        # Known and written down in docs/architecture.md: gevent is one key away.
        warnings.filterwarnings("ignore", message="\nEventlet is deprecated")
        import eventlet  # noqa: PLC0415  only the configured async mode is loaded, and it patches first

        eventlet.monkey_patch()
    elif mode == "gevent":
        from gevent import monkey  # noqa: PLC0415  as above

        monkey.patch_all()
    return mode
