"""Deployment settings, read from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

import base64
import binascii
import os
import re
from typing import Any, Literal, NamedTuple, get_args
from zoneinfo import ZoneInfo

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from bot.core.i18n import N_

Language = Literal["zh_CN", "zh_TW", "en"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# The asynchronous drivers the engine runs on; any other URL is refused with the right form.
SQLITE_SCHEME, POSTGRES_SCHEME = "sqlite+aiosqlite", "postgresql+asyncpg"
# Settings that work only together: both set or both empty.
PAIRS = (
    ("wecom_bot_id", "wecom_bot_secret"),
    ("wecom_callback_token", "wecom_callback_aes_key"),
    ("wecom_corp_id", "wecom_contact_secret"),
    ("telegram_webhook_url", "telegram_webhook_secret"),
    ("wechat_kf_callback_token", "wechat_kf_callback_aes_key"),
    ("wechat_kf_open_kfid", "wechat_kf_secret"),
    ("wechat_kf_open_kfid", "wechat_kf_corp_id"),
    ("wechat_kf_open_kfid", "wechat_kf_callback_token"),
)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///linli.db"
    timezone: str = "Asia/Shanghai"
    default_language: Language = "zh_CN"
    log_level: LogLevel = "INFO"

    # Conversations left idle this long expire politely.
    conversation_idle_minutes: int = 30
    # Buttons of group postings stay valid this long; step buttons die with their conversation.
    button_ttl_days: int = 60
    # Flood control: messages (texts, commands, presses) one person may send in any minute. The first one over
    # is answered once (too fast), the rest are dropped unprocessed until their last minute is under it. 0: off.
    flood_messages_per_minute: int = Field(default=20, ge=0)
    # The notification budget (storage/notifications.py): caps, quiet hours, digests, repeats, opting out.
    notification_budget: bool = True

    # The scheduler's heartbeat: how often due rows are looked for.
    scheduler_tick_seconds: float = 15.0
    outbox_tick_seconds: float = 1.0
    outbox_max_attempts: int = 8
    outbox_backoff_base_seconds: float = 2.0
    outbox_backoff_max_seconds: float = 600.0
    # How long a row claimed by a process that never reported back (killed) waits before it is sent again;
    # 0: the worker's default, max(4 × send timeout, 60 s). A send slower than this may go out twice.
    outbox_lease_seconds: float = 0.0

    # Per-transport sending limits (messages).
    telegram_global_per_second: float = 30.0
    telegram_group_per_minute: int = 20
    telegram_private_per_second: float = 1.0
    wecom_robot_per_minute: int = 20

    # The aiohttp server that hosts /healthz, the Telegram webhook and the WeCom callback.
    http_host: str = "127.0.0.1"
    http_port: int = 8080

    # Secrets are SecretStr: shown as ********** in any repr or log; `.get_secret_value()` where they are used.
    telegram_bot_token: SecretStr = SecretStr("")
    telegram_api_base_url: str = ""
    telegram_webhook_url: str = ""
    telegram_webhook_secret: SecretStr = SecretStr("")
    # The bot's @username, for the invite QR codes' deep links (`linli compound qr`); the running bot asks Telegram.
    telegram_bot_username: str = ""
    # A WeCom/WeChat link to the bot (a 联系我 or customer-service link), printed beside it on the invite QR codes.
    wecom_join_url: str = ""

    wecom_bot_id: str = ""
    wecom_bot_secret: SecretStr = SecretStr("")
    wecom_ws_url: str = ""
    wecom_callback_token: SecretStr = SecretStr("")
    wecom_callback_aes_key: SecretStr = SecretStr("")
    # A callback (and the URL check) stamped further than this from our clock is refused: a captured request
    # can be replayed only this long. At most a day, so that processed msgids (kept a week) outlive any replay:
    # one can arrive up to twice the window after the first copy was processed.
    wecom_callback_window_seconds: int = Field(default=300, ge=1, le=86_400)
    wecom_corp_id: str = ""
    wecom_contact_secret: SecretStr = SecretStr("")
    # qyapi (group-robot webhooks, gettoken, add_msg_template); a local fake in tests.
    wecom_api_base_url: str = "https://qyapi.weixin.qq.com"
    # 微信客服 (WeChat residents one-to-one): the self-built app's corp id and secret (the app holds the 微信客服
    # permission), its callback's Token and EncodingAESKey (/wechat/callback), and the customer-service account
    # (open_kfid) linli answers. WECHAT_KF_SERVICER: a WeCom userid that takes over a resident asking for a person
    # (人工) when none of their compound's staff can.
    wechat_kf_corp_id: str = ""
    wechat_kf_secret: SecretStr = SecretStr("")
    wechat_kf_callback_token: SecretStr = SecretStr("")
    wechat_kf_callback_aes_key: SecretStr = SecretStr("")
    wechat_kf_open_kfid: str = ""
    wechat_kf_servicer: str = ""

    # The public pages (handlers/pages.py, served by the web server): the address people reach the server at
    # (https://linli.example.org); empty: no pages are linked from postings. Signed links (a resident's case
    # page, a street's page) are signed with PAGES_SECRET and expire after PAGES_LINK_DAYS; one client may ask
    # PAGES_PER_MINUTE pages a minute (0: no limit).
    public_base_url: str = ""
    pages_secret: SecretStr = SecretStr("")
    pages_link_days: int = Field(default=30, ge=1, le=3650)
    pages_per_minute: int = Field(default=120, ge=0)

    # `make run` seeds the demo district into an empty database when this is on.
    demo: bool = True

    # ---- checks at start: `linli` prints one line per problem, naming the setting, and exits with status 2 --

    @field_validator("log_level", mode="before")
    @classmethod
    def _level_in_capitals(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("timezone")
    @classmethod
    def _real_time_zone(cls, value: str) -> str:
        if not zone_exists(value):
            raise problem(N_("{value} is not a time zone: write one like Asia/Shanghai"), value=value)
        return value

    @field_validator("database_url")
    @classmethod
    def _usable_database(cls, value: str) -> str:
        refused = database_url_problem(value)
        if refused is not None:
            raise refused
        return value

    @field_validator("wecom_callback_aes_key", "wechat_kf_callback_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if key and not aes_key_decodes(key):
            raise problem(N_("must be the 43-character EncodingAESKey from the bot's API-mode page"))
        return value

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _webhook_secret_shape(cls, value: SecretStr) -> SecretStr:
        if value.get_secret_value() and not WEBHOOK_SECRET.fullmatch(value.get_secret_value()):
            raise problem(N_("may hold only A-Z a-z 0-9 _ and -, at most 256 characters"))
        return value

    @model_validator(mode="after")
    def _set_together(self) -> Settings:
        needs = [*PAIRS, ("telegram_webhook_url", "telegram_bot_token"), ("public_base_url", "pages_secret")]
        for first, second in needs:
            first_set, second_set = bool(getattr(self, first)), bool(getattr(self, second))
            if first_set != second_set and (first_set or (first, second) in PAIRS):
                given, missing = (first, second) if first_set else (second, first)
                raise problem(N_("{other} is set but {setting} is empty: set both, or neither"),
                              setting=env_name(missing), other=env_name(given))
        return self


WEBHOOK_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")


class SettingProblem(NamedTuple):
    """One refused setting: its environment variable, the text (a message id) and the text's values."""

    setting: str
    message: str
    values: dict[str, str]


def env_name(field: str) -> str:
    return field.upper()


def problem(message: str, setting: str = "", **values: str) -> PydanticCustomError:
    """A refusal whose text is a message id of `core.po`, translated where it is shown (`problems`)."""
    context: dict[str, str] = {"linli_message": message, **values}
    if setting:
        context["setting"] = setting
    return PydanticCustomError("linli_setting", message, context)


def zone_exists(name: str) -> bool:
    try:
        ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, ValueError for paths, IsADirectoryError for "Asia"
        return False
    return True


def aes_key_decodes(key: str) -> bool:
    try:
        return len(key) == 43 and len(base64.b64decode(key + "=", validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def redact_url(url: str) -> str:
    """A database URL with its password hidden, for messages and logs."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url.split("://", 1)[0] + "://…" if "@" in url else url


def database_url_problem(value: str) -> PydanticCustomError | None:
    """Why the engine could not use this URL: a synchronous driver, an unsupported database, an SQLite file in
    a folder that does not exist (refused rather than created, so that a mistyped path does not start an
    empty database somewhere else). Whether a server answers is checked when a command connects."""
    try:
        url = make_url(value)
    except ArgumentError:
        url = None
    if url is None or not url.drivername:
        return problem(N_("not a database URL: write sqlite+aiosqlite:///linli.db or "
                          "postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB"))
    backend = url.drivername.partition("+")[0]
    rest = value.split("://", 1)[1] if "://" in value else ""
    if backend in ("postgres", "postgresql") and url.drivername != POSTGRES_SCHEME:
        return problem(N_("{value} needs the asynchronous driver: write {hint}"), value=redact_url(value),
                       hint=redact_url(f"{POSTGRES_SCHEME}://{rest}"))
    if backend == "sqlite" and url.drivername != SQLITE_SCHEME:
        return problem(N_("{value} needs the asynchronous driver: write {hint}"), value=value,
                       hint=f"{SQLITE_SCHEME}://{rest}")
    if backend not in ("postgres", "postgresql", "sqlite"):
        return problem(N_("{scheme} is not supported: use SQLite (sqlite+aiosqlite:///FILE) or PostgreSQL "
                          "(postgresql+asyncpg://USER:PASSWORD@HOST:5432/DB)"), scheme=url.drivername)
    if backend == "sqlite":
        if url.host:
            return problem(N_("{value}: an SQLite URL has three slashes before a relative path: write {hint}"),
                           value=value, hint=value.replace("://", ":///", 1))
        if url.database and url.database != ":memory:":
            path = os.path.abspath(url.database)
            if os.path.isdir(path):
                return problem(N_("{path} is a folder, not an SQLite file"), path=path)
            folder = os.path.dirname(path)
            if not os.path.isdir(folder):
                return problem(N_("the folder {folder} of the SQLite file does not exist: create it first "
                                  "(mkdir -p {folder})"), folder=folder)
    return None


# pydantic's own refusals, as texts of our catalogue; anything else shows pydantic's English reason.
_PYDANTIC_TEXTS = {
    "literal_error": N_("must be one of {choices}"),
    "int_parsing": N_("must be a whole number"),
    "int_from_float": N_("must be a whole number"),
    "float_parsing": N_("must be a number"),
    "bool_parsing": N_("must be true or false"),
    "greater_than_equal": N_("must be at least {ge}"),
    "greater_than": N_("must be more than {gt}"),
    "less_than_equal": N_("must be at most {le}"),
    "less_than": N_("must be less than {lt}"),
}


def problems(error: ValidationError) -> list[SettingProblem]:
    """What a refused configuration says, one entry per setting. Never the value of a secret: pydantic's
    input is not shown, and our own texts show only URLs (their password hidden) and names."""
    found: list[SettingProblem] = []
    for item in error.errors(include_url=False, include_input=False):
        context = {key: str(value) for key, value in (item.get("ctx") or {}).items()}
        setting = context.pop("setting", "") or (env_name(str(item["loc"][0])) if item["loc"] else "")
        if item["type"] == "linli_setting":
            message = context.pop("linli_message")
        elif item["type"] in _PYDANTIC_TEXTS:
            message = _PYDANTIC_TEXTS[item["type"]]
            if "expected" in context:
                context["choices"] = context.pop("expected").replace("'", "").replace(" or ", ", ")
        else:
            message, context = N_("is not valid: {reason}"), {"reason": item["msg"]}
        found.append(SettingProblem(setting, message, context))
    return found


class _Operator(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    default_language: str = "zh_CN"


def operator_language() -> str:
    """The language of `linli`'s own messages: DEFAULT_LANGUAGE when it is one of ours (read even when other
    settings are refused), else zh_CN."""
    try:
        wanted = _Operator().default_language
    except ValidationError:
        wanted = ""
    return wanted if wanted in get_args(Language) else "zh_CN"
