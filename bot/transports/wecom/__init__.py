"""WeCom (企业微信): the intelligent bot over its long connection and its encrypted HTTP callback,
group-robot webhooks, and staff-confirmed mass sends to residents' customer groups. See WECOM.md."""

from bot.transports.wecom.convert import PLATFORM
from bot.transports.wecom.transport import WeComTransport

__all__ = ["PLATFORM", "WeComTransport"]
