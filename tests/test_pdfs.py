"""Printable PDFs: the paper ballot (表决票), one page per room, and the notice-board announcement, checked for
their text with a PDF text extractor (pypdf) and rendered to PNG (pypdfium2) to prove they open."""

from __future__ import annotations

import io
import re

from pypdf import PdfReader

from bot.core.i18n import Catalogs
from bot.transports.console import Console
from storage import printouts


def text_of(data: bytes) -> list[str]:
    """Each page's text without the spaces the extractor puts between CJK glyphs."""
    return [re.sub(r"[\s\x00]+", "", page.extract_text() or "") for page in PdfReader(io.BytesIO(data)).pages]


BALLOT = printouts.Ballot(
    "幸福里", "关于1栋1单元加装电梯的表决",
    [printouts.BallotMotion(1, "同意在1栋1单元加装电梯，费用按楼层分摊。"),
     printouts.BallotMotion(2, "选举业主委员会委员", ("张三", "李四", "王五"), 2)],
    [printouts.BallotRoom("1栋1单元301", "88.25", "王书记"), printouts.BallotRoom("1栋1单元302", "90.00")],
    "2026-12-05 周六 18:00", where="物业服务中心")


def test_paper_ballot_one_page_per_room() -> None:
    data = printouts.ballot_pdf(Catalogs().translator("zh_CN"), BALLOT)
    assert data.startswith(b"%PDF")
    first, second = text_of(data)
    for page, room, area in ((first, "1栋1单元301", "88.25"), (second, "1栋1单元302", "90.00")):
        assert "幸福里业主大会表决票" in page and "关于1栋1单元加装电梯的表决" in page
        assert f"房号：{room}" in page and f"专有部分面积：{area}平方米" in page
        assert "同意" in page and "反对" in page and "弃权" in page
        assert "张三" in page and "最多勾选2名候选人" in page
        assert "业主签名" in page and "日期" in page and "交至物业服务中心" in page
    assert "登记业主：王书记" in first and "登记业主" not in second


def test_ballot_in_traditional_chinese() -> None:
    [page, _] = text_of(printouts.ballot_pdf(Catalogs().translator("zh_TW"), BALLOT))
    assert "業主大會表決票" in page and "反對" in page and "棄權" in page


def test_notice_for_the_board_renders() -> None:
    """Rendered to PNG once: the file opens, is A4 portrait, and has ink where the title is."""
    import pypdfium2

    data = printouts.notice_pdf(Catalogs().translator("zh_CN"), "幸福里", "停水通知",
                                "因管道维修，12月5日 9:00-17:00 全小区停水。\n请提前储水。", "2026-12-01")
    [page] = text_of(data)
    assert page.startswith("公告停水通知") and "请提前储水" in page and "幸福里2026-12-01" in page
    document = pypdfium2.PdfDocument(data)
    width, height = document[0].get_size()
    assert round(width / 72 * 25.4) == 210 and round(height / 72 * 25.4) == 297
    image = document[0].render(scale=1).to_pil().convert("L")
    out = io.BytesIO()
    image.save(out, format="PNG")
    assert out.getvalue().startswith(b"\x89PNG")
    top = image.crop((0, 0, image.width, image.height // 6))
    assert min(top.getdata()) < 100  # the title is drawn: dark pixels at the top
    bottom = image.crop((0, image.height * 5 // 6, image.width, image.height))
    assert min(bottom.getdata()) > 200  # and nothing spills to the foot of the page


async def test_the_secretary_prints_from_the_chat(console: Console) -> None:
    """The announcement's 打印张贴版 button and /results' 打印表决票 button give the PDFs; others get neither."""
    from tests.test_announcements import announce
    from tests.test_assembly import _open

    await announce(console, "停水通知\n本周六上午9点至下午5点停水，请提前储水。", None)
    await console.press("打印张贴版（PDF）")
    name, data = console.transport.documents[-1]
    assert name.endswith(".pdf")
    [page] = text_of(data)
    assert page.startswith("公告停水通知本周六上午9点") and "幸福里" in page

    await _open(console)
    await console.say("/results")
    await console.press("打印表决票 #1（PDF）")
    name, data = console.transport.documents[-1]
    pages = text_of(data)
    assert name == "ballots-XFL-1.pdf" and len(pages) == 36  # the demo's 36 rooms, a page each
    assert "2026年第一次业主大会" in pages[0] and "选聘新的物业服务企业" in pages[0] and "赵大" in pages[0]
    assert "房号：1栋1单元101" in pages[0]

    console.as_("张三")
    await console.say("/results")
    assert not any("表决票" in label for label in console.last.labels)
