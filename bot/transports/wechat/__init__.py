"""WeChat residents one-to-one through 微信客服 (WeCom's customer-service API): see WECOM.md, section 5."""

from bot.transports.wechat.transport import WeChatTransport
from storage.wechat import PLATFORM

__all__ = ["PLATFORM", "WeChatTransport"]
