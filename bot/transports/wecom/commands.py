"""/bindwebhook: the secretary registers a WeCom group robot's webhook key, so that the compound's postings
also reach an internal group the intelligent bot is not in. The key is kept like a password."""

from __future__ import annotations

import hashlib
import re

from sqlmodel import select

from bot.core.context import Context
from bot.core.router import Router
from bot.core.types import Incoming, Replies, Reply
from bot.transports.wecom.convert import PLATFORM
from bot.transports.wecom.transport import CUSTOMER_PREFIX, ROBOT_PREFIX
from storage.compounds import Chat
from storage.people import Role

router = Router("wecom")

# The `key` parameter of a robot's webhook address (a UUID), or the whole address pasted.
_KEY = re.compile(r"(?:key=)?([0-9A-Za-z-]{8,64})\s*$")


def robot_chat_id(key: str) -> str:
    return ROBOT_PREFIX + hashlib.sha256(key.encode()).hexdigest()[:24]


@router.command("bindwebhook", group="members", roles=[Role.SECRETARY], private=True,
                help="Post to a WeCom group through its group robot: /bindwebhook KEY group name", order=90)
async def bind_webhook(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if ctx.chat.platform != PLATFORM:
        return Reply(t("Group robots exist only in WeCom. Send this command to me in WeCom."))
    words = str(ctx.args.get("command_args", "")).split(maxsplit=1)
    found = _KEY.search(words[0]) if words else None
    if found is None or ctx.compound is None or ctx.compound.id is None:
        return Reply(t("Please send /bindwebhook followed by the group robot's webhook key (the part after "
                       "key= in its address) and the group's name, for example: /bindwebhook 693a91f6-... 1栋群"))
    key = found.group(1)
    title = words[1].strip()[:200] if len(words) > 1 else t("WeCom group robot")
    chat_id = robot_chat_id(key)
    chat = (await ctx.session.exec(select(Chat).where(Chat.platform == PLATFORM,
                                                      Chat.platform_chat_id == chat_id))).first()
    if chat is None:
        chat = Chat(platform=PLATFORM, platform_chat_id=chat_id, kind="group")
    chat.title, chat.compound_id, chat.active, chat.unreachable = title, ctx.compound.id, True, False
    chat.secrets = {**(chat.secrets or {}), "webhook_key": key}
    ctx.session.add(chat)
    return Reply(t("The group robot for “{title}” is registered: announcements, tasks and other postings of "
                   "{compound} will also go there (as text: a robot cannot show buttons). The key is stored "
                   "and will not be shown again; you may delete your message that contains it.",
                   title=title, compound=ctx.compound.name))


@router.command("bindcustomergroups", group="members", roles=[Role.SECRETARY], private=True,
                help="Post to residents' WeCom customer groups, confirmed by a staff member: "
                     "/bindcustomergroups STAFF_USERID", order=91)
async def bind_customer_groups(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if ctx.chat.platform != PLATFORM:
        return Reply(t("Customer groups exist only in WeCom. Send this command to me in WeCom."))
    words = str(ctx.args.get("command_args", "")).split()
    if not words or ctx.compound is None or ctx.compound.id is None:
        return Reply(t("Please send /bindcustomergroups followed by the WeCom userid of the staff member who "
                       "owns the residents' customer groups and will confirm each post, for example: "
                       "/bindcustomergroups wangshuji"))
    sender = words[0][:64]
    chat_id = f"{CUSTOMER_PREFIX}{ctx.compound.id}"
    chat = (await ctx.session.exec(select(Chat).where(Chat.platform == PLATFORM,
                                                      Chat.platform_chat_id == chat_id))).first()
    if chat is None:
        chat = Chat(platform=PLATFORM, platform_chat_id=chat_id, kind="group")
    chat.title = t("Customer groups of {compound}", compound=ctx.compound.name)[:200]
    chat.compound_id, chat.active, chat.unreachable = ctx.compound.id, True, False
    chat.secrets = {**(chat.secrets or {}), "sender": sender}
    ctx.session.add(chat)
    return Reply(t("Announcements, the 红黑榜 and reminders of {compound} will also be prepared as mass sends to "
                   "the residents' customer groups of {sender}. Nothing reaches residents until {sender} confirms "
                   "each one in WeCom; I cannot talk with residents in those groups.",
                   compound=ctx.compound.name, sender=sender))
