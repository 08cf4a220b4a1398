"""A posting's page link on WeCom: a template card whose jump opens the page (text_notice with jump_list and
card_action), from the intelligent bot and from a group robot, checked by the fake WeCom as WeCom would."""

from __future__ import annotations

from typing import Any

import aiohttp
from pydantic import SecretStr

from bot.core.types import Button, Media, OutButton, OutMessage
from bot.settings import Settings
from bot.transports.wecom.convert import active_bodies, cards_in, reply_bodies, spent_card
from bot.transports.wecom.longconn import LongConnection
from bot.transports.wecom.robot import RobotPoster
from bot.transports.wecom.transport import WeComTransport
from handlers import pages
from tests.fake_wecom import BOT_ID, BOT_SECRET, FakeWeCom, card_problem

URL = "https://linli.example.org/c/XFL#board"
SETTINGS = Settings(_env_file=None, public_base_url="https://linli.example.org",  # type: ignore[call-arg]
                    pages_secret=SecretStr("links"))


def page_button(label: str = "打开页面", url: str = URL) -> OutButton:
    return OutButton(label, "url", url)


def jumps(card: dict[str, Any]) -> list[tuple[str, str]]:
    return [(j["title"], j["url"]) for j in card.get("jump_list", []) if j["type"] == 1]


def test_a_link_button_becomes_a_card_that_opens_the_page() -> None:
    """The handlers' link (pages.link_buttons) is a jump on a text_notice card; a tap on the card opens it too."""
    link = pages.link_buttons(lambda text, **_: "打开页面", SETTINGS, "/c/XFL#board")
    (button,) = link[0]
    assert button == Button.link("打开页面", URL)
    message = OutMessage("幸福里 红黑榜 2026-11-23\n红榜 3 条，黑榜 1 条。", ((page_button(),),))
    for bodies in (reply_bodies([message]), active_bodies(message)):
        (card,) = cards_in(bodies)
        assert card["card_type"] == "text_notice" and not card_problem(card)
        assert jumps(card) == [("打开页面", URL)] and card["card_action"] == {"type": 1, "url": URL}
        # A short text rides on the card: nothing else is sent, and no raw markdown link anywhere.
        assert card["main_title"]["title"] == "幸福里 红黑榜 2026-11-23"
        assert card["sub_title_text"] == "红榜 3 条，黑榜 1 条。"
        assert len(bodies) == 1 and "](" not in str(bodies)


def test_a_long_posting_keeps_its_text_and_the_card_follows() -> None:
    text = "关于周六清理楼道的通知：\n" + "请各位业主于周六上午九点前将楼道杂物搬离。" * 20
    bodies = reply_bodies([OutMessage(text, ((page_button(),),))])
    assert bodies[0]["msgtype"] == "stream_with_template_card"
    assert "楼道杂物" in bodies[0]["stream"]["content"] and "](" not in bodies[0]["stream"]["content"]
    card = bodies[0]["template_card"]
    assert card["main_title"]["title"] == "关于周六清理楼道的通知：" and "sub_title_text" not in card
    assert jumps(card) == [("打开页面", URL)] and not card_problem(card)


def test_links_beside_buttons_stay_in_the_text_and_the_card_opens_the_first() -> None:
    case_url = "https://linli.example.org/case/abc"
    message = OutMessage("诉求 XFL-2026-0001", ((OutButton("评价", "callback", "tokR"),),
                                                (page_button("打开诉求页面", case_url),)))
    bodies = reply_bodies([message])
    card = cards_in(bodies)[0]
    assert card["card_type"] == "button_interaction" and card["card_action"] == {"type": 1, "url": case_url}
    assert [b["key"] for b in card["button_list"]] == ["tokR"]
    assert f"[打开诉求页面]({case_url})" in bodies[0]["stream"]["content"]  # visible as a link, not raw on a card
    spent = spent_card(card, "tokR")
    assert spent["card_action"] == card["card_action"]  # the page still opens after the press
    many = OutMessage("页面", tuple((page_button(f"街道{i}", f"https://x.example/s/{i}"),) for i in range(5)))
    cards = cards_in(active_bodies(many))
    assert [len(c["jump_list"]) for c in cards] == [3, 2] and not any(card_problem(c) for c in cards)


async def test_the_intelligent_bot_sends_the_card_over_its_long_connection() -> None:
    fake = await FakeWeCom().start()
    connection = LongConnection(WeComTransport(Settings(_env_file=None)),  # type: ignore[call-arg]
                                BOT_ID, BOT_SECRET, fake.ws_url, reconnect_ms=50)
    try:
        await connection.start()
        await fake.wait_for(lambda: fake.authenticated == 1)
        message = OutMessage("业主大会表决结果已公示", ((page_button("查看结果", URL),),))
        delivered = await connection.send("wrXFLgroup", active_bodies(message))
        assert delivered.ok, delivered.error
        card = fake.last_card("wrXFLgroup")
        assert jumps(card) == [("查看结果", URL)] and card["card_action"]["url"] == URL
        # The fake refuses what WeCom would: a notice card that opens nothing.
        broken = {**card, "card_action": {"type": 0}}
        refused = await connection.send("wrXFLgroup", [{"msgtype": "template_card", "template_card": broken}])
        assert not refused.ok
    finally:
        await connection.stop()
        await fake.stop()


async def test_a_group_robot_posting_carries_the_card_after_its_text_and_poster() -> None:
    fake = await FakeWeCom().start()
    http = aiohttp.ClientSession()

    async def session() -> aiohttp.ClientSession:
        return http

    try:
        poster = RobotPoster(session, fake.base_url, per_minute=600)
        text = "幸福里 红黑榜 2026-11-23\n" + "\n".join(f"{i}. 3栋楼下每天清扫楼道" for i in range(1, 12))
        message = OutMessage(text, ((OutButton("提名", "callback", "tokN"), page_button()),),
                             image=Media(b"\x89PNG-poster", "poster.png", "image/png"))
        assert (await poster.post("robot-links", message)).ok
        posts = fake.robots["robot-links"].posts
        assert [p["msgtype"] for p in posts] == ["markdown", "image", "template_card"]
        assert "](" not in posts[0]["markdown"]["content"] and "提名" not in str(posts)  # no press on a robot
        card = posts[2]["template_card"]
        assert card["card_type"] == "text_notice" and jumps(card) == [("打开页面", URL)]
        assert "task_id" not in card
        # A short posting is the card alone; one without a link is the markdown alone, as before.
        assert (await poster.post("robot-links", OutMessage("公示：10月收支", ((page_button(),),)))).ok
        assert posts[3]["msgtype"] == "template_card" and posts[3]["template_card"]["main_title"]["title"] == "公示：10月收支"
        assert (await poster.post("robot-links", OutMessage("公告：周六清理楼道"))).ok
        assert posts[4] == {"msgtype": "markdown", "markdown": {"content": "公告：周六清理楼道"}}
        # A robot takes notice cards only: the fake refuses a button card as WeCom does.
        assert card_problem({"card_type": "button_interaction"}, robot=True)
    finally:
        await http.close()
        await fake.stop()


async def test_a_customer_group_post_carries_the_page_as_a_link_attachment() -> None:
    from bot.transports.wecom.contact import ContactClient

    fake = await FakeWeCom().start()
    http = aiohttp.ClientSession()

    async def session() -> aiohttp.ClientSession:
        return http

    try:
        client = ContactClient(session, fake.base_url, "wwcorp", "contact-secret")
        message = OutMessage("红黑榜已更新。", ((OutButton("提名", "callback", "tokN"), page_button()),))
        assert (await client.mass_send("wangshuji", message)).ok
        (sent,) = fake.templates
        assert sent["text"]["content"] == "红黑榜已更新。"
        assert sent["attachments"] == [{"msgtype": "link", "link": {"title": "打开页面", "url": URL}}]
    finally:
        await http.close()
        await fake.stop()
