"""Developer tool for the catalogues: `python -m bot.core.i18n_tool` finds every translatable text in the
code, adds the missing ones (with an empty translation to fill in) to `locales/<lang>/LC_MESSAGES/` and
removes the ones the code no longer uses.

A text is translatable when it is the first argument of a call to `t`, `N_`, or one of the names used for
other recipients' translators (`st` staff, `rt` resident, `pt` person, `tr`), or the `help=` of a command. `handlers/X.py` and `storage/X.py` go to
`X.po`; everything under `bot/` goes to `core.po`."""

from __future__ import annotations

import ast
import re
import sys
from collections import defaultdict
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot.core.i18n import LANGUAGES, LOCALES_DIR

ROOT = LOCALES_DIR.parent
TRANSLATOR_NAME = re.compile(r"^(t|N_|st|rt|pt|tr)$")
PLACEHOLDER = re.compile(r"{(\w*)}")


def domain_of(path: Path) -> str:
    relative = path.relative_to(ROOT)
    if relative.parts[0] in ("handlers", "storage"):
        return path.stem
    return "core"


def extract() -> dict[str, dict[str, list[str]]]:
    """domain → msgid → places it is used."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for folder in ("bot", "handlers", "storage"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if not isinstance(node, ast.Call):
                    continue
                func = node.func
                name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
                for keyword in node.keywords:
                    if name == "command" and keyword.arg == "help" and isinstance(keyword.value, ast.Constant) \
                            and isinstance(keyword.value.value, str):
                        found[domain_of(path)][keyword.value.value].append(f"{path.relative_to(ROOT)}:{node.lineno}")
                first = node.args[0] if node.args else None
                if first is not None and TRANSLATOR_NAME.match(name) and isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found[domain_of(path)][first.value].append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def load(language: str, domain: str) -> Catalog:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    if not path.exists():
        return Catalog(locale=language, domain=domain, project="linli", charset="utf-8")
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=domain)


def save(catalog: Catalog, language: str, domain: str) -> None:
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        write_po(handle, catalog, width=0, omit_header=False, sort_output=False, no_location=True)


# Mainland words OpenCC's phrase table leaves (or gets wrong for this product) → the Taiwan word, or the term kept
# as the mainland's law names it (業主大會, 居委會): the product serves mainland compounds, and zh_TW is for readers
# who prefer traditional characters. Longest first; 通過 stays (approve), write 透過 by hand where it means "via".
TAIWAN_WORDS = {
    "个人信息": "個人資料", "小程序": "小程式", "二维码": "QR Code", "手机号码": "手機號碼", "手机号": "手機號碼",
    "信息": "訊息", "小区": "社區", "社区": "社區", "程序": "程序", "项目": "項目", "账号": "帳號", "帐号": "帳號",
    "账户": "帳號", "反馈": "回饋", "质量": "品質", "邻里": "鄰里", "签字": "簽字", "志愿者": "志工", "外卖": "外送",
    "邮箱": "電子信箱", "视频": "影片", "短信": "簡訊", "登录": "登入", "默认": "預設", "用户": "使用者",
    "用户名": "使用者名稱", "文件夹": "資料夾", "模板": "範本", "打印": "列印", "发送": "傳送", "发来": "傳來",
    "群聊": "群組", "群里": "群組裡", "群内": "群組內", "私聊": "私訊", "私信": "私訊", "网格员": "網格員",
    "居委会": "居委會", "业主大会": "業主大會", "业主委员会": "業主委員會", "街道办事处": "街道辦事處",
    "物业服务企业": "物業服務企業", "台账": "台帳", "硬件": "硬體", "软件": "軟體", "拉黑": "封鎖",
    "解绑": "解除綁定", "绑定": "綁定", "查看": "查看", "审核": "審核", "发布": "發布", "获取": "取得",
    "身份": "身分", "通过": "通過", "代码": "代碼", "斜杠": "斜線", "生成": "產生", "恢复默认": "恢復預設",
    "志愿服务": "志願服務", "志愿任务": "志工任務", "志愿与积分": "志工與積分", "反映诉求": "反映問題",
    "诉求": "陳情", "实时": "即時", "类型": "類型", "对象": "對象", "运维": "維運", "合并": "合併", "并入": "併入",
    "并": "並",
}
# What the conversion still gets wrong, mended afterwards.
_TAIWAN_MENDS = (("隻能", "只能"), ("隻有", "只有"), ("隻是", "只是"), ("隻要", "只要"), ("錶決", "表決"),
                 ("鄰裡", "鄰里"), ("賬", "帳"), ("“", "「"), ("”", "」"), ("‘", "『"), ("’", "』"))
_TAIWAN_WORD = re.compile("|".join(map(re.escape, sorted(TAIWAN_WORDS, key=len, reverse=True))))


def to_taiwan(text: str) -> str:
    """A zh_TW draft of a zh_CN text: OpenCC's phrase-level Taiwan conversion (s2twp, a dev dependency) with
    TAIWAN_WORDS held aside, then mended. A draft: read every entry before committing it."""
    from opencc import OpenCC

    held: list[str] = []

    def hold(found: re.Match[str]) -> str:
        held.append(TAIWAN_WORDS[found.group(0)])
        return f"\ue000{len(held) - 1}\ue001"

    converted = OpenCC("s2twp").convert(_TAIWAN_WORD.sub(hold, text))
    converted = re.sub("\ue000(\\d+)\ue001", lambda found: held[int(found.group(1))], converted)
    for wrong, right in _TAIWAN_MENDS:
        converted = converted.replace(wrong, right)
    converted = re.sub("(?<![皇王太])后", "後", converted)  # 后 is only ever 後 in our texts
    return re.sub("(?<![抽標書])籤(?!詩)", "簽", converted)  # 簽 signs, 籤 is a lot or a label


def review(domain: str) -> None:
    """Print every entry of a domain: the zh_CN text, its zh_TW and, where it differs, the OpenCC draft."""
    simplified, traditional = load("zh_CN", domain), load("zh_TW", domain)
    for entry in simplified:
        if not entry.id:
            continue
        found = traditional.get(entry.id)
        now, draft = str(found.string) if found else "", to_taiwan(str(entry.string))
        print(f"{entry.id!r}\n  zh_CN  {entry.string}\n  zh_TW  {now}" + ("" if now == draft else f"\n  draft  {draft}"))


def sync(only: str | None = None) -> int:
    missing = 0
    for domain, messages in sorted(extract().items()):
        if only is not None and domain != only:
            continue
        for language in LANGUAGES:
            catalog = load(language, domain)
            changed = False
            for msgid in messages:
                if msgid not in catalog:
                    catalog.add(msgid, "")
                    changed = True
                entry = catalog[msgid]
                if entry is not None and not entry.string and language != "en":
                    missing += 1
                    print(f"{language}/{domain}.po: needs a translation: {msgid!r}")
            # A text the code no longer uses goes too: searching locales/ must lead to code that sends it.
            for stale in [entry.id for entry in catalog if entry.id and entry.id not in messages]:
                del catalog[stale]
                changed = True
                print(f"{language}/{domain}.po: removed, no longer in the code: {stale!r}")
            if changed:
                save(catalog, language, domain)
    return missing


def fill(mapping_file: Path, only: str | None = None) -> None:
    """Write zh_CN translations from a JSON object {msgid: 简体中文}; zh_TW is drafted from them with `to_taiwan`
    where it is still empty (read it before committing), and en gets the msgid itself."""
    import json

    mapping: dict[str, str] = json.loads(mapping_file.read_text(encoding="utf-8"))
    for domain, messages in sorted(extract().items()):
        if only is not None and domain != only:
            continue
        for language in LANGUAGES:
            catalog = load(language, domain)
            for msgid in messages:
                if msgid not in catalog:
                    catalog.add(msgid, "")
                entry = catalog[msgid]
                assert entry is not None
                if language == "en" and not entry.string:
                    entry.string = msgid
                elif msgid in mapping and language == "zh_CN":
                    entry.string = mapping[msgid]
                elif msgid in mapping and language == "zh_TW" and not entry.string:
                    entry.string = to_taiwan(mapping[msgid])
            save(catalog, language, domain)


if __name__ == "__main__":
    # python -m bot.core.i18n_tool [DOMAIN]              add missing texts, list untranslated ones
    # python -m bot.core.i18n_tool fill FILE.json DOMAIN  write zh_CN (and zh_TW, en) for one domain
    # python -m bot.core.i18n_tool review DOMAIN          zh_CN, zh_TW and the OpenCC draft of each entry
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "review":
        review(args[1])
        sys.exit(0)
    if len(args) >= 2 and args[0] == "fill":
        fill(Path(args[1]), args[2] if len(args) > 2 else None)
        args = args[2:]
    sys.exit(1 if sync(args[0] if args else None) else 0)
