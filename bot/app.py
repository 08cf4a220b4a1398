"""One entry point wires everything: settings, engine, core with every feature's router, transports,
outbox worker, scheduler and the web server."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.core.clock import Clock
from bot.core.dispatcher import Core
from bot.core.router import Router
from bot.outbox import OutboxWorker
from bot.scheduler import Scheduler
from bot.settings import Settings
from bot.transports.base import Transport
from bot.transports.console import PLATFORM as CONSOLE
from bot.transports.console import ConsoleTransport
from bot.transports.telegram import TelegramTransport
from bot.transports.wechat import WeChatTransport
from bot.transports.wechat import commands as wechat_commands
from bot.transports.wecom import WeComTransport
from bot.transports.wecom import commands as wecom_commands
from bot.web import add_page_routes
from handlers import announcements as announcements_handlers
from handlers import assembly as assembly_handlers
from handlers import board as board_handlers
from handlers import complaints as complaints_handlers
from handlers import deliveries as deliveries_handlers
from handlers import meetings as meetings_handlers
from handlers import membership, start
from handlers import needs as needs_handlers
from handlers import notifications as notifications_handlers
from handlers import organisations as organisations_handlers
from handlers import pages as pages_handlers
from handlers import party as party_handlers
from handlers import points as points_handlers
from handlers import privacy as privacy_handlers
from handlers import property as property_handlers
from handlers import reports as reports_handlers
from handlers import resources as resources_handlers
from handlers import services as services_handlers
from handlers import volunteering as volunteering_handlers
from storage.db import make_engine

log = logging.getLogger(__name__)


def routers() -> list[Router]:
    """Every feature's router, in one place. Order does not matter: a clash fails at start-up."""
    return [
        start.router,
        wecom_commands.router,
        wechat_commands.router,
        membership.router,
        assembly_handlers.router,
        volunteering_handlers.router,
        points_handlers.router,
        party_handlers.router,
        deliveries_handlers.router,
        complaints_handlers.router,
        needs_handlers.router,
        property_handlers.router,
        reports_handlers.router,
        services_handlers.router,
        meetings_handlers.router,
        announcements_handlers.router,
        board_handlers.router,
        privacy_handlers.router,
        notifications_handlers.router,
        resources_handlers.router,
        organisations_handlers.router,
        pages_handlers.router,
    ]


@dataclass
class App:
    settings: Settings
    engine: AsyncEngine
    core: Core
    transports: dict[str, Transport]
    worker: OutboxWorker
    scheduler: Scheduler
    # Photos sent in the console, by file id (what a platform's file API is elsewhere).
    console_files: dict[str, bytes] = field(default_factory=dict)

    async def close(self) -> None:
        await self.scheduler.stop()  # waits for a running tick before the engine is disposed
        await self.engine.dispose()


def build_app(
    settings: Settings,
    clock: Clock | None = None,
    transports: Sequence[Transport] | None = None,
    engine: AsyncEngine | None = None,
) -> App:
    engine = engine or make_engine(settings.database_url)
    core = Core(settings, engine, routers(), clock=clock)
    chosen: dict[str, Transport] = {t.platform: t for t in (transports or [ConsoleTransport()])}
    core.capabilities.update({name: transport.caps for name, transport in chosen.items()})
    worker = OutboxWorker(core, chosen)
    core.on_outbox = worker.wake
    app = App(settings, engine, core, chosen, worker, Scheduler(core, worker))

    async def fetch_console_file(file_id: str) -> bytes:
        return app.console_files[file_id]

    core.file_fetchers[CONSOLE] = fetch_console_file
    return app


def make_web_app(app: App) -> web.Application:
    """The one HTTP server: /healthz, and the platform webhooks that transports add to it."""
    web_app = web.Application(client_max_size=20 * 1024 * 1024)

    async def healthz(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    web_app.router.add_get("/healthz", healthz)
    add_page_routes(web_app, app.core)  # the compound's pages (handlers/pages.py)
    telegram = app.transports.get("telegram")
    if isinstance(telegram, TelegramTransport):
        telegram.add_routes(web_app)  # /telegram/webhook when a webhook is configured
    wecom = app.transports.get("wecom")
    if isinstance(wecom, WeComTransport):
        wecom.add_routes(web_app)  # /wecom/callback when the HTTP callback is configured
    wechat = app.transports.get("wechat")
    if isinstance(wechat, WeChatTransport):
        wechat.add_routes(web_app)  # /wechat/callback: 微信客服
    return web_app


async def serve(settings: Settings) -> None:
    """`linli run` with a platform configured: transports, outbox worker, scheduler and web server until
    SIGINT/SIGTERM."""
    platform_transports: list[Transport] = []
    if settings.telegram_bot_token:
        platform_transports.append(TelegramTransport(settings))
    if settings.wecom_bot_id or settings.wecom_callback_token:
        platform_transports.append(WeComTransport(settings))
    if settings.wechat_kf_open_kfid:
        platform_transports.append(WeChatTransport(settings))
    if not platform_transports:
        raise SystemExit(
            "No platform transport is available for the configured tokens. Remove them from .env to use the console."
        )
    app = build_app(settings, transports=platform_transports)
    if settings.outbox_lease_seconds > 0:
        app.worker.lease = timedelta(seconds=settings.outbox_lease_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    web_app = make_web_app(app)
    runner = web.AppRunner(web_app)
    await runner.setup()
    # On PostgreSQL several processes may serve one machine's port (`linli run --workers N`, or N processes
    # started by hand): SO_REUSEPORT lets each bind it and the kernel spreads the connections over them; a
    # killed one's share goes to the others. SQLite serves one process, so a second one fails to bind.
    site = web.TCPSite(runner, settings.http_host, settings.http_port,
                       reuse_port=settings.database_url.startswith("postgresql"))
    await site.start()
    telegram = app.transports.get("telegram")
    if isinstance(telegram, TelegramTransport):
        await telegram.start(app.core)  # after the web server: a webhook may deliver at once
    wecom = app.transports.get("wecom")
    if isinstance(wecom, WeComTransport):
        await wecom.start(app.core)
    wechat = app.transports.get("wechat")
    if isinstance(wechat, WeChatTransport):
        await wechat.start(app.core)
    app.scheduler.start()
    worker_task = asyncio.create_task(app.worker.run(stop))
    await stop.wait()
    await worker_task
    if isinstance(telegram, TelegramTransport):
        await telegram.stop()  # in-flight updates finish; the polling offset is confirmed
    if isinstance(wecom, WeComTransport):
        await wecom.stop()
    if isinstance(wechat, WeChatTransport):
        await wechat.stop()
    await runner.cleanup()
    await app.close()
