"""/link: one person on several platforms. A resident who joined on one platform (by phone, on Telegram or WeCom)
and now writes from WeChat sends /link in the old chat, gets a one-time code, and sends /link CODE from WeChat
(or the other way round): the account that sends the code becomes one more account of the person who asked for
it, with their memberships, roles and history."""

from __future__ import annotations

from bot.core.context import Context
from bot.core.router import Router
from bot.core.types import Incoming, Replies, Reply
from storage import wechat as store

router = Router("wechat")


@router.command("link", group="account", private=True, order=96,
                help="Use linli from another app as the same person: /link gives a one-time code, /link CODE there")
async def link(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    code = str(ctx.args.get("command_args", "")).strip()
    if not code:
        issued = await store.issue_link_code(ctx.session, ctx.person_id, ctx.now)
        minutes = int(store.LINK_CODE_TTL.total_seconds() // 60)
        return Reply(t("Your one-time code is {code} (valid {minutes} minutes). Send /link {code} to me from your "
                       "other app (WeChat, WeCom or Telegram): that account then becomes yours too, with your "
                       "compound and roles.", code=issued, minutes=minutes))
    outcome = await store.redeem_link_code(ctx.session, code, msg.platform, msg.user_id, ctx.now)
    if outcome == store.Linked.LINKED:
        return Reply(t("Done: this account and your other one are now one. Send /start to see your menu."))
    if outcome == store.Linked.SAME:
        return Reply(t("This account is linked already."))
    if outcome == store.Linked.BUSY:
        return Reply(t("This account has joined a compound or holds roles of its own, so it cannot be added to "
                       "another one. Send /link here to get a code, and send /link CODE from your other app."))
    return Reply(t("That code is unknown, used or expired. Send /link in your other app to get a new one."))
