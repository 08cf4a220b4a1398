"""The source articles' stories end to end, through the console, as the people in them act: a resident's first
message becoming a case that climbs the three levels and is chased, resolved with a photo and rated; a newcomer
joining, signing up for a weekly task and signing in at a meeting; a unit's owners deciding on an elevator with a
proxy and paper ballots through 公示; the property company assessed by the households and sent to rectify; a
department called in by the whistle; a supervisor reading the ledgers; the 红黑榜's weekly posting; a partner unit's
resource matched to a need; and the menus each role sees. Every story also checks that nobody was shown a crash
and that no Chinese reply carries a stray English word."""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlmodel import select

from bot.transports.console import Console, Shown
from storage.compounds import Compound, set_compound_setting
from storage.db import transaction

CRASH = "系统出了点问题"
# What a Chinese reply may carry in Latin letters: commands, case and code numbers, file kinds, units.
ALLOWED_LATIN = re.compile(
    r"/export [a-z]+|/[a-z_]+(?: remove)?|XFL[-0-9]*|[A-Z]{2,}-\d{4}-\d{4}|\b(?:XLSX|XLS|PDF|DOCX|DOC|JPG|PNG|A4|m²|QR)\b|ABCD2345|linli")


def stray_english(shown: list[Shown]) -> list[str]:
    """Lines of Chinese replies with a Latin word of three letters or more that is none of the allowed ones."""
    found = []
    for message in shown:
        for line in message.text.splitlines():
            if re.search(r"[A-Za-z]{3,}", ALLOWED_LATIN.sub("", line)):
                found.append(f"{message.to}: {line}")
    return found


def ascii_colons(shown: list[Shown]) -> list[str]:
    """Lines of Chinese replies with an ASCII colon after a Chinese word (全角 "：" is the Chinese colon); a time
    (20:00) and a link (https://) are not that."""
    return [f"{message.to}: {line}" for message in shown for line in message.text.splitlines()
            if re.search(r"[\u4e00-\u9fff）」”]:", line)]


def check_clean(console: Console) -> None:
    shown = console.transport.shown
    assert not [s.text for s in shown if CRASH in s.text]
    assert stray_english(shown) == []
    assert ascii_colons(shown) == []


def texts_to(console: Console, person: str, since: int = 0, chat: str = "private") -> str:
    return "\n".join(s.text for s in console.seen_by(person, chat)[since:])


async def wake_at(console: Console, when: str) -> None:
    """The bot wakes at this time of the compound (as after a night asleep): the clock moves there and every job
    that is due runs once, then the outbox is sent. Far quicker than `console.clock_to`'s ten-minute steps, and
    each story wakes right after the moment it is about."""
    app = console.app
    target = datetime.strptime(when, "%Y-%m-%d %H:%M").replace(tzinfo=ZoneInfo(app.settings.timezone))
    assert target > app.core.clock.now()
    app.core.clock.advance(target - app.core.clock.now())
    await app.core.run_jobs()
    await app.worker.drain()


def help_sections(text: str) -> dict[str, list[str]]:
    """/help's reply as {section: [command, ...]} (a line not starting with a command is a section's title)."""
    sections: dict[str, list[str]] = {}
    current = ""
    for line in text.splitlines()[1:]:
        if line.startswith("/"):
            sections.setdefault(current, []).append(line.split(" — ")[0])
        else:
            current = line
    return sections


async def set_setting(console: Console, key: str, value: str) -> None:
    async with transaction(console.app.core.sessions) as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        set_compound_setting(compound, key, value)
        session.add(compound)


async def file_parking_case(console: Console) -> None:
    console.as_("张三")
    await console.say("楼下有人乱停车，堵住了单元门口")
    assert console.last.labels == ["反映诉求", "提需求", "查看菜单"]
    await console.press("反映诉求")
    await console.press("乱停车")
    assert "照片" in console.last.text  # the first message is the description: not asked again
    await console.press("跳过")
    await console.press("我的楼栋")
    await console.press("显示我的姓名")
    await console.press("确认")
    assert "XFL-2026-0001" in console.last.text and "楼栋" in console.last.text


async def test_parking_case_climbs_the_levels_is_chased_resolved_with_a_photo_and_rated(console: Console) -> None:
    await set_setting(console, "complaints.resolve_days", '{"1": 3, "2": 7, "3": 2}')
    await file_parking_case(console)
    assert "您有一件新诉求" in console.last_for("李楼长").text  # level 1: the building leader

    console.as_("李楼长")
    await console.press("受理")
    assert "已受理" in console.last_for("张三").text

    # The building leader lets the 3 days pass: the compound level, with the secretary.
    seen = len(console.seen_by("李楼长"))
    await wake_at(console, "2026-11-26 09:10")
    assert "第 2 级（小区）" in console.last_for("王书记").text
    assert "已不再由您办理" in texts_to(console, "李楼长", seen)
    assert "已自动上升至小区层级" in console.last_for("张三").text

    # Nobody at the compound level accepts within a day: the street's department.
    await wake_at(console, "2026-11-27 09:20")
    card = console.last_for("城管刘科长")
    assert "第 3 级（职能部门）" in card.text and "城管" in card.text
    assert "已自动上升至职能部门层级" in console.last_for("张三").text

    # A day later the department is chased, and stays the handler (no higher level).
    reporter_heard = len(console.seen_by("张三"))
    await wake_at(console, "2026-11-28 09:30")
    chase = console.last_for("城管刘科长")
    assert "催办提醒" in chase.text and "未按时受理" in chase.text  # the time to respond, not to resolve
    assert "已催办该部门" in console.last_for("王书记").text
    assert len(console.seen_by("张三")) == reporter_heard  # the reporter was told once, when it got there

    console.as_("城管刘科长")
    await console.press("受理")
    # Accepted, but not resolved in the department's 2 days: chased to resolve, not asked to accept again.
    await wake_at(console, "2026-11-29 09:30")
    chase = console.last_for("城管刘科长")
    assert "已超过办结时限" in chase.text and "受理" not in chase.text.split("\n")[0]
    assert chase.labels[-1] == "办结"
    await console.press("办结")
    await console.say("已联系车主挪车，并在单元门口设置禁停标志")
    await console.photo()
    await console.press("完成上传")
    assert "已标记为办结" in console.last.text
    assert any(s.has_image for s in console.seen_by("张三"))  # the result's photo reaches the reporter
    assert "您对办理结果满意吗" in console.last_for("张三").text
    assert "您对该部门的响应评价如何" in console.last_for("王书记").text

    console.as_("张三")
    await console.say("/start")
    assert "待评价" in console.last.text
    await console.press("5 很满意")
    assert "诉求已关闭" in console.last.text
    console.as_("王书记")
    await console.press("满意")

    console.as_("张三")
    await console.say("/case XFL-2026-0001")
    card_text = console.last.text
    assert "满意度：5/5" in card_text and "部门响应评价：满意" in card_text
    assert "办结 · 城管刘科长" in card_text and "已设置禁停标志" not in card_text
    check_clean(console)


async def test_whistle_calls_in_the_department_which_asks_the_reporter_and_answers(console: Console) -> None:
    await file_parking_case(console)
    console.as_("王书记")
    await console.say("/case XFL-2026-0001")
    await console.press("移交/上报")
    await console.press("不加说明")
    await console.press("吹哨（呼叫部门）")
    assert console.last.labels == ["城管"]
    await console.press("城管")
    await console.say("多次劝导无效，请城管执法")
    assert "已吹哨转交城管" in console.last.text
    assert "已转交街道职能部门：城管" in console.last_for("张三").text

    console.as_("城管刘科长")
    await console.press("受理")
    await console.press("请反映人补充")
    await console.say("请提供车牌号")
    console.as_("张三")
    assert "请提供车牌号" in console.last.text
    await console.say("鄂E12345")  # a plain reply answers the question, no button needed
    assert "已补充到诉求" in console.last.text
    assert "鄂E12345" in console.last_for("城管刘科长").text

    console.as_("城管刘科长")
    await console.press("办结")
    await console.say("已贴单并拖离违停车辆")
    await console.press("不附照片")
    console.as_("王书记")
    await console.press("基本满意")
    console.as_("张三")
    await console.press("4 满意")

    console.as_("城管刘科长")  # the case is closed: its reporter is no longer named to the department
    await console.say("/case XFL-2026-0001")
    history = console.last.text
    for step in ("已吹哨，职能部门报到 · 王书记 · 多次劝导无效", "请求补充 · 城管刘科长", "已补充 · 反映人 · 鄂E12345",
                 "部门响应已评价 · 王书记 · 基本满意", "满意度：4/5"):
        assert step in history
    console.as_("李四")  # another resident: as if the number did not exist
    await console.say("/case XFL-2026-0001")
    assert "没有找到" in console.last.text
    check_clean(console)


async def test_newcomer_joins_signs_up_for_a_weekly_task_and_signs_in_at_a_meeting(console: Console) -> None:
    console.as_("路人甲")
    await console.say("/start XFL2026")
    for choice in ("2栋", "2单元", "202", "租户", "跳过"):
        await console.press(choice)
    assert "等待支部书记审核" in console.last.text
    # Waiting: /start says so, rather than asking for an invite code again.
    await console.say("/start")
    assert "您加入幸福里的申请正在等待支部书记审核" in console.last.text
    assert console.last.labels == []
    console.as_("王书记")
    await console.press("通过")
    assert "支部书记已通过您的申请" in console.last_for("路人甲").text

    await console.say("/task")
    for line in ("周二为独居老人代购", "帮独居老人买菜送上门", "党群服务中心", "周二 10:00", "12:00", "2"):
        await console.say(line)
    await console.press("已完成")
    await console.press("按小时（每小时 2 分）")
    await console.press("每周二10:00重复")
    assert "每周二10:00重复" in console.last.text
    await console.press("发布")
    assert "已报名 0/2" in console.last_for("group", "幸福里业主群").text

    console.as_("路人甲")
    await console.say("/tasks")
    await console.press("报名")
    assert "您已报名" in console.last.text
    await console.say("/start")
    assert "您报名的志愿任务：周二为独居老人代购" in console.last.text

    # The first occurrence starts: the next one is posted, and the organiser confirms attendance.
    await wake_at(console, "2026-11-24 12:30")
    assert "2026-12-01 10:00" in console.last_for("group", "幸福里业主群").text
    console.as_("王书记")
    await console.press("确认出勤")
    assert "获得 4 积分" in console.last_for("路人甲").text

    # A residents' meeting tonight: sign-in opens half an hour before.
    await console.say("/newmeeting")
    await console.press("居民议事会")
    for line in ("讨论停车位规划", "党群服务中心", "19:30"):
        await console.say(line)
    await console.press("跳过")
    await console.press("全小区")
    await console.press("仅此一次")
    await console.press("发布")
    await wake_at(console, "2026-11-24 19:10")
    assert "签到" in console.last_for("group", "幸福里业主群").labels[0]

    console.as_("路人甲")
    await console.say("/meetings")
    # One card for the meeting, with its sign-in (not a second card for the same meeting).
    cards = [s for s in console.seen_by()[-3:] if "讨论停车位规划" in s.text]
    assert len(cards) == 1 and "现在可以签到" in cards[0].text
    console.in_("幸福里业主群")
    await console.press("签到")
    assert "已签到：讨论停车位规划，19:10" in console.last_for("路人甲").text
    console.as_("路人甲")
    await console.press("签到")
    assert "签一次就可以了" in console.last.text

    console.as_("王书记")
    await console.say("/meetings")
    await console.press("签到表")
    assert "签到（1人）：路人甲" in console.last.text
    check_clean(console)


async def test_unit_owners_decide_on_an_elevator_with_a_proxy_paper_ballots_and_publicity(console: Console) -> None:
    await set_setting(console, "assembly.publicity_days", "3")
    console.as_("王书记")
    await console.say("/assembly")
    await console.say("2栋1单元加装电梯")
    await console.say("2栋1单元加装电梯，费用按楼层分摊")
    assert "✓ （七）改建、重建建筑物及其附属设施（含加装电梯） · 特别事项" in console.last.labels
    await console.press("（七）改建、重建建筑物及其附属设施（含加装电梯） · 特别事项")
    await console.press("事项录入完毕")
    await console.press("立即开始")
    await console.say("11-26 20:00")
    await console.press("更改表决范围（楼栋或单元）")
    await console.press("2栋")
    await console.press("1单元")
    assert "仅由2栋1单元的业主表决" in console.last.text
    await console.press("确认并发起")
    posting = console.last_for("group", "幸福里业主群").text
    assert "业主 0 / 3 人" in posting  # 李四, 陈阿姨 and the roster's 吴桂英: the unit's owners only
    assert "正在投票" in console.last_for("李四").text and "正在投票" in console.last_for("陈阿姨").text
    assert not console.seen_by("张三")  # the rest of the compound is not asked

    # 陈阿姨 authorises her neighbour 张三, who votes for her room.
    console.as_("陈阿姨")
    await console.say("/proxy")
    await console.press("委托投票：2栋1单元加装电梯")
    await console.say("13800000005")
    await console.press("确认委托")
    assert "陈阿姨委托您" in console.last_for("张三").text
    console.as_("张三")
    await console.press("投票")
    await console.press("同意")
    assert "2栋1单元102（受陈阿姨委托）" in console.last.text
    await console.press("提交")
    assert "2栋1单元102（受陈阿姨委托）" in console.last.text and "已记录" in console.last.text
    assert "您委托的张三已代您" in console.last_for("陈阿姨").text

    console.as_("李四")
    await console.say("/start")
    await console.press("投票：2栋1单元加装电梯")
    await console.press("同意")
    await console.press("提交")

    # The roster's owner of the unit's other rooms hands in paper ballots.
    console.as_("王书记")
    for room in ("2栋1单元101", "2栋1单元202", "2栋1单元301"):
        await console.say("/paperballot")
        await console.say(room)
        await console.press("同意")
        await console.press("提交")
        assert "书面表决票已录入" in console.last.text
    assert "业主 3 / 3 人" in console.last_for("group", "幸福里业主群").text

    await wake_at(console, "2026-11-26 20:05")
    result = texts_to(console, "group", chat="幸福里业主群")
    assert "结果：通过" in result and "仅由2栋1单元的业主表决" in result
    assert "提出异议" in console.last_for("group", "幸福里业主群").labels

    console.as_("陈阿姨")
    await console.say("/objection")  # one result is published: its reason is asked at once
    await console.say("各楼层分摊比例没有张贴公示")
    assert "已登记" in console.last.text
    console.as_("孙委员")
    await console.press("答复异议")
    await console.say("分摊比例已张贴在单元门口，并附在公示材料中")
    assert "分摊比例已张贴" in console.last_for("陈阿姨").text

    await wake_at(console, "2026-11-30 08:00")
    assert "结果正式生效" in console.last_for("group", "幸福里业主群").text
    console.as_("李四")
    await console.say("/objection")
    assert "没有处于公示期的表决结果" in console.last.text
    console.as_("王书记")
    await console.say("/results")
    await console.press("结果 #1")
    assert "正式生效" in console.last.text
    check_clean(console)


async def test_households_assess_the_property_company_which_is_sent_to_rectify_then_reported(
        console: Console) -> None:
    await set_setting(console, "property.answer_days", "2")
    await set_setting(console, "property.rectify_days", "3")
    console.as_("王书记")
    await console.say("/assess")
    assert "已通知每一户" in console.seen_by("王书记")[-2].text
    assert not console.seen_by("赵物业")  # the company's staff is never asked to assess itself
    for resident, stars in (("张三", "1"), ("李四", "2")):
        console.as_(resident)
        await console.press("开始填写")
        for _ in range(6):
            await console.press(stars)
        await console.press("跳过")
        assert "感谢您的评价" in console.last.text

    await wake_at(console, "2026-11-25 09:05")
    assert "等级 C" in console.last_for("group", "幸福里业主群").text
    order = console.last_for("赵物业")
    assert "限期整改" in order.text and order.labels == ["报告整改情况"]

    console.as_("赵物业")
    await console.press("报告整改情况")
    await console.say("已增加两名保洁员，每天清扫楼道")
    console.as_("王书记")
    await console.press("尚未到位")
    await console.say("绿化仍未修剪")
    assert "绿化仍未修剪" in console.last_for("赵物业").text

    await wake_at(console, "2026-11-28 10:00")
    assert "已逾期，已上报社区和街道" in console.last_for("城管刘科长").text
    console.as_("王书记")
    await console.say("/revocation")
    assert "整改单 #1 未通过" in console.last.text
    await console.say("整改逾期未完成，居民满意度持续低下")
    assert "已记录" in console.last.text and console.last.has_document
    # One word for the rectification order throughout: 整改单, as the assessment issued it.
    assert not [s.text for s in console.transport.shown if "整改令" in s.text]
    assert "建议取消幸福物业的经营资质" in console.last_for("城管刘科长").text
    check_clean(console)


async def test_supervisor_reads_the_ledgers_and_writes_nothing(console: Console) -> None:
    await file_parking_case(console)
    console.as_("王书记")
    await console.say("/grant 6 监事")
    assert "李四 现在是监事了" in console.last.text
    console.as_("李四")
    await console.say("/export cases")
    assert console.last.has_document and "诉求台账" in console.last.text
    await console.say("/export members")
    assert "电话号码仅在书记导出的名单中显示" in console.last.text
    await console.say("/monthly")
    assert "月报" in console.seen_by()[-2].text
    for command in ("/task", "/announce", "/assembly"):
        await console.say(command)
        assert "抱歉，只有" in console.last.text
    check_clean(console)


async def test_red_and_black_list_is_posted_on_monday_and_corrections_follow(console: Console) -> None:
    console.as_("陈阿姨")
    await console.say("/nominate")
    await console.press("🔴 红榜：好人好事")
    await console.say("3栋王五一家")
    await console.say("每天帮独居老人取快递、倒垃圾")
    await console.press("不附照片")
    console.as_("王书记")
    await console.press("通过")
    assert "将在下一期发布" in console.last.text
    console.as_("陈阿姨")
    await console.say("/nominate")
    await console.press("⚫ 黑榜：不文明行为")
    await console.say("3栋楼道")
    await console.say("堆放杂物堵塞消防通道")
    await console.press("不附照片")
    console.as_("王书记")
    await console.press("通过")
    await console.say("/board")  # the preview of Monday's posting
    assert "每天帮独居老人取快递" in console.seen_by()[-2].text or "每天帮独居老人取快递" in console.last.text

    await wake_at(console, "2026-11-30 09:05")
    posting = [s for s in console.seen_by("group", "幸福里业主群") if "红黑榜" in s.text]
    assert "每天帮独居老人取快递" in posting[0].text and "堆放杂物堵塞消防通道" in posting[0].text
    assert any(s.has_image for s in console.seen_by("group", "幸福里业主群"))  # the poster

    console.as_("赵物业")
    await console.say("/board")
    await console.press("已整改：1")
    assert "已整改" in console.last_for("陈阿姨").text
    console.as_("陈阿姨")
    await console.say("/board")
    assert "✅ 已整改：3栋楼道 — 堆放杂物堵塞消防通道" in console.last.text
    check_clean(console)


async def test_partner_units_resource_is_matched_to_a_residents_need(console: Console) -> None:
    console.as_("王书记")
    await console.say("/addresource")
    await console.press("场地")
    await console.say("西陵小学操场，周末开放")
    await console.press("跳过")
    await console.press("西陵小学")
    assert "已加入资源清单" in console.last.text

    # A resident offers a skill: the secretary names them by their number, as the bot asks, typed in the console.
    await console.say("/addresource")
    await console.press("技能")
    await console.say("家电维修，周末上门")
    await console.press("跳过")
    await console.line("#5")
    assert "已加入资源清单" in console.last.text and "张三" in console.last.text

    console.as_("陈阿姨")
    await console.say("/need")
    await console.press("儿童托管")
    await console.say("周末想找个地方让孩子们踢球")
    await console.press("跳过")
    console.as_("王书记")
    await console.press("对接资源")
    assert len(console.last.labels) == 2
    await console.press("#1 西陵小学操场，周末开放")
    assert "何老师" in console.last.text  # the contact does not use linli yet: call them
    assert "已对接到西陵小学" in console.last_for("陈阿姨").text
    console.as_("陈阿姨")
    await console.say("/resources")
    assert "西陵小学操场" in console.last.text
    check_clean(console)


async def test_start_and_help_for_each_role(console: Console) -> None:
    sections = {"王书记": "管理", "李楼长": "管理", "孙委员": "管理", "赵物业": "管理", "城管刘科长": "管理",
                "张三": "议事与投票", "王五": "诉求", "陈阿姨": "党员"}
    for person, section in sections.items():
        console.as_(person)
        await console.say("/start")
        assert section in console.last.labels, person
        await console.press(section)
        assert console.last.labels[-1] == "返回菜单", person
        await console.say("/help")
        assert console.last.text.startswith("您可以使用的功能"), person
    console.as_("陈阿姨")  # each command in the section it belongs to, not under 更多
    await console.say("/help")
    found = help_sections(console.last.text)
    assert "/areas" in found["党员"] and "/resources" in found["诉求"] and "/notifications" in found["我的账户"]
    assert {"/proxy", "/objection"} <= set(found["议事与投票"]) and "/pages" in found["公告与公示"]
    assert "/link" in found["我的账户"] and "更多" not in found
    console.as_("王五")  # a tenant: no proxy voting
    await console.say("/help")
    assert "/proxy" not in console.last.text and "/complain" in console.last.text

    # The street admin holds no role in a compound: /start leads to /street, /help lists nothing they cannot use.
    console.as_("周主任")
    await console.say("/start")
    assert "西陵街道" in console.last.text and "/street" in console.last.text
    await console.press("街道概况")
    assert "城管：#" in console.last.text
    await console.say("/help")
    assert "/complain" not in console.last.text and "/tasks" not in console.last.text

    console.as_("陌生人")
    await console.say("/start")
    assert "/join" in console.last.text and console.last.labels == ["加入小区"]
    check_clean(console)
