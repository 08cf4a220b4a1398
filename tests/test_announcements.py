"""Announcements and disclosures through the console: now or scheduled, with a picture, pinned, cancelled
before their time; disclosures kept and listed; refusals and bad input."""

from __future__ import annotations

from bot.transports.console import Console

GROUP = "幸福里业主群"


async def announce(console: Console, text: str, when: str | None, photo: bool = False, audience: int = 1,
                   publish: int = 1) -> None:
    console.as_("王书记")
    await console.say("/announce")
    await console.say(text)
    if photo:
        await console.photo()
    else:
        await console.press(1)  # No picture
    await console.press(audience)
    if when is None:
        await console.press(1)  # Send now
    else:
        await console.say(when)
    await console.press(publish)


async def test_announcement_now_with_picture_and_pin(console: Console) -> None:
    await announce(console, "本周六上午9点停水，请提前储水。", None, photo=True, publish=2)
    posted = console.seen_by("王书记", GROUP)[-1]
    assert "停水" in posted.text and posted.has_image


async def test_scheduled_announcement_sent_on_time(console: Console) -> None:
    await announce(console, "明早8点起电梯检修两小时。", "2026-11-23 10:00")
    assert not [s for s in console.seen_by("王书记", GROUP) if "电梯检修" in s.text]
    await console.clock_to("+50m")
    assert not [s for s in console.seen_by("王书记", GROUP) if "电梯检修" in s.text]
    await console.clock_to("+20m")
    assert len([s for s in console.seen_by("王书记", GROUP) if "电梯检修" in s.text]) == 1


async def test_scheduled_announcement_cancelled_before_its_time(console: Console) -> None:
    await announce(console, "周日组织大扫除，欢迎参加。", "2026-11-23 10:00")
    await console.say("/announcements")
    assert "大扫除" in console.last.text
    await console.press(1)  # Cancel it
    await console.say("/announcements")
    assert "大扫除" not in console.last.text
    await console.clock_to("+2h")
    assert not [s for s in console.seen_by("王书记", GROUP) if "大扫除" in s.text]


async def test_announcement_to_owners_goes_privately(console: Console) -> None:
    await announce(console, "业主大会表决材料已发放。", None, audience=3)
    assert "表决材料" in console.last_for("张三").text  # an owner
    assert all("表决材料" not in s.text for s in console.seen_by("王五"))  # a tenant
    assert all("表决材料" not in s.text for s in console.seen_by("王书记", GROUP))


async def test_bad_inputs_and_refusals(console: Console) -> None:
    console.as_("张三")
    await console.say("/announce")
    assert "书记" in console.last.text or "secretary" in console.last.text
    console.as_("王书记")
    await console.say("/announce")
    await console.photo()
    assert "文字" in console.last.text or "text" in console.last.text
    await console.say("字" * 2500)
    assert "2000" in console.last.text
    await console.say("通知：本周五消防演练。")
    await console.press(1)
    await console.press(1)
    await console.say("2026-11-01 08:00")
    assert "2026-11-01 08:00" in console.last.text
    await console.say("某天早上")
    assert "某天早上" in console.last.text
    await console.press(1)  # Send now: the draft survived
    await console.press(1)
    assert "消防演练" in console.seen_by("王书记", GROUP)[-1].text


async def test_disclosure_posted_kept_and_listed(console: Console) -> None:
    console.as_("孙委员")
    await console.say("/disclose")
    await console.press(1)  # income and spending
    await console.say("2026年10月 物业费收入 52,300 元，支出 48,100 元，结余 4,200 元。")
    await console.say("没有附件")  # text where the attachment is expected: asked again
    assert console.last.labels
    await console.photo()
    posted = console.seen_by("孙委员", GROUP)[-1]
    assert "52,300" in posted.text and posted.has_image
    console.as_("张三")
    await console.say("/disclosures")
    assert "52,300" in console.last.text
    await console.press(1)  # the attachment, privately
    assert console.last.has_image
    await console.say("/disclose")
    assert "业委会" in console.last.text or "committee" in console.last.text


async def start_disclosure(console: Console, text: str) -> None:
    console.as_("孙委员")
    await console.say("/disclose")
    await console.press(1)  # income and spending
    await console.say(text)


async def test_disclosure_with_a_spreadsheet_is_posted_kept_and_sent_again(console: Console) -> None:
    await start_disclosure(console, "2026年11月 维修基金收支明细见附件。")
    assert "XLSX" in console.last.text
    sheet = b"PK\x03\x04" + bytes(range(256)) * 4  # a zip's first bytes: an Office Open XML file
    await console.document("2026年11月账目.xlsx", data=sheet)
    posted = console.seen_by("孙委员", GROUP)[-1]
    assert "维修基金" in posted.text and posted.has_document and not posted.has_image
    assert console.transport.documents[-1] == ("2026年11月账目.xlsx", sheet)
    console.as_("张三")
    await console.say("/disclosures")
    assert "维修基金" in console.last.text
    await console.press(1)  # the attachment, privately, from the bot's own copy
    assert console.last.has_document and "维修基金" in console.last.text
    assert console.transport.documents[-1] == ("2026年11月账目.xlsx", sheet)


async def test_disclosure_refuses_other_files_politely_and_keeps_the_draft(console: Console) -> None:
    await start_disclosure(console, "2026年11月 公共收益 8,000 元。")
    await console.document("readme.txt")
    assert "readme.txt" in console.last.text and "XLSX" in console.last.text and console.last.labels
    await console.document("账目.xlsx", data=b"MZ\x90\x00 not a spreadsheet")  # renamed program
    assert "XLSX" in console.last.text
    await console.document("大文件.pdf", size=25 * 1024 * 1024)
    assert "20 MB" in console.last.text
    assert not [s for s in console.seen_by("孙委员", GROUP) if "公共收益" in s.text]  # nothing published yet
    await console.document("审计报告.pdf")  # still on the step, the text kept
    posted = console.seen_by("孙委员", GROUP)[-1]
    assert "8,000" in posted.text and posted.has_document
    assert console.transport.documents[-1][0] == "审计报告.pdf"


async def test_a_file_is_no_answer_where_text_is_expected(console: Console) -> None:
    console.as_("孙委员")
    await console.say("/disclose")
    await console.press(1)
    await console.document("账目.xlsx", caption="看附件")
    assert "XLSX" not in console.last.text  # asked for the text again: a file's caption is no typed answer
    await console.say("2026年11月 收入 1 元。")
    assert "XLSX" in console.last.text


async def test_announcement_with_a_file_goes_out_later_with_it(console: Console) -> None:
    console.as_("王书记")
    await console.say("/announce")
    await console.say("12月停车收费新标准，详见附件。")
    assert "XLSX" in console.last.text
    await console.document("setup.exe", data=b"MZ\x90\x00")
    assert "setup.exe" in console.last.text and console.last.labels  # refused, still on the step
    pdf = b"%PDF-1.7\n" + bytes(200)
    await console.document("停车收费标准.pdf", data=pdf)
    await console.press(1)  # the whole compound
    await console.say("2026-11-23 11:00")
    assert "停车收费标准.pdf" in console.last.text  # the summary names the file
    await console.press(1)  # Publish
    assert not [s for s in console.seen_by("王书记", GROUP) if "停车收费" in s.text]
    await console.clock_to("+2h")
    posted = [s for s in console.seen_by("王书记", GROUP) if "停车收费" in s.text]
    assert len(posted) == 1 and posted[0].has_document
    assert console.transport.documents[-1] == ("停车收费标准.pdf", pdf)
