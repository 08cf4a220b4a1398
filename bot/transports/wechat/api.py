"""The 微信客服 calls linli makes, with the self-built app's access token (gettoken with the corp id and the app's
secret, path/91039; cached, fetched again on 40014/42001): kf/sync_msg (path/94670), kf/send_msg (path/94677),
kf/send_msg_on_event (path/95122), kf/add_contact_way (path/94665), kf/service_state/get and /trans
(path/94669), kf/customer/batchget for residents' nicknames, and media/get and media/upload for pictures and
files. Checked against wechatpy's `WeChatKF`."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot.transports.wecom.contact import CorpClient

TOKEN_EXPIRED = {40014, 42001}
# kf/send_msg: the 5-message budget is spent (95001); the 48 hours are over (95002, as we read the error list);
# the session is not the bot's to answer (a person serves it, or it ended: 95018).
OVER_BUDGET = 95001
OVER_TIME = 95002
SESSION_STATE = 95018
WINDOW_CLOSED = {OVER_BUDGET, OVER_TIME}
# kf/service_state: 1 the smart assistant (the bot) serves it, 3 a person does, 4 ended.
STATE_BOT, STATE_PERSON, STATE_ENDED = 1, 3, 4


class KfError(RuntimeError):
    def __init__(self, path: str, result: dict[str, Any]) -> None:
        self.code = int(result.get("errcode", -1))
        super().__init__(f"{path} errcode {self.code}: {result.get('errmsg', '')}"[:400])


class KfClient(CorpClient):
    def refused(self, path: str, result: dict[str, Any]) -> Exception:
        return KfError(path, result)

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST one call; an expired token is fetched again once. Raises KfError on any other errcode."""
        session = await self._session()
        result: dict[str, Any] = {}
        for fresh in (False, True):
            token = await self.token(fresh=fresh)
            async with session.post(f"{self.base_url}/cgi-bin/{path}", params={"access_token": token},
                                    json=body) as resp:
                result = dict(await resp.json(content_type=None))
            if int(result.get("errcode", 0)) not in TOKEN_EXPIRED:
                break
        if int(result.get("errcode", 0)) != 0:
            raise KfError(path, result)
        return result

    async def sync_msg(self, open_kfid: str, cursor: str, token: str, limit: int = 1000) -> dict[str, Any]:
        body: dict[str, Any] = {"open_kfid": open_kfid, "limit": limit}
        if cursor:
            body["cursor"] = cursor
        if token:
            body["token"] = token
        return await self.call("kf/sync_msg", body)

    async def send_msg(self, open_kfid: str, touser: str, body: dict[str, Any]) -> str:
        """One message to a resident; returns the platform's msgid (a msg_send_fail names it)."""
        result = await self.call("kf/send_msg", {"touser": touser, "open_kfid": open_kfid, **body})
        return str(result.get("msgid", ""))

    async def send_on_event(self, code: str, body: dict[str, Any]) -> str:
        result = await self.call("kf/send_msg_on_event", {"code": code, **body})
        return str(result.get("msgid", ""))

    async def add_contact_way(self, open_kfid: str, scene: str) -> str:
        result = await self.call("kf/add_contact_way", {"open_kfid": open_kfid, "scene": scene})
        return str(result["url"])

    async def service_state(self, open_kfid: str, external_userid: str) -> tuple[int, str]:
        result = await self.call("kf/service_state/get", {"open_kfid": open_kfid, "external_userid": external_userid})
        return int(result.get("service_state", 0)), str(result.get("servicer_userid", ""))

    async def transfer(self, open_kfid: str, external_userid: str, state: int, servicer: str = "") -> None:
        body: dict[str, Any] = {"open_kfid": open_kfid, "external_userid": external_userid, "service_state": state}
        if servicer:
            body["servicer_userid"] = servicer
        await self.call("kf/service_state/trans", body)

    async def nicknames(self, users: list[str]) -> dict[str, str]:
        """Residents' WeChat nicknames by external_userid (kf/customer/batchget, 获取客户基础信息: at most 100 ids a
        call; only residents who wrote or entered in the last 48 hours are known, the others are left out)."""
        names: dict[str, str] = {}
        for start in range(0, len(users), 100):
            result = await self.call("kf/customer/batchget", {"external_userid_list": users[start : start + 100],
                                                              "need_enter_session_context": 0})
            for customer in result.get("customer_list") or []:
                nickname = str(customer.get("nickname") or "").strip()
                if nickname and customer.get("external_userid"):
                    names[str(customer["external_userid"])] = nickname
        return names

    async def media(self, media_id: str) -> bytes:
        session = await self._session()
        for fresh in (False, True):
            token = await self.token(fresh=fresh)
            async with session.get(f"{self.base_url}/cgi-bin/media/get",
                                   params={"access_token": token, "media_id": media_id}) as resp:
                data = await resp.read()
                if resp.content_type != "application/json":
                    resp.raise_for_status()
                    return data
            result = dict(await resp.json(content_type=None))
            if int(result.get("errcode", 0)) not in TOKEN_EXPIRED:
                raise KfError("media/get", result)
        raise KfError("media/get", {"errcode": 42001, "errmsg": "token"})

    async def upload(self, kind: str, data: bytes, filename: str) -> str:
        """A picture or a file for a message (temporary media, 3 days); returns its media_id."""
        session = await self._session()
        result: dict[str, Any] = {}
        for fresh in (False, True):
            token = await self.token(fresh=fresh)
            form = aiohttp.FormData()
            form.add_field("media", data, filename=filename, content_type="application/octet-stream")
            async with session.post(f"{self.base_url}/cgi-bin/media/upload",
                                    params={"access_token": token, "type": kind}, data=form) as resp:
                result = dict(await resp.json(content_type=None))
            if int(result.get("errcode", 0)) not in TOKEN_EXPIRED:
                break
        if int(result.get("errcode", 0)) != 0:
            raise KfError("media/upload", result)
        return str(result["media_id"])
