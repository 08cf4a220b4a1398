"""The WeCom crypto against wechatpy's implementation, and the converter's rules (no process, no network)."""

from __future__ import annotations

import asyncio
import base64
import json
import re

import aiohttp
import pytest
from wechatpy.crypto import PrpCrypto, WeChatCrypto, _get_signature

from bot.core.types import Media, OutButton, OutMessage
from bot.transports.wecom.convert import (
    DEEPLINK_PREFIX,
    active_bodies,
    neutralise,
    reply_bodies,
    split_bytes,
    to_incoming,
)
from bot.transports.wecom.crypto import CryptoError, WeComCrypto
from bot.transports.wecom.robot import RobotPoster
from tests.fake_wecom import CALLBACK_AES_KEY, CALLBACK_TOKEN, FakeWeCom, click, enter_chat, text

BODY = json.dumps({"msgid": "1", "text": {"content": "你好，邻里 👋"}}, ensure_ascii=False)


def _xml_field(xml: str, name: str) -> str:
    found = re.search(rf"<{name}><!\[CDATA\[(.*?)\]\]></{name}>|<{name}>(.*?)</{name}>", xml, re.S)
    assert found is not None, name
    return found.group(1) or found.group(2)


def test_our_ciphertext_opens_with_wechatpy() -> None:
    ours = WeComCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, "")
    sealed = ours.seal(BODY, "1700000000", "nonce1")
    theirs = PrpCrypto(base64.b64decode(CALLBACK_AES_KEY + "="))
    assert json.loads(theirs.decrypt(sealed["encrypt"], "")) == json.loads(BODY)
    assert sealed["msgsignature"] == _get_signature(CALLBACK_TOKEN, "1700000000", "nonce1", sealed["encrypt"])


def test_wechatpy_ciphertext_opens_with_ours() -> None:
    xml = WeChatCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, "").encrypt_message(BODY, "nonce2", "1700000001")
    encrypted, signature = _xml_field(xml, "Encrypt"), _xml_field(xml, "MsgSignature")
    assert WeComCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, "").open(signature, "1700000001", "nonce2", encrypted) == BODY


def test_receive_id_is_checked() -> None:
    """A self-built app's ciphertext (receiveid = corpid) is not the intelligent bot's."""
    encrypted = PrpCrypto(base64.b64decode(CALLBACK_AES_KEY + "=")).encrypt(BODY, "wwcorp")
    with pytest.raises(CryptoError):
        WeComCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, "").decrypt(encrypted)
    assert WeComCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, "wwcorp").decrypt(encrypted) == BODY


@pytest.mark.parametrize("mangle", [lambda s: s[:-8] + "AAAAAAA=", lambda s: "not base64!", lambda s: s[:20]])
def test_garbage_is_refused(mangle: object) -> None:
    ours = WeComCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, "")
    encrypted = ours.encrypt(BODY)
    with pytest.raises(CryptoError):
        ours.decrypt(mangle(encrypted))  # type: ignore[operator]


def test_bad_signature_is_refused() -> None:
    ours = WeComCrypto(CALLBACK_TOKEN, CALLBACK_AES_KEY, "")
    encrypted = ours.encrypt(BODY)
    with pytest.raises(CryptoError):
        ours.open("0" * 40, "1", "n", encrypted)


def test_group_text_needs_the_mention_stripped() -> None:
    incoming = to_incoming(text("zhangsan", "@邻里 /complain 楼道堆物", chat="wrgroup"))
    assert incoming is not None
    assert (incoming.chat_kind, incoming.chat_id, incoming.command, incoming.args) == (
        "group", "wrgroup", "complain", "楼道堆物")
    plain = to_incoming(text("zhangsan", "@邻里 楼道有人堆物", chat="wrgroup"))
    assert plain is not None and plain.text == "楼道有人堆物" and plain.command is None


def test_events_become_start_and_presses() -> None:
    welcome = to_incoming(enter_chat("lisi"))
    assert welcome is not None and welcome.command == "start" and welcome.chat_kind == "private"
    card = {"card_type": "button_interaction", "task_id": "t1",
            "button_list": [{"text": "私聊继续", "key": DEEPLINK_PREFIX + "tok123"}, {"text": "通过", "key": "tok9"}]}
    press = to_incoming(click("lisi", card, "通过", chat="wrgroup"))
    assert press is not None and press.button == "tok9" and press.chat_kind == "group"
    private = to_incoming(click("lisi", card, "私聊继续", chat="wrgroup"))
    assert private is not None and private.button == "tok123"
    assert (private.chat_kind, private.chat_id) == ("private", "lisi")


def test_buttons_become_a_card_whose_keys_are_tokens() -> None:
    question = "您好！请选择您所在的楼栋。如果列表里没有您的楼栋，请直接输入楼栋名称。"
    message = OutMessage(question, ((OutButton("1栋", "callback", "tokA"), OutButton("2栋", "callback", "tokB")),
                                   (OutButton("分享手机号", "contact"),)))
    bodies = reply_bodies([message], contact_hint="（请直接输入手机号）")
    assert bodies[0]["msgtype"] == "stream_with_template_card"
    card = bodies[0]["template_card"]
    assert card["card_type"] == "button_interaction"
    assert [(b["text"], b["key"]) for b in card["button_list"]] == [("1栋", "tokA"), ("2栋", "tokB")]
    assert "请直接输入手机号" in bodies[0]["stream"]["content"]
    assert question in bodies[0]["stream"]["content"]
    assert bodies[0]["stream"]["finish"] is True
    short = reply_bodies([OutMessage("请选择楼栋", ((OutButton("1栋", "callback", "tokA"),),))])
    assert short == [{"msgtype": "template_card", "template_card": short[0]["template_card"]}]
    assert short[0]["template_card"]["main_title"]["title"] == "请选择楼栋"


def test_plain_reply_is_a_finished_stream_and_long_text_is_split_by_bytes() -> None:
    long = "\n".join(f"第{i}行：楼道堆物请及时清理。" * 20 for i in range(200))
    bodies = reply_bodies([OutMessage(long)])
    assert bodies[0]["msgtype"] == "stream" and bodies[0]["stream"]["finish"] is True
    assert all(len(b["stream"]["content"].encode()) <= 20_480 for b in bodies if b["msgtype"] == "stream")
    assert all(len(b["markdown"]["content"].encode()) <= 4_096 for b in bodies if b["msgtype"] == "markdown")
    assert len(bodies) > 1
    sent = bodies[0]["stream"]["content"] + "".join(b["markdown"]["content"] for b in bodies[1:])
    assert sent.replace("\n", "") == long.replace("\n", "")
    assert all(len(p.encode()) <= 100 for p in split_bytes("好" * 500, 100))


def test_user_text_cannot_inject_links_or_mentions() -> None:
    evil = "看这里 [点我](http://evil.example) 和 <@boss> 还有 < @all>"
    safe = neutralise(evil)
    assert "](" not in safe and "<@" not in safe and "< @" not in safe
    assert safe.replace("\u200b", "").replace("<@", "< @") .count("点我") == 1
    body = active_bodies(OutMessage(evil))[0]
    assert "](" not in body["markdown"]["content"]


def test_a_file_in_a_single_chat_becomes_a_document() -> None:
    body = {"msgid": "m-file", "aibotid": "bot", "chattype": "single", "from": {"userid": "zhangsan"},
            "msgtype": "file", "file": {"url": "https://example.invalid/f", "aeskey": "k"}}
    incoming = to_incoming(body)
    assert incoming is not None and incoming.document is not None and incoming.other is None
    # WeCom tells the name and type only with the download: the bytes decide then.
    assert (incoming.document.file_id, incoming.document.name, incoming.chat_kind) == (
        "k|https://example.invalid/f", "", "private")


async def test_a_robot_posting_cut_by_the_rate_limit_resumes_after_the_parts_that_are_out() -> None:
    """A text with a poster is two robot posts; the robot's limit refuses the second (45009). The outbox is
    told one part is out, and the retry (from any process) posts only the poster."""
    fake = await FakeWeCom(robot_limit=1, robot_window=0.3).start()
    http = aiohttp.ClientSession()

    async def session() -> aiohttp.ClientSession:
        return http

    try:
        poster = RobotPoster(session, fake.base_url, per_minute=200)
        message = OutMessage("公告：周六清理楼道", image=Media(b"\x89PNG-poster", "poster.png", "image/png"))
        first = await poster.post("robot-units", message)
        assert not first.ok and first.parts_sent == 1 and first.retry_after
        await asyncio.sleep(0.35)
        assert (await poster.post("robot-units", message, first_part=first.parts_sent)).ok
        assert [body["msgtype"] for body in fake.robots["robot-units"].posts] == ["markdown", "image"]
    finally:
        await http.close()
        await fake.stop()
