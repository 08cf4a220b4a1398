"""The 红黑榜 through the console: nominations, refusal of names and room numbers, review, the Monday 09:00
posting with its poster, and the corrected line."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import col, select

from bot.app import App
from bot.transports.console import Console
from storage.board import (
    BoardEntry,
    EntryStatus,
    Exposure,
    exposure,
    has_room_number,
    named_people,
    normalise,
)
from storage.db import transaction
from storage.outbox import Media
from storage.people import Role
from storage.poster import PosterSection, cjk_font_path, render_poster
from tests.conftest import revoke_role, second_compound, switch_to

GROUP = "幸福里业主群"
ZONE = ZoneInfo("Asia/Shanghai")


def keep_for_viewing(png: bytes) -> None:
    """The last poster stays in /tmp so a person can look at it."""
    Path("/tmp/linli-board-poster.png").write_bytes(png)


async def nominate(console: Console, who: str, color: str, subject: str, text: str, photo: bool = False) -> None:
    console.as_(who)
    await console.say("/nominate")
    await console.press(1 if color == "red" else 2)
    await console.say(subject)
    await console.say(text)
    if photo:
        await console.photo()
    else:
        await console.press(1)  # No photo


def test_black_entries_must_not_name_rooms_or_people() -> None:
    for text in ("3栋2单元301乱扔垃圾", "2单元502天天装修", "301室养狗扰民", "3-2-301 占用楼道", "3号楼1502"):
        assert has_room_number(text), text
    for text in ("3栋楼下消防通道长期停放私家车", "小区东门垃圾桶旁乱丢装修垃圾", "2栋电梯里吸烟"):
        assert not has_room_number(text), text
    assert named_people("张三天天把车停在消防通道", ["张三", "李四", "王"]) == ["张三"]


async def test_nominate_review_and_monday_posting_with_poster(console: Console, app: App) -> None:
    await nominate(console, "张三", "red", "2栋 陈阿姨", "每天义务打扫单元楼道，坚持三年", photo=True)
    secretary_sees = console.last_for("王书记")
    assert "陈阿姨" in secretary_sees.text and secretary_sees.has_image and len(secretary_sees.labels) == 3

    # A black nomination naming a room, then a person, is refused; the conduct-and-place version is taken.
    console.as_("李四")
    await console.say("/nominate")
    await console.press(2)
    await console.say("3栋2单元301门口")
    assert "房号" in console.last.text or "room number" in console.last.text
    await console.say("3栋楼下消防通道")
    await console.say("张三把私家车长期停在这里")
    assert "姓名" in console.last.text and "张三" not in console.last.text  # the kind found, not the name
    await console.say("私家车长期占用消防通道")
    await console.press(1)
    assert "秘书" not in console.last.text  # thanked, not refused
    assert "消防通道" in console.last_for("王书记").text

    await nominate(console, "王五", "black", "小区东门", "有人半夜大声喧哗")

    # The secretary reviews from /board (the newest pending nomination is shown last): reject with a reason,
    # edit, approve; each nominator is told.
    console.as_("王书记")
    await console.say("/board")
    assert len([s for s in console.seen_by("王书记")[-4:] if len(s.labels) == 3]) == 3
    await console.press(3)  # reject the noise
    await console.say("无法核实具体时间和地点，请补充后再提交")
    assert "无法核实" in console.last_for("王五").text
    await console.say("/board")
    await console.press(2)  # edit the fire-lane entry
    await console.say("私家车长期占用3栋楼下消防通道，影响消防安全")
    assert "影响消防安全" in console.last_for("李四").text
    await console.say("/board")
    await console.press(1)  # approve the red one
    assert "陈阿姨" in console.last_for("张三").text

    # Residents see the board; nothing is posted before Monday 09:00 of next week.
    console.as_("张三")
    await console.say("/board")
    assert "陈阿姨" in console.last.text and "影响消防安全" in console.last.text and "喧哗" not in console.last.text
    app.core.clock.set(datetime(2026, 11, 30, 8, 40, tzinfo=ZONE))
    shown = await console.clock_to("2026-11-30 08:50")
    assert [s for s in shown if s.to == "group"] == []
    shown = await console.clock_to("2026-11-30 09:10")
    posted = [s for s in shown if s.to == "group"]
    assert len(posted) == 2
    assert "陈阿姨" in posted[0].text and "影响消防安全" in posted[0].text
    assert posted[0].text.index("陈阿姨") < posted[0].text.index("影响消防安全")  # red section first
    if cjk_font_path() is not None:
        assert posted[1].has_image
        async with transaction(app.core.sessions) as session:
            media = (await session.exec(select(Media).where(col(Media.filename).like("board-%")))).all()
        assert len(media) == 1 and media[0].data.startswith(b"\x89PNG")
        keep_for_viewing(media[0].data)

    # The fire lane is cleared: the next posting shows it on the corrected line, and the red entry is gone.
    console.as_("赵物业")
    await console.say("/board")
    await console.press(1)
    assert "已整改" in console.last_for("李四").text or "corrected" in console.last_for("李四").text
    app.core.clock.set(datetime(2026, 12, 7, 8, 55, tzinfo=ZONE))
    shown = await console.clock_to("2026-12-07 09:05")
    posted = [s for s in shown if s.to == "group"]
    assert posted and "影响消防安全" in posted[0].text and "陈阿姨" not in posted[0].text
    assert "已整改" in posted[0].text or "Corrected" in posted[0].text


async def test_posting_sent_late_once_after_downtime(console: Console, app: App) -> None:
    await nominate(console, "张三", "red", "1栋1单元全体住户", "自发清理楼道杂物")
    console.as_("王书记")
    await console.say("/board")
    await console.press(1)
    await console.clock_to("+10m")  # the scheduler notes the next posting: Monday 2026-11-30 09:00
    # Down from Sunday until Monday 11:00: the posting is still sent, once.
    app.core.clock.set(datetime(2026, 11, 30, 11, 0, tzinfo=ZONE))
    await app.scheduler.tick()
    await app.worker.drain()
    await console.clock_to("+20m")
    assert len([s for s in console.seen_by("王书记", GROUP) if "自发清理" in s.text]) == 1


async def test_staff_only_actions_refused_for_residents(console: Console) -> None:
    await nominate(console, "张三", "black", "2栋电梯", "有人在电梯里吸烟")
    review = console.last_for("王书记")
    console.as_("李四")
    # 李四 cannot see the secretary's buttons, and /board offers him no review or corrected buttons.
    await console.say("/board")
    assert console.last.labels == []
    assert review.labels and all(label not in console.last.labels for label in review.labels)


async def test_bad_input_in_nomination(console: Console) -> None:
    console.as_("张三")
    await console.say("/nominate")
    await console.say("随便")
    assert len(console.last.labels) == 2  # asked again, with the buttons; still on the same step
    await console.say("红")  # typing the choice works too
    await console.photo()
    assert "文字" in console.last.text or "text" in console.last.text
    await console.say("好" * 100)
    assert "60" in console.last.text
    await console.say("3栋 刘师傅")
    await console.say("帮邻居修好了漏水的水管")
    await console.say("这是照片")  # text where a photo or the button is expected
    assert console.last.labels
    await console.press(1)
    assert "刘师傅" in console.last_for("王书记").text


def test_poster_renders_chinese_when_a_font_is_installed() -> None:
    png = render_poster("幸福里 红黑榜", "2026-11-30", [
        PosterSection("红榜", ("1. 2栋 陈阿姨 — 每天义务打扫单元楼道，坚持三年",), (200, 30, 35)),
        PosterSection("黑榜", ("1. 3栋楼下消防通道 — 私家车长期占用消防通道，影响消防安全" * 2,), (40, 40, 40)),
    ], "发送 /nominate 提名")
    if cjk_font_path() is None:
        assert png is None
        return
    assert png is not None and png.startswith(b"\x89PNG") and len(png) > 5000


# ---- issue 15: declared flows, bound to their compound and role ------------------------------------------------

CRASHED = "系统出了点问题"


async def _entries(app: App) -> list[BoardEntry]:
    async with app.core.sessions() as session:
        return list((await session.exec(select(BoardEntry).order_by(col(BoardEntry.id)))).all())


async def test_pending_nominations_in_board_name_their_nominator(console: Console) -> None:
    """/board showed the secretary's pending nominations as "提名人：?"."""
    await nominate(console, "李四", "red", "2栋 陈阿姨", "帮独居老人买菜")
    console.as_("王书记")
    await console.say("/board")
    assert len(console.last.labels) == 3  # the pending nomination, with its review buttons
    assert "提名人：李四" in console.last.text and "?" not in console.last.text


async def test_a_stranger_cannot_take_over_a_continue_privately_link(console: Console, app: App) -> None:
    """The "continue privately" link of 张三's /nominate in the group was not tied to him: a never-joined stranger
    opened it and their next answer crashed. Now it is 张三's alone; the stranger is refused and nothing is written."""
    console.as_("张三")
    console.in_(GROUP)
    await console.say("/nominate")
    assert "私聊继续" in console.last.labels
    console.as_("陌生人")
    console.in_(GROUP)
    await console.press("私聊继续")
    assert console.chat == "private" and "给别人" in console.last.text
    for answer in ("红", "3栋 刘师傅", "帮邻居修好了水管"):
        await console.say(answer)
        assert CRASHED not in console.last.text
    await console.say("/nominate")
    assert "还没有加入小区" in console.last.text
    assert await _entries(app) == []
    # 张三 himself still continues privately from his own link.
    console.as_("张三")
    console.in_(GROUP)
    await console.press("私聊继续")
    assert console.last.labels == ["🔴 红榜：好人好事", "⚫ 黑榜：不文明行为"]


async def test_odd_answers_keep_the_nomination_going(console: Console, app: App) -> None:
    console.as_("张三")
    await console.say("/nominate")
    await console.say("①")
    assert len(console.last.labels) == 2
    await console.press(1)
    for odd in ("\ud800", "\x1b", "长" * 10_000):
        await console.say(odd)
        assert CRASHED not in console.last.text
    await console.say("3栋 刘师傅\x1b")
    await console.say("帮邻居修好了漏水的水管\ud800")
    await console.press("不附照片")
    entry = (await _entries(app))[-1]
    assert (entry.subject, entry.text, entry.status) == ("3栋 刘师傅", "帮邻居修好了漏水的水管", EntryStatus.PENDING)


async def _review(console: Console, which: str) -> None:
    """张三 nominates; the secretary opens /board and presses `which` (修改文字 or 拒绝) on it."""
    await nominate(console, "张三", "black", "2栋电梯", "有人在电梯里吸烟")
    console.as_("王书记")
    await console.say("/board")
    await console.press(which)


async def test_a_revoked_secretary_cannot_finish_editing_a_nomination(console: Console, app: App) -> None:
    await _review(console, "修改文字")
    assert "当前内容" in console.last.text
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("电梯里长期有人吸烟，烟味很重")
    assert "身份已有变化" in console.last.text
    entry = (await _entries(app))[-1]
    assert (entry.status, entry.text, entry.reviewed_by) == (EntryStatus.PENDING, "有人在电梯里吸烟", None)
    assert "通过" not in console.last_for("张三").text


async def test_a_revoked_secretary_cannot_finish_rejecting_a_nomination(console: Console, app: App) -> None:
    await _review(console, "拒绝")
    await revoke_role(app, "王书记", Role.SECRETARY)
    await console.say("无法核实")
    assert "身份已有变化" in console.last.text
    entry = (await _entries(app))[-1]
    assert (entry.status, entry.reason, entry.reviewed_by) == (EntryStatus.PENDING, "", None)


async def test_editing_a_nomination_finishes_in_its_compound_after_a_switch(console: Console, app: App) -> None:
    await _review(console, "修改文字")
    other = await second_compound(app, ("王书记", (Role.SECRETARY,)))
    await switch_to(console, "和平苑")
    await console.say("电梯里长期有人吸烟，烟味很重")
    assert "已通过" in console.last.text
    entry = (await _entries(app))[-1]
    assert (entry.compound_id, entry.status, entry.text) == (1, EntryStatus.APPROVED, "电梯里长期有人吸烟，烟味很重")
    assert [e for e in await _entries(app) if e.compound_id == other] == []


async def test_rejecting_a_nomination_finishes_in_its_compound_after_a_switch(console: Console, app: App) -> None:
    await _review(console, "拒绝")
    # In 和平苑 王书记 is a tenant only: the rejection still belongs to 幸福里, where he is the secretary.
    await second_compound(app, ("王书记", ()))
    await switch_to(console, "和平苑")
    await console.say("无法核实具体时间")
    assert "已驳回" in console.last.text
    entry = (await _entries(app))[-1]
    assert (entry.compound_id, entry.status, entry.reason) == (1, EntryStatus.REJECTED, "无法核实具体时间")
    assert "无法核实具体时间" in console.last_for("张三").text


async def test_a_nomination_lands_in_the_compound_it_began_in(console: Console, app: App) -> None:
    console.as_("张三")
    await console.say("/nominate")
    await console.press(1)
    await console.say("3栋 刘师傅")
    other = await second_compound(app, ("张三", ()))
    await switch_to(console, "和平苑")
    await console.say("帮邻居修好了漏水的水管")
    await console.press("不附照片")
    assert [(e.compound_id, e.subject) for e in await _entries(app)] == [(1, "3栋 刘师傅")]
    assert all(e.compound_id != other for e in await _entries(app))
    assert "刘师傅" in console.last_for("王书记").text


async def test_a_nomination_is_reviewed_once(console: Console, app: App) -> None:
    """Two presses on one nomination (a second secretary, an old message): the second is told it is decided."""
    await nominate(console, "张三", "red", "2栋 陈阿姨", "每天义务打扫单元楼道")
    console.as_("王书记")
    await console.press("拒绝")
    await console.say("重复提名")
    await console.press("通过")
    assert "已经审核过" in console.last.text
    entry = (await _entries(app))[-1]
    assert (entry.status, entry.reason) == (EntryStatus.REJECTED, "重复提名")


# ---- issue 20: a black entry names no one, however it is written ------------------------------------------------

# The variants the filter let through, and the rest of the list: each gives away a person.
EXPOSING = [
    ("张 三", Exposure.NAME), ("张\u200b三", Exposure.NAME), ("zhang san", Exposure.NAME), ("zhangsan", Exposure.NAME),
    ("章三", Exposure.NAME), ("13800000001", Exposure.PHONE), ("138-0000-0001", Exposure.PHONE),
    ("3栋301", Exposure.ROOM), ("三栋三零一", Exposure.ROOM), ("3栋的301", Exposure.ROOM), ("3-301", Exposure.ROOM),
    ("3号楼301室", Exposure.ROOM), ("一单元301", Exposure.ROOM), ("301室", Exposure.ROOM),
    # The roster-only owner: on the roster, never joined.
    ("刘六", Exposure.NAME),
    # Other spellings of the same.
    ("張三", Exposure.NAME), ("ＺＨＡＮＧ　ＳＡＮ", Exposure.NAME), ("章叁", Exposure.NAME), ("张.三", Exposure.NAME),
    ("138 0000 0001", Exposure.PHONE), ("一三八零零零零零零零一", Exposure.PHONE), ("１３８００００００01", Exposure.PHONE),
    ("3#301", Exposure.ROOM), ("三百零一室", Exposure.ROOM), ("两栋2单元的五零二", Exposure.ROOM),
]
ORDINARY = ["楼道堆放杂物，影响通行", "车辆长期占用消防通道", "楼道里私拉电线充电", "3栋楼下消防通道长期停放私家车",
            "2026-11-23 22:30 起有人大声喧哗", "每天10:30-11:30广场舞音响很大", "3号楼100多户都受影响",
            "三天两头往楼下扔烟头，一直到凌晨两点", "消防通道被占"]
DEMO_NAMES = ["王书记", "李楼长", "赵物业", "孙委员", "张三", "李四", "王五", "陈阿姨", "刘六"]
KIND_WORD = {Exposure.NAME: "姓名", Exposure.PHONE: "电话号码", Exposure.ROOM: "房号"}


def test_black_entry_checks_normalise_first() -> None:
    assert normalise("张\u200b三 ３栋，三百零一") == "张33栋301"
    for variant, kind in EXPOSING:
        assert exposure(f"{variant}在楼道堆放杂物", DEMO_NAMES) == kind, variant
    for text in ORDINARY:
        assert exposure(text, DEMO_NAMES) is None, text
    # A homophone needs a character in common or the same tones: 里私 (li3 si1) is not 李四, 消防 not 萧方.
    assert named_people("楼道里私拉电线", ["李四"]) == [] and named_people("占用消防通道", ["萧方"]) == []
    assert named_people("zeng hong 家的狗", ["曾红"]) == ["曾红"]  # 曾 read zeng or ceng
    # A compound that allows names and rooms still refuses phone numbers.
    assert exposure("张三 3栋301", DEMO_NAMES, allow_names=True) is None
    assert exposure("138-0000-0001", DEMO_NAMES, allow_names=True) == Exposure.PHONE


async def test_black_nomination_refuses_every_variant_and_keeps_the_draft(console: Console, app: App) -> None:
    console.as_("李四")
    await console.say("/nominate")
    await console.press(2)
    await console.say("三栋三零一门口")  # the place step refuses too
    assert "房号" in console.last.text
    await console.say("3栋")
    for variant, kind in EXPOSING:
        await console.say(f"{variant}在楼道堆放杂物")
        refusal = console.last.text
        assert KIND_WORD[kind] in refusal and variant not in refusal, variant
    await console.say("301门口堆放杂物")  # with the place: 3栋 + 301
    assert "房号" in console.last.text
    assert await _entries(app) == []
    # Conduct and place only: taken, with the place given before the refusals.
    await console.say("楼道堆放杂物，影响通行")
    assert console.last.labels == ["不附照片"]
    await console.press("不附照片")
    assert [(e.subject, e.text) for e in await _entries(app)] == [("3栋", "楼道堆放杂物，影响通行")]
    await nominate(console, "王五", "black", "小区北门", "车辆长期占用消防通道")
    assert [e.text for e in await _entries(app)][-1] == "车辆长期占用消防通道"


async def test_the_secretary_cannot_edit_a_name_into_a_black_entry(console: Console, app: App) -> None:
    await _review(console, "修改文字")
    await console.say("zhang san 在电梯里吸烟")
    assert "姓名" in console.last.text
    await console.say("电梯里长期有人吸烟")
    assert "已通过" in console.last.text
    assert (await _entries(app))[-1].text == "电梯里长期有人吸烟"
