"""Every text a user reads comes from the gettext catalogues in `locales/`, read with Babel.

Message ids are the English texts; `locales/<lang>/LC_MESSAGES/<feature>.po` holds one feature's words, so
a text the bot sends can be found by searching `locales/` and then the code for its message id."""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

from babel.messages.pofile import read_po

log = logging.getLogger(__name__)

LANGUAGES = ("zh_CN", "zh_TW", "en")
DEFAULT_LANGUAGE = "zh_CN"
LANGUAGE_NAMES = {"zh_CN": "简体中文", "zh_TW": "繁體中文", "en": "English"}
LOCALES_DIR = Path(__file__).resolve().parents[2] / "locales"


def N_(msgid: str) -> str:
    """Marks a text for translation where it is defined; it is translated where it is shown."""
    return msgid


def normalize_language(hint: str | None) -> str | None:
    """Map a platform's language hint (Telegram's `zh-hans`, `en-US`, ...) to one of ours."""
    if not hint:
        return None
    value = hint.replace("-", "_").lower()
    if value in ("zh_tw", "zh_hk", "zh_mo", "zh_hant") or value.startswith("zh_hant"):
        return "zh_TW"
    if value.startswith("zh"):
        return "zh_CN"
    if value.startswith("en"):
        return "en"
    return None


# How people name a language besides the names the bot shows (LANGUAGE_NAMES), simplified by `_name_key`.
_LANGUAGE_ALIASES = {
    "简体": "zh_CN", "簡體": "zh_CN", "简体中文": "zh_CN", "簡體中文": "zh_CN", "中文": "zh_CN", "汉语": "zh_CN",
    "普通话": "zh_CN", "chinese": "zh_CN", "simplifiedchinese": "zh_CN", "cn": "zh_CN",
    "tw": "zh_TW", "繁體": "zh_TW", "繁体": "zh_TW", "繁体中文": "zh_TW", "正體中文": "zh_TW", "正体中文": "zh_TW",
    "traditionalchinese": "zh_TW",
    "英文": "en", "英语": "en", "英語": "en", "english": "en",
}
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:[_-][a-z0-9]{2,8})*", re.IGNORECASE)


def _name_key(text: str) -> str:
    return re.sub(r"[\s()（）]+", "", unicodedata.normalize("NFKC", text)).casefold()


def language_named(text: str) -> str | None:
    """One of our languages by any name the bot shows for it (简体中文, 繁體中文, English), another usual name
    (繁体, 中文, 英文) or a code (zh_CN, zh-TW, zh-Hant, zh-HK, en-US); None for anything else."""
    key = _name_key(text)
    for code, name in LANGUAGE_NAMES.items():
        if key in (_name_key(name), code.casefold()):
            return code
    if key in _LANGUAGE_ALIASES:
        return _LANGUAGE_ALIASES[key]
    plain = text.strip()
    return normalize_language(plain) if _LANGUAGE_CODE.fullmatch(plain) else None


class Translator:
    __slots__ = ("_catalog", "language")

    def __init__(self, language: str, catalog: dict[str, str]) -> None:
        self.language = language
        self._catalog = catalog

    def __call__(self, msgid: str, /, **kwargs: Any) -> str:
        text = self._catalog.get(msgid) or msgid
        if not kwargs:
            return text
        try:
            return text.format(**kwargs)
        except (KeyError, IndexError, ValueError):
            # A broken translation must not break the conversation; the English text is always well-formed.
            log.error("bad placeholders in %s translation of %r", self.language, msgid)
            return msgid.format(**kwargs)


class Catalogs:
    """All catalogues of all languages, loaded once at start (a few hundred texts)."""

    def __init__(self, root: Path = LOCALES_DIR) -> None:
        self._by_language: dict[str, dict[str, str]] = {}
        for language in LANGUAGES:
            merged: dict[str, str] = {}
            for po_path in sorted((root / language / "LC_MESSAGES").glob("*.po")):
                with po_path.open("rb") as handle:
                    catalog = read_po(handle, locale=language)
                for message in catalog:
                    if message.id and isinstance(message.id, str) and message.string and not message.fuzzy:
                        merged[message.id] = str(message.string)
            self._by_language[language] = merged
        self._translators = {lang: Translator(lang, cat) for lang, cat in self._by_language.items()}

    def translator(self, language: str | None) -> Translator:
        return self._translators.get(language or DEFAULT_LANGUAGE) or self._translators[DEFAULT_LANGUAGE]

    def messages(self, language: str) -> dict[str, str]:
        return dict(self._by_language.get(language, {}))


Translate = Callable[..., str]
