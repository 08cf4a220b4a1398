"""WeCom's platform slips, in process over the HTTP callback (signed and encrypted as WeCom does) with the fake
WeCom's response_url: a follow-up that has both text and buttons keeps its buttons, a bare @mention in a group
is answered, and choices longer than a button come on a vote card with their whole labels."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import web
from sqlmodel import select

from bot.app import App, build_app, make_web_app
from bot.core.clock import Clock
from bot.settings import Settings
from bot.transports.wecom.callback import one_body
from bot.transports.wecom.convert import spent_card
from bot.transports.wecom.transport import WeComTransport
from storage.db import transaction
from storage.people import Identity, Person
from tests.conftest import START
from tests.fake_wecom import CALLBACK_AES_KEY, CALLBACK_TOKEN, CallbackClient, FakeWeCom, click, text, vote

SECRETARY = "wangshuji"
NEWBIE = "sunba"
GROUP = "wrXFLgroup"


@dataclass
class Served:
    app: App
    transport: WeComTransport
    client: CallbackClient
    fake: FakeWeCom

    async def say(self, user: str, words: str, chat: str | None = None) -> dict[str, Any] | None:
        url = self.fake.response_url(chat or user)
        status, reply = await self.client.send(text(user, words, chat=chat, response_url=url))
        assert status == 200
        return reply

    async def press(self, user: str, card: dict[str, Any], label: str) -> dict[str, Any] | None:
        status, reply = await self.client.send(click(user, card, label, response_url=self.fake.response_url(user)))
        assert status == 200
        return reply


@pytest.fixture
async def served(db_url: str) -> AsyncIterator[Served]:
    """The callback on the one web server, as `linli run` serves it (HTTP channel only: no long connection)."""
    fake = await FakeWeCom().start()
    settings = Settings(_env_file=None, database_url=db_url, wecom_callback_token=CALLBACK_TOKEN,  # type: ignore[call-arg]
                        wecom_callback_aes_key=CALLBACK_AES_KEY, wecom_api_base_url=fake.base_url)
    transport = WeComTransport(settings)
    app = build_app(settings, clock=Clock(START, frozen=True), transports=[transport])
    runner = web.AppRunner(make_web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    transport.attach(app.core)
    async with transaction(app.core.sessions) as session:  # 王书记 uses WeCom too
        person = (await session.exec(select(Person).where(Person.name == "王书记"))).one()
        assert person.id is not None
        session.add(Identity(person_id=person.id, platform="wecom", platform_user_id=SECRETARY,
                             private_chat_id=SECRETARY))
    try:
        yield Served(app, transport, CallbackClient(f"http://127.0.0.1:{port}/wecom/callback"), fake)
    finally:
        await runner.cleanup()
        await transport.close()
        await app.close()
        await fake.stop()


def card_text(card: dict[str, Any]) -> str:
    return " ".join([card.get("main_title", {}).get("title", ""), card.get("sub_title_text", ""),
                     card.get("quote_area", {}).get("quote_text", "")])


def labels(card: dict[str, Any]) -> list[str]:
    return [b["text"] for b in card.get("button_list", [])]


async def next_post(served: Served, before: int) -> dict[str, Any]:
    await served.fake.wait_for(lambda: len(served.fake.response_posts) > before)
    return served.fake.response_posts[before][1]


async def test_the_join_flows_skip_and_the_secretarys_approval_keep_their_buttons(served: Served) -> None:
    # The secretary wrote to the bot a moment ago: her chat has a response_url for what comes next.
    await served.say(SECRETARY, "/help")
    reply = await served.say(NEWBIE, "/join XFL2026")
    assert reply is not None
    card = reply["template_card"]
    # Building, unit, room, owner or tenant: each press's next question comes through response_url.
    for _ in range(6):
        before = len(served.fake.response_posts)
        await served.press(NEWBIE, card, labels(card)[0])
        posted = await next_post(served, before)
        assert posted["msgtype"] == "template_card", posted
        card = posted["template_card"]
        if "跳过" in labels(card):
            break
    # The phone step: its text and its Skip button in the one message response_url takes.
    assert labels(card) == ["跳过"]
    assert "最后一步" in card_text(card) and "点“跳过”" in card_text(card)
    await served.press(NEWBIE, card, "跳过")
    assert await served.app.worker.drain() >= 1
    request = next(body for chat, body in served.fake.response_posts if chat == SECRETARY)
    assert request["msgtype"] == "template_card"
    assert labels(request["template_card"]) == ["通过", "拒绝"]
    assert "新成员申请" in card_text(request["template_card"]) and NEWBIE in card_text(request["template_card"])


async def test_a_bare_mention_in_a_group_gets_the_group_help(served: Served) -> None:
    reply = await served.say("lisi", "@邻里 ", chat=GROUP)
    assert reply is not None, "a bare @mention was answered with nothing"
    shown = reply.get("stream", {}).get("content", "") + card_text(reply.get("template_card", {}))
    assert "/help" in shown or "/" in shown, json.dumps(reply, ensure_ascii=False)


def test_a_text_too_long_to_fold_goes_first_and_its_card_waits() -> None:
    card = {"card_type": "button_interaction", "main_title": {"title": "x"}, "task_id": "t1",
            "button_list": [{"text": "同意", "style": 1, "key": "k"}]}
    long = "甲" * 1500
    bodies = [{"msgtype": "markdown", "markdown": {"content": long}}, {"msgtype": "template_card", "template_card": card}]
    first, taken = one_body(bodies)
    assert (first["msgtype"], taken) == ("markdown", 1)
    second, taken = one_body(bodies[1:])
    assert (second["template_card"]["button_list"], taken) == (card["button_list"], 1)
    short, taken = one_body([{"msgtype": "markdown", "markdown": {"content": "投票：是否更换物业公司？"}},
                             {"msgtype": "template_card", "template_card": card}])
    assert taken == 2 and short["template_card"]["main_title"]["title"] == "投票：是否更换物业公司？"


async def test_long_choices_come_on_a_vote_card_with_their_whole_labels(served: Served) -> None:
    await served.say(SECRETARY, "/assembly")
    await served.say(SECRETARY, "2026年第一次业主大会")
    reply = await served.say(SECRETARY, "选聘新的物业服务企业")
    assert reply is not None
    card = reply["template_card"]
    assert card["card_type"] == "vote_interaction" and card["checkbox"]["mode"] == 0
    options = [o["text"] for o in card["checkbox"]["option_list"]]
    # The Civil Code's nine items, each whole: nothing cut with "…".
    assert len(options) == 9 and not any(o.endswith("…") for o in options)
    manager = next(o for o in options if "物业" in o)
    assert len(manager) > 10 and "一般" in manager
    status, update = await served.client.send(vote(SECRETARY, card, manager,
                                                   response_url=served.fake.response_url(SECRETARY)))
    # The card keeps its options, the chosen one ticked, and takes no second submission.
    assert status == 200 and update is not None and update["response_type"] == "update_template_card"
    spent = update["template_card"]
    assert spent["task_id"] == card["task_id"] and spent["checkbox"]["disable"] is True
    assert [o["text"] for o in spent["checkbox"]["option_list"] if o["is_checked"]] == [manager]
    # The choice reached the flow: its next question comes through response_url.
    await served.fake.wait_for(lambda: any(chat == SECRETARY for chat, _ in served.fake.response_posts))
    _chat, posted = next((chat, body) for chat, body in served.fake.response_posts if chat == SECRETARY)
    assert "已添加第 1 项" in card_text(posted["template_card"])
    assert "事项录入完毕" in [o["text"] for o in posted["template_card"]["checkbox"]["option_list"]]


def test_a_pressed_button_keeps_its_label_whole() -> None:
    card = {"card_type": "button_interaction", "main_title": {"title": "表决"}, "task_id": "t9",
            "button_list": [{"text": "同意", "style": 1, "key": "a"}, {"text": "一二三四五六七八九", "style": 1, "key": "b"}]}
    assert spent_card(card, "a")["button_list"][0]["text"] == "✓ 同意"
    assert spent_card(card, "b")["button_list"][0]["text"] == "一二三四五六七八九"
