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
    """Write zh_CN translations from a JSON object {msgid: 简体中文}; zh_TW is converted from them with zhconv
    where it is still empty (review it), and en gets the msgid itself."""
    import json

    import zhconv

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
                    entry.string = zhconv.convert(mapping[msgid], "zh-tw")
            save(catalog, language, domain)


if __name__ == "__main__":
    # python -m bot.core.i18n_tool [DOMAIN]              add missing texts, list untranslated ones
    # python -m bot.core.i18n_tool fill FILE.json DOMAIN  write zh_CN (and zh_TW, en) for one domain
    args = sys.argv[1:]
    if len(args) >= 2 and args[0] == "fill":
        fill(Path(args[1]), args[2] if len(args) > 2 else None)
        args = args[2:]
    sys.exit(1 if sync(args[0] if args else None) else 0)
