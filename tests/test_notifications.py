"""The notification budget: a daily cap with the rest in one evening digest, quiet hours that hold non-urgent
messages until morning, no repeat of an unchanged notice (an escalation repeat a digest line), urgent kinds that
pass, and the 不再接收此类通知 button with /notifications to turn a kind back on."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from bot.app import App, build_app
from bot.core.clock import Clock
from bot.core.context import JobContext
from bot.core.types import Button, Reply, ToPerson
from bot.settings import Settings
from bot.transports.console import Console, Shown
from storage import notifications
from storage.compounds import Compound, set_compound_setting
from storage.db import transaction
from storage.notifications import Budget, Decision, Notice, NoticeKind, NoticeLog, NoticeOptOut, Urgency
from tests.conftest import START, add_console_person, person_ids

SHANGHAI = ZoneInfo("Asia/Shanghai")
OFF_LABEL = "不再接收此类通知"


def budget_settings(db_url: str) -> Settings:
    return Settings(_env_file=None, database_url=db_url, notification_budget=True)  # type: ignore[call-arg]


@pytest.fixture
async def budget_app(db_url: str) -> AsyncIterator[App]:
    application = build_app(budget_settings(db_url), clock=Clock(START, frozen=True))
    yield application
    await application.close()


@pytest.fixture
def chat(budget_app: App) -> Console:
    return Console(budget_app)


async def notify(app: App, name: str, text: str, kind: NoticeKind = NoticeKind.ANNOUNCEMENT, subject: str = "",
                 content: str = "", urgency: Urgency | None = None, buttons: tuple[tuple[Button, ...], ...] = ()) -> bool:
    """What a job does: a message to `name` nobody asked for, through the core's enqueue step and the outbox."""
    person = (await person_ids(app))[name]
    async with transaction(app.core.sessions) as session:
        queued = await app.core.enqueue(session, Reply(text, buttons=buttons, to=ToPerson(person), notice=Notice(
            kind, subject or text, content, urgency)), ToPerson(person), None, app.core.clock.now())
    await app.worker.drain()
    return queued


def private(chat: Console, name: str) -> list[Shown]:
    return chat.seen_by(name, "private")


# ---- the rules, without a database -------------------------------------------------------------------------------


def test_quiet_hours_cross_midnight_and_end_in_the_morning() -> None:
    budget = Budget.of(None)
    evening = datetime(2026, 11, 23, 21, 45, tzinfo=SHANGHAI)
    assert budget.quiet(evening) and budget.quiet(datetime(2026, 11, 24, 7, 0, tzinfo=SHANGHAI))
    assert not budget.quiet(datetime(2026, 11, 23, 21, 29, tzinfo=SHANGHAI))
    assert not budget.quiet(datetime(2026, 11, 24, 7, 30, tzinfo=SHANGHAI))
    assert budget.morning(evening) == datetime(2026, 11, 24, 7, 30, tzinfo=SHANGHAI)
    assert budget.morning(datetime(2026, 11, 24, 3, 0, tzinfo=SHANGHAI)) == datetime(2026, 11, 24, 7, 30,
                                                                                       tzinfo=SHANGHAI)
    assert budget.next_digest(datetime(2026, 11, 23, 20, 1, tzinfo=SHANGHAI)) == datetime(2026, 11, 24, 20, 0,
                                                                                          tzinfo=SHANGHAI)
    # Compound-local: 22:00 in Urumqi is 00:00 in Shanghai, and quiet there too.
    urumqi = Budget.of(Compound(name="x", code="X", invite_code="X", timezone="Asia/Urumqi"))
    assert urumqi.quiet(datetime(2026, 11, 23, 16, 0, tzinfo=UTC))
    assert not urumqi.quiet(datetime(2026, 11, 23, 14, 0, tzinfo=UTC))


# ---- through the core and the outbox -------------------------------------------------------------------------


async def test_over_the_cap_the_rest_arrive_as_one_evening_digest(chat: Console) -> None:
    app = chat.app
    for n in range(1, 6):
        await notify(app, "张三", f"公告{n}：电梯检修", subject=f"announcement:{n}")
    got = private(chat, "张三")
    # The cap counts the digest: two now, the rest in one message at 20:00.
    assert [s.text for s in got] == ["公告1：电梯检修", "公告2：电梯检修"]
    assert OFF_LABEL in got[0].labels
    await chat.clock_to("2026-11-23 19:50")
    assert len(private(chat, "张三")) == 2
    await chat.clock_to("2026-11-23 20:10")
    got = private(chat, "张三")
    assert len(got) == 3
    assert got[-1].text.splitlines() == ["今天的其他通知（3 条）：", "• 公告3：电梯检修", "• 公告4：电梯检修",
                                         "• 公告5：电梯检修"]
    # The digest was claimed: the next runs send nothing more.
    await chat.clock_to("2026-11-24 07:00")
    assert len(private(chat, "张三")) == 3


async def test_urgent_kinds_pass_the_cap_and_the_quiet_hours(chat: Console) -> None:
    app = chat.app
    for n in range(1, 4):
        await notify(app, "张三", f"公告{n}", subject=f"a:{n}")
    await notify(app, "张三", "明天 9:00–17:00 停水", NoticeKind.URGENT_ANNOUNCEMENT, subject="a:water")
    assert private(chat, "张三")[-1].text == "明天 9:00–17:00 停水"
    assert OFF_LABEL not in private(chat, "张三")[-1].labels
    await chat.clock_to("2026-11-23 23:00")
    before = len(private(chat, "张三"))
    await notify(app, "张三", "业主大会 23:30 开始", NoticeKind.MEETING_SOON, subject="meeting:1:60")
    await notify(app, "张三", "一个新诉求需要您处理", NoticeKind.CASE_TO_ACT, subject="case:1")
    assert [s.text for s in private(chat, "张三")[before:]] == ["业主大会 23:30 开始", "一个新诉求需要您处理"]


async def test_quiet_hours_hold_a_message_until_morning(chat: Console) -> None:
    app = chat.app
    await chat.clock_to("2026-11-23 22:00")
    assert await notify(app, "李四", "志愿任务：周六清扫楼道", NoticeKind.TASK, subject="task:1")
    assert private(chat, "李四") == []
    await chat.clock_to("2026-11-24 07:20")
    assert private(chat, "李四") == []
    await chat.clock_to("2026-11-24 07:40")
    assert [s.text for s in private(chat, "李四")] == ["志愿任务：周六清扫楼道"]


async def test_quiet_hours_and_cap_are_per_compound_settings(chat: Console) -> None:
    app = chat.app
    async with transaction(app.core.sessions) as session:
        compound = await session.get(Compound, 1)
        assert compound is not None
        set_compound_setting(compound, "notifications.daily_cap", "5")
        set_compound_setting(compound, "notifications.quiet_from", "08:00")
        set_compound_setting(compound, "notifications.quiet_until", "08:30")
        session.add(compound)
    for n in range(1, 6):
        await notify(app, "张三", f"公告{n}", subject=f"a:{n}")
    assert len(private(chat, "张三")) == 4
    await chat.clock_to("2026-11-23 21:45")
    await notify(app, "李四", "夜里也能发", subject="late")
    assert [s.text for s in private(chat, "李四")] == ["夜里也能发"]


async def test_an_unchanged_notice_is_not_sent_twice(chat: Console) -> None:
    app = chat.app
    assert await notify(app, "张三", "您的诉求 XFL-1 已受理", NoticeKind.CASE_UPDATE, "case:1", "accepted")
    assert not await notify(app, "张三", "您的诉求 XFL-1 已受理", NoticeKind.CASE_UPDATE, "case:1", "accepted")
    await chat.clock_to("2026-11-24 09:00")
    assert not await notify(app, "张三", "您的诉求 XFL-1 已受理（再次）", NoticeKind.CASE_UPDATE, "case:1", "accepted")
    assert await notify(app, "张三", "您的诉求 XFL-1 已办结", NoticeKind.CASE_UPDATE, "case:1", "resolved")
    assert [s.text for s in private(chat, "张三")] == ["您的诉求 XFL-1 已受理", "您的诉求 XFL-1 已办结"]


async def test_an_escalation_repeat_is_one_line_of_the_secretarys_digest(chat: Console) -> None:
    app = chat.app
    text = "诉求 XFL-1 在职能部门层级无人处理"
    await notify(app, "王书记", text, NoticeKind.ESCALATION, "case:1", "nobody:3")
    await notify(app, "张三", "您的诉求 XFL-1 已自动上升至职能部门层级", NoticeKind.CASE_UPDATE, "case:1", "level:3")
    for day in (24, 25):
        await chat.clock_to(f"2026-11-{day} 09:00")
        await notify(app, "王书记", text, NoticeKind.ESCALATION, "case:1", "nobody:3")
        await notify(app, "王书记", text, NoticeKind.ESCALATION, "case:1", "nobody:3")  # twice the same day
        await notify(app, "张三", "您的诉求 XFL-1 已自动上升至职能部门层级", NoticeKind.CASE_UPDATE, "case:1", "level:3")
        await chat.clock_to(f"2026-11-{day} 20:10")
    # The reporter heard it once; the secretary once, then one digest line a day.
    assert len(private(chat, "张三")) == 1
    secretary = [s.text for s in private(chat, "王书记")]
    assert secretary == [text, f"今天的其他通知（1 条）：\n• {text}", f"今天的其他通知（1 条）：\n• {text}"]


async def test_the_digest_keeps_the_buttons_of_what_it_merges(chat: Console) -> None:
    app = chat.app
    for n in range(1, 4):
        await notify(app, "张三", f"投票提醒{n}", NoticeKind.VOTE_REMINDER, subject=f"assembly:{n}",
                     buttons=((Button.do("去投票", "assembly.vote", assembly=n),),))
    await chat.clock_to("2026-11-23 20:10")
    digest = private(chat, "张三")[-1]
    assert digest.text.startswith("今天的其他通知（1 条）") and digest.labels == ["去投票"]
    async with app.core.sessions() as session:
        lines = (await session.exec(select(NoticeLog).where(NoticeLog.decision == Decision.DIGEST))).all()
    assert [row.text for row in lines] == [""]  # the text is not kept once sent


async def test_the_button_turns_a_kind_off_and_notifications_turns_it_back_on(chat: Console) -> None:
    app = chat.app
    await notify(app, "张三", "积分 +5：楼道清扫", NoticeKind.POINTS, "points:1")
    chat.as_("张三")
    assert chat.last.labels == [OFF_LABEL]
    token = chat.last.buttons[-1][0].data
    await chat.press(OFF_LABEL)
    assert "不再给您发送积分通知" in chat.last.text
    assert not await notify(app, "张三", "积分 +5：植树", NoticeKind.POINTS, "points:2")
    # Other kinds still come; a second press is told it is already off.
    assert await notify(app, "张三", "公告：电梯检修", subject="a:1")
    await chat._send(button=token)
    assert chat.last.text == "积分通知已经关闭了。发送 /notifications 可以重新开启。"
    await chat.say("/notifications")
    assert "✗ 积分通知（已关闭）" in chat.last.text and "✓ 公告" in chat.last.text
    assert "每天最多 3 条" in chat.last.text
    await chat.press("开启：积分通知")
    assert chat.last.text == "好的，已重新开启积分通知。"
    await chat.clock_to("2026-11-24 09:00")  # a new day: the cap is not in the way
    assert await notify(app, "张三", "积分 +5：植树", NoticeKind.POINTS, "points:2")
    assert private(chat, "张三")[-1].text == "积分 +5：植树"


async def test_the_button_is_the_recipients_alone_and_urgent_kinds_cannot_be_turned_off(chat: Console) -> None:
    app = chat.app
    await notify(app, "张三", "积分 +5：楼道清扫", NoticeKind.POINTS, "points:1")
    token = private(chat, "张三")[-1].buttons[-1][0].data
    chat.as_("李四")
    await chat._send(button=token)
    assert "积分" not in chat.last.text  # refused by the core: not their button
    await notify(app, "李四", "积分 +1", NoticeKind.POINTS, "points:9")
    assert private(chat, "李四")[-1].text == "积分 +1"
    async with app.core.sessions() as session:
        from storage.notifications import opt_out, opted_out

        assert not await opt_out(session, (await person_ids(app))["李四"], NoticeKind.CASE_TO_ACT, START)
        assert await opted_out(session, (await person_ids(app))["张三"]) == set()


async def test_without_the_budget_messages_pass_as_before(console: Console) -> None:
    app = console.app
    for n in range(1, 6):
        await notify(app, "张三", f"公告{n}", subject=f"a:{n}")
    got = private(console, "张三")
    assert len(got) == 5 and all(OFF_LABEL not in s.labels for s in got)


async def test_an_unmarked_message_to_someone_else_counts_as_other(chat: Console) -> None:
    app = chat.app
    person = (await person_ids(app))["张三"]
    for n in range(4):
        async with transaction(app.core.sessions) as session:
            await app.core.enqueue(session, Reply(f"消息{n}", to=ToPerson(person)), ToPerson(person), None,
                                   app.core.clock.now())
    await app.worker.drain()
    assert [s.text for s in private(chat, "张三")] == ["消息0", "消息1"]
    async with app.core.sessions() as session:
        kinds = set((await session.exec(select(NoticeLog.kind))).all())
    assert kinds == {NoticeKind.OTHER}


# ---- the weekly 红黑榜 -------------------------------------------------------------------------------------------


async def monday(console: Console, day: str) -> None:
    """Straight to just before the posting (the clock jumps; nothing else is due in between), then through it."""
    console.app.core.clock.set(datetime.fromisoformat(f"{day} 08:55").replace(tzinfo=SHANGHAI))
    await console.clock_to(f"{day} 09:10")


async def test_the_weekly_board_posts_only_new_and_changed_entries(console: Console) -> None:
    from tests.test_board import nominate

    await nominate(console, "李四", "black", "3栋楼下消防通道", "私家车长期占用消防通道")
    console.as_("王书记")
    await console.say("/board")
    await console.press("通过")
    await console.clock_to("+10m")  # the scheduler notes the next posting: Monday 2026-11-30 09:00
    await monday(console, "2026-11-30")
    first = [s for s in console.seen_by("王书记", "幸福里业主群") if s.text.startswith("幸福里红黑榜") and s.to == "group"]
    assert len(first) == 1 and "消防通道" in first[0].text
    # The next Monday nothing changed: no posting repeating it.
    await monday(console, "2026-12-07")
    assert len([s for s in console.seen_by("王书记", "幸福里业主群") if s.text.startswith("幸福里红黑榜")]) == 1
    # A new entry a week later: posted with a count of the open one, not the open one again.
    await nominate(console, "王五", "black", "小区东门", "垃圾桶旁乱丢装修垃圾")
    console.as_("王书记")
    await console.say("/board")
    await console.press("通过")
    await monday(console, "2026-12-14")
    posted = [s for s in console.seen_by("王书记", "幸福里业主群") if s.text.startswith("幸福里红黑榜") and s.to == "group"]
    assert len(posted) == 2
    assert "东门" in posted[1].text and "消防通道" not in posted[1].text
    assert "1 条" in posted[1].text
    # /board still shows every open entry.
    await console.say("/board")
    board = [s.text for s in console.seen_by("王书记") if "红黑榜" in s.text][-1]
    assert "消防通道" in board and "东门" in board


async def test_a_join_request_and_its_answer_pass_the_cap_and_the_quiet_hours(chat: Console) -> None:
    app = chat.app
    for n in range(1, 5):  # the secretary's budget for the day is spent
        await notify(app, "王书记", f"公告{n}：电梯检修", subject=f"announcement:{n}")
    await chat.clock_to("2026-11-23 22:30")  # and it is the quiet hours
    chat.as_("路人甲")
    await chat.say("/join XFL2026")
    await chat.say("1")
    await chat.say("1")
    await chat.say("102")
    await chat.press("租户")
    await chat.press("跳过")
    request = private(chat, "王书记")[-1]
    assert "路人甲" in request.text and "通过" in request.labels
    chat.as_("王书记")
    await chat.press("通过")
    assert private(chat, "路人甲")[-1].text.startswith("好消息：支部书记已通过您的申请")


async def test_a_fan_out_decides_as_one_notice_at_a_time_would_with_the_budget_read_once(
        budget_app: App, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job's notice to many people reads what the budget decides on for all of them at once (`known_of`), and
    decides for each what one notice at a time would: turned off, an unchanged repeat, over the day's cap (the
    digest), sent, and the same person twice (the second a repeat)."""
    app = budget_app
    now = app.core.clock.now()
    groups = {way: {role: await add_console_person(app, f"{role}{way}") for role in ("关", "重", "满", "新")}
              for way in ("逐个", "一起")}
    async with transaction(app.core.sessions) as session:
        for way in groups:
            session.add(NoticeOptOut(person_id=groups[way]["关"], kind=NoticeKind.ANNOUNCEMENT, created_at=now))
    for way in groups:
        await notify(app, f"重{way}", "周六停水", subject="停水")  # already told
        for n in range(2):  # two today: the third goes to the digest
            await notify(app, f"满{way}", f"通知{n}", subject=f"其他{n}")

    read: list[str] = []
    for name in ("_OPTED_OUT", "_DIRECT_COUNT", "_EARLIER"):
        prepared = getattr(notifications, name)
        for method in ("rows", "objects"):
            original = getattr(prepared, method)

            async def counted(session: Any, _name: str = name, _original: Any = original, **params: Any) -> Any:
                read.append(_name)
                return await _original(session, **params)
            monkeypatch.setattr(prepared, method, counted)

    def told(person: int) -> Reply:
        return Reply("周六停水", to=ToPerson(person), notice=Notice(NoticeKind.ANNOUNCEMENT, "停水"))

    decided: dict[str, list[tuple[str, Decision]]] = {}
    for way, people in groups.items():
        replies = [told(person) for person in [*people.values(), people["新"]]]
        read.clear()
        async with app.core.sessions() as session:
            before = (await session.exec(select(sa.func.max(NoticeLog.id)))).one() or 0
        async with transaction(app.core.sessions) as session:
            job = JobContext(app.core, session, now)
            for part in ([replies] if way == "一起" else [[reply] for reply in replies]):
                await app.core.emit_job(job, part)
        reads = list(read)
        async with app.core.sessions() as session:
            rows = (await session.exec(select(NoticeLog).where(
                col(NoticeLog.person_id).in_(list(people.values())), col(NoticeLog.id) > before)
                .order_by(col(NoticeLog.id)))).all()
        names = {person: role for role, person in people.items()}
        decided[way] = [(names[row.person_id], row.decision) for row in rows]
        if way == "一起":
            assert reads == [], reads
        else:
            assert reads, "one at a time reads the budget for each"
    assert decided["一起"] == decided["逐个"] == [
        ("关", Decision.OPTED_OUT), ("重", Decision.REPEAT), ("满", Decision.DIGEST), ("新", Decision.SEND),
        ("新", Decision.REPEAT)]
