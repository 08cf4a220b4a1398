"""The pages in a real browser: Debian's headless Chromium (installed by `make test` when missing, see
tests/chromium.sh) opens each page from the app's web server on loopback at phone size (390×844), takes a
screenshot into tests/screenshots/ (kept out of git; look at them) and dumps the DOM, which must hold the page's
text. Skipped, saying why, only when no Chromium can be found."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
from pathlib import Path

import pytest
from aiohttp import web
from sqlmodel import select

from bot.app import App, make_web_app
from bot.transports.console import TINY_PNG, Console
from handlers import pages
from storage.assembly import Assembly
from tests.test_pages import BASE, seed, seed_assembly

# The pages' settings (a base URL and a secret) as a fixture here too.
from tests.test_pages import settings as settings

SHOTS = Path(__file__).resolve().parent / "screenshots"
WIDTH, HEIGHT = 390, 844
# The machine's closed network: without these Chromium keeps trying to reach Google's hosts.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--force-device-scale-factor=1", "--accept-lang=zh-CN,zh", f"--window-size={WIDTH},{HEIGHT}")


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if found := shutil.which(name):
            return found
    return None


async def browse(binary: str, profile: Path, url: str, *args: str) -> bytes:
    """Chromium run once on `url` with a fresh profile; its standard output."""
    process = await asyncio.create_subprocess_exec(
        binary, *FLAGS, f"--user-data-dir={profile}", *args, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        async with asyncio.timeout(120):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


async def test_every_page_renders_in_a_phone_sized_browser(app: App, console: Console, tmp_path: Path) -> None:
    binary = chromium()
    if binary is None:
        pytest.skip("Chromium is not installed and could not be: `make test` installs Debian's chromium "
                    "(tests/chromium.sh, as root with apt-get)")
    ids = await seed(app)
    await seed_assembly(console)
    app.console_files["notice-photo"] = TINY_PNG
    app.console_files["case-photo"] = TINY_PNG
    now = app.core.clock.now()
    async with app.core.sessions() as session:
        assembly = (await session.exec(select(Assembly))).first()
        assert assembly is not None
    runner = web.AppRunner(make_web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    root = f"http://127.0.0.1:{port}"
    case = (pages.case_link(app.core.settings, ids["case"], ids["reporter"], now) or "").removeprefix(BASE)
    street = (pages.street_link(app.core.settings, ids["street"], now) or "").removeprefix(BASE)
    wanted = {
        "board": ("/c/XFL", ["幸福里 · 公示栏", "停水通知", "资金收支公示", "每天清扫楼道", "已整改", "月报"]),
        "board-en": ("/c/XFL?lang=en", ["notice board", "Announcements", "Red list (good deeds)"]),
        "board-zh_TW": ("/c/XFL?lang=zh_TW", ["公告欄", "紅黑榜"]),
        "board-large": ("/c/XFL?large=1", ["标准字号", "停水通知"]),
        "board-print": ("/c/XFL?print=1", ["停水通知", "每天清扫楼道"]),
        "assembly": (f"/c/XFL/assembly/{assembly.id}", ["增设电动自行车充电桩", "参与表决", "同意", "公示期",
                                                        "面积无误，计票不变"]),
        "assembly-print": (f"/c/XFL/assembly/{assembly.id}?print=1", ["增设电动自行车充电桩", "异议及答复"]),
        "case": (case, ["消防通道被占", "办理进度", "此页面仅供您本人查看"]),
        "street": (street, ["西陵街道：各小区对比", "幸福里", "黑榜未整改"]),
        "expired-or-forged": (case[:-4] + "AAAA", ["链接无效"]),
    }
    SHOTS.mkdir(exist_ok=True)
    try:
        for name, (path, texts) in wanted.items():
            url = root + path
            dom = (await browse(binary, tmp_path / f"profile-{name}", url, "--dump-dom")).decode()
            for text in texts:
                assert text in dom, f"{name}: {text!r} not in the page"
            assert "13800000005" not in dom and "张三" not in dom, f"{name} shows a phone or a person"
            shot = SHOTS / f"{name}.png"
            shot.unlink(missing_ok=True)
            await browse(binary, tmp_path / f"profile-{name}-shot", url, f"--screenshot={shot}")
            data = shot.read_bytes()
            assert png_size(data) == (WIDTH, HEIGHT) and len(data) > 5_000, f"{name}: an empty screenshot"
    finally:
        await runner.cleanup()
    assert sorted(p.stem for p in SHOTS.glob("*.png")) >= sorted(wanted)
    assert os.access(SHOTS, os.W_OK)
