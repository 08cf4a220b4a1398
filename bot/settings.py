"""Deployment settings, read from the environment and `.env` (see `.env.example`)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_url: str = "sqlite+aiosqlite:///linli.db"
    timezone: str = "Asia/Shanghai"
    default_language: str = "zh_CN"
    log_level: str = "INFO"

    # Conversations left idle this long expire politely.
    conversation_idle_minutes: int = 30
    # Buttons of group postings stay valid this long; step buttons die with their conversation.
    button_ttl_days: int = 60

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

    telegram_bot_token: str = ""
    telegram_api_base_url: str = ""
    telegram_webhook_url: str = ""
    telegram_webhook_secret: str = ""

    wecom_bot_id: str = ""
    wecom_bot_secret: str = ""
    wecom_ws_url: str = ""
    wecom_callback_token: str = ""
    wecom_callback_aes_key: str = ""
    # A callback (and the URL check) stamped further than this from our clock is refused: a captured request
    # can be replayed only this long. At most a day, so that processed msgids (kept a week) outlive any replay:
    # one can arrive up to twice the window after the first copy was processed.
    wecom_callback_window_seconds: int = Field(default=300, ge=1, le=86_400)
    wecom_corp_id: str = ""
    wecom_contact_secret: str = ""
    # qyapi (group-robot webhooks, gettoken, add_msg_template); a local fake in tests.
    wecom_api_base_url: str = "https://qyapi.weixin.qq.com"

    # `make run` seeds the demo district into an empty database when this is on.
    demo: bool = True
