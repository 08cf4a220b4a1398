"""Every text a user reads comes from locales/: each one in the code has a translation in every language,
with the same placeholders."""

from __future__ import annotations

import re

import pytest

from bot.core.i18n import LANGUAGES, LOCALES_DIR, Catalogs, normalize_language
from bot.core.i18n_tool import extract

PLACEHOLDER = re.compile(r"{(\w*)}")
CATALOGS = Catalogs()
MESSAGES = {msgid for messages in extract().values() for msgid in messages}


def test_texts_are_found_in_the_code() -> None:
    assert len(MESSAGES) > 50


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_text_is_translated(language: str) -> None:
    catalog = CATALOGS.messages(language)
    missing = sorted(m for m in MESSAGES if not catalog.get(m))
    assert missing == [], f"{language}: {len(missing)} texts without a translation, e.g. {missing[:3]}"


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_match(language: str) -> None:
    catalog = CATALOGS.messages(language)
    wrong = [m for m in MESSAGES if m in catalog and set(PLACEHOLDER.findall(m)) != set(PLACEHOLDER.findall(catalog[m]))]
    assert wrong == []


def test_default_language_is_simplified_chinese() -> None:
    t = CATALOGS.translator(None)
    assert t("Approve") == "通过"
    assert CATALOGS.translator("zh_TW")("Approve") == "通過"
    assert CATALOGS.translator("en")("Approve") == "Approve"


def test_platform_language_hints() -> None:
    assert normalize_language("zh-hans") == "zh_CN"
    assert normalize_language("zh-TW") == "zh_TW"
    assert normalize_language("zh-hant-hk") == "zh_TW"
    assert normalize_language("en-US") == "en"
    assert normalize_language("ru") is None


def test_a_text_means_the_same_in_every_feature() -> None:
    """Catalogues are per feature but merged at run time: one message id must not get two translations."""
    from babel.messages.pofile import read_po

    from bot.core.i18n import LOCALES_DIR

    for language in LANGUAGES:
        seen: dict[str, tuple[str, str]] = {}
        clashes = []
        for path in sorted((LOCALES_DIR / language / "LC_MESSAGES").glob("*.po")):
            with path.open("rb") as handle:
                for message in read_po(handle, locale=language):
                    if not message.id or not message.string or not isinstance(message.id, str):
                        continue
                    earlier = seen.setdefault(message.id, (str(message.string), path.stem))
                    if earlier[0] != message.string:
                        clashes.append(f"{message.id!r}: {earlier[1]}={earlier[0]!r} vs {path.stem}={message.string!r}")
        assert clashes == [], f"{language}: " + "; ".join(clashes[:5])


def test_every_catalogue_text_is_used_by_the_code_of_its_feature() -> None:
    """Searching locales/ for a text the bot sent must lead to the module that sends it."""
    from bot.core.i18n_tool import load

    found = extract()
    stale = []
    for path in sorted((LOCALES_DIR / "zh_CN" / "LC_MESSAGES").glob("*.po")):
        catalog = load("zh_CN", path.stem)
        stale += [f"{path.stem}: {entry.id}" for entry in catalog if entry.id and entry.id not in found[path.stem]]
    assert stale == [], "run `python -m bot.core.i18n_tool DOMAIN` to drop them:\n" + "\n".join(stale)
