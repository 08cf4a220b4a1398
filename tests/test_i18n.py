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


HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# A deliberate gloss or an example of Chinese input stands in brackets: "the red and black list (红黑榜)".
BRACKETED = re.compile(r"\([^()]*\)|（[^（）]*）")
# Where the msgid names the product: not a command line (`linli migrate`, linli roster import) or a file (linli.db).
CODE = re.compile(r"`[^`]*`|\S+://\S+|\blinli (?:migrate|run|console|compound|roster|person|export|audit|report|backup"
                  r"|restore|street|community|company|partner)\b")
PRODUCT = re.compile(r"\b[Ll]inli\b")


def _catalogue_entries(language: str) -> dict[tuple[str, str], str]:
    """(domain, msgid) → translation, read from each .po file (the merged view would hide a second domain)."""
    from bot.core.i18n_tool import load

    return {(path.stem, str(entry.id)): str(entry.string)
            for path in sorted((LOCALES_DIR / language / "LC_MESSAGES").glob("*.po"))
            for entry in load(language, path.stem) if entry.id and entry.string}


def test_the_product_is_named_right_in_every_catalogue() -> None:
    """邻里 in simplified Chinese, 鄰里 in traditional (never 鄰裡, the character conversion's mistake), linli in
    English; the word 邻里 (neighbours, as in 邻里纠纷) follows the same rule."""
    simplified, traditional, english = (_catalogue_entries(language) for language in LANGUAGES)
    wrong = []
    for key, text in simplified.items():
        tw, en = traditional.get(key, ""), english.get(key, "")
        if "鄰裡" in text + tw or "鄰里" in text or "邻里" in tw or text.count("邻里") != tw.count("鄰里"):
            wrong.append(f"{key}: {text!r} / {tw!r}")
        if PRODUCT.search(CODE.sub("", key[1])) and not ("邻里" in text and "鄰里" in tw and PRODUCT.search(en)):
            wrong.append(f"{key}: names the product: {text!r} / {tw!r} / {en!r}")
    assert wrong == [], "\n".join(wrong)


def test_english_has_no_chinese_except_in_brackets() -> None:
    """Chinese in an English text only as a deliberate gloss or example in brackets: "(for example 1栋1单元301)"."""
    wrong = [f"{key}: {text!r}" for key, text in _catalogue_entries("en").items() if HAN.search(BRACKETED.sub("", text))]
    assert wrong == [], f"{len(wrong)} English texts with Chinese outside brackets:\n" + "\n".join(wrong)


def test_a_role_refusal_lists_the_roles_as_each_language_does() -> None:
    from bot.core.dispatcher import ROLE_NAMES, any_of
    from storage.people import Role

    def refusal(language: str, *roles: Role) -> str:
        t = CATALOGS.translator(language)
        return t("Sorry, only {roles} can do that.", roles=any_of(t, [t(ROLE_NAMES[role]) for role in roles]))

    roles = (Role.COMMITTEE, Role.OFFICIAL, Role.PROPERTY, Role.SECRETARY)
    assert refusal("en", *roles) == "Sorry, only a committee member, an official, property staff or a secretary can do that."
    assert refusal("en", Role.SECRETARY) == "Sorry, only a secretary can do that."
    assert refusal("zh_CN", Role.COMMITTEE, Role.SECRETARY) == "抱歉，只有业委会委员或支部书记才能进行这个操作。"
    assert refusal("zh_TW", *roles[:3]) == "抱歉，只有業委會委員、社區/街道工作人員或物業人員才能進行這個操作。"


def test_traditional_drafts_use_taiwan_words_and_keep_mainland_institutions() -> None:
    pytest.importorskip("opencc")
    from bot.core.i18n_tool import to_taiwan

    assert to_taiwan("欢迎使用邻里小区助手。请发送文件和手机号，个人信息不会泄露。") == \
        "歡迎使用鄰里社區助手。請傳送檔案和手機號碼，個人資料不會洩露。"
    assert to_taiwan("邻里纠纷；签字页；“业主大会”由业主委员会和居委会召集，最多只能选一名，确认并发起") == \
        "鄰里糾紛；簽字頁；「業主大會」由業主委員會和居委會召集，最多只能選一名，確認並發起"
