"""Telegram allows one long poll per bot. Of two `linli run` processes on one PostgreSQL database only the
leader polls (the fake, like Telegram, refuses a second concurrent getUpdates with 409 Conflict); when the
leader is killed, the other takes over within seconds and the people's messages are answered again."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from tests.conftest import on_postgres
from tests.fake_telegram import TELEGRAM_PEOPLE, BotProcess, FakeTelegram, link_telegram

pytestmark = pytest.mark.skipif(not on_postgres(), reason="leadership between processes needs PostgreSQL")


async def test_only_the_leader_polls_and_another_takes_over_when_it_dies(
        fake: FakeTelegram, db_url: str, tmp_path: Path) -> None:
    await link_telegram(db_url)
    first = BotProcess(db_url, fake, tmp_path / "first")
    second = BotProcess(db_url, fake, tmp_path / "second")
    for process in (first, second):
        process.workdir.mkdir()
    try:
        await first.start()
        await second.start(polling=False)
        await asyncio.sleep(3)  # longer than the leadership retry: the second would have polled by now
        zhang = fake.user(TELEGRAM_PEOPLE["张三"], "张三")
        after = len(fake.calls)
        await fake.say(zhang, None, "/help")
        assert "/complain" in (await fake.reply_to(zhang["id"], after)).text
        assert fake.poll_conflicts == 0

        await first.stop(signal.SIGKILL)
        after = len(fake.calls)
        await fake.say(zhang, None, "/points")
        answer = await fake.reply_to(zhang["id"], after, wait=20)
        assert answer.text
        assert fake.poll_conflicts == 0
        assert second.process is not None and second.process.returncode is None
    finally:
        await first.stop(signal.SIGKILL)
        await second.stop()
