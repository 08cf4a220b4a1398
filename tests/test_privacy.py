"""Personal data (PIPL) through the console: /mydata's spreadsheet, leaving a compound, forgetting a person (in
chat and from the shell) with tallies, ledgers and exports checked before and after, and the retention of
complaint photos."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook
from sqlmodel import SQLModel, col, func, select

from bot.app import App
from bot.cli import main
from bot.core.i18n import Catalogs
from bot.transports.console import Console
from storage import points as ledger
from storage.access_log import Access, Via
from storage.assembly import (
    Assembly,
    Objection,
    Proxy,
    ProxyStatus,
    assembly_turnout,
    export_xlsx,
    tally_assembly,
)
from storage.complaints import Case, ledger_xlsx
from storage.compounds import Chat, compound_by_code
from storage.conversations import Conversation
from storage.db import transaction
from storage.meetings import MeetingAttendance
from storage.party import export_party
from storage.people import Identity, Membership, MembershipStatus, Person, RoleGrant
from storage.points import PointsEntry
from storage.privacy import ACTS, PERSONAL, PHOTO_RETENTION, Fate, my_data
from storage.volunteering import TaskSignup, VolunteerTask
from tests.conftest import START, person_ids
from tests.test_assembly import _ballot, _open, _own
from tests.test_assembly_proxy import _authorise
from tests.test_assembly_proxy import _open as _open_for_proxies
from tests.test_assembly_publicity import _closed_assembly, _object
from tests.test_complaints import file_case
from tests.test_meeting_signin import call_meeting, quietly_to
from tests.test_points import _earn

GROUP = "幸福里业主群"
NAME, PHONE = "张三", "13800000005"  # the demo's 张三 and his phone number (storage/demo.py)


def _sheets(data: bytes) -> dict[str, list[tuple[Any, ...]]]:
    book = load_workbook(io.BytesIO(data))
    return {sheet.title: list(sheet.iter_rows(values_only=True)) for sheet in book.worksheets}


def _cells(data: bytes) -> str:
    return "\n".join(str(value) for rows in _sheets(data).values() for row in rows for value in row if value is not None)


async def test_mydata_sends_a_spreadsheet_with_the_persons_complaint_and_points(console: Console) -> None:
    number = await file_case(console, NAME, "噪音", "楼上每天夜里十二点还在装修，电钻声很大。")
    await _earn(console)  # 张三 volunteers two hours: 4 points
    console.as_(NAME)
    before = len(console.transport.documents)
    await console.say("/mydata")
    assert console.last.has_document and "/forget" in console.last.text
    assert len(console.transport.documents) == before + 1
    filename, data = console.transport.documents[-1]
    assert filename.endswith(".xlsx")
    sheets = _sheets(data)
    # One sheet per kind of record, headers in the person's language (zh_CN).
    you = sheets["本人"]
    assert you[0][:3] == ("编号", "姓名", "手机号") and you[1][1:3] == (NAME, PHONE)
    complaints = sheets["诉求"]
    assert complaints[0][0] == "诉求编号"
    assert [row[0] for row in complaints[1:]] == [number]
    assert complaints[1][3] == "楼上每天夜里十二点还在装修，电钻声很大。"
    points = sheets["积分"]
    assert points[0][2] == "积分" and [row[2] for row in points[1:]] == [4]
    assert [row[1] for row in sheets["志愿报名"][1:]] == ["清理楼道杂物"]
    memberships = sheets["所在小区"]
    assert memberships[1][:3] == ("幸福里", "1栋1单元101", "owner")
    # Only their own records: 李四's complaint is not in 张三's file.
    await file_case(console, "李四", "乱停车", "一辆白色轿车长期停在1栋门口。")
    console.as_(NAME)
    await console.say("/mydata")
    assert [row[0] for row in _sheets(console.transport.documents[-1][1])["诉求"][1:]] == [number]
    # In English, the same file speaks English.
    await console.say("/lang en")
    await console.say("/mydata")
    english = _sheets(console.transport.documents[-1][1])
    assert english["Complaints"][0][0] == "Case number" and english["Points"][1][2] == 4


async def _state(app: App, name: str) -> tuple[list[Membership], list[RoleGrant], list[Conversation]]:
    people = await person_ids(app)
    async with app.core.sessions() as session:
        memberships = list((await session.exec(select(Membership).where(Membership.person_id == people[name]))).all())
        grants = list((await session.exec(select(RoleGrant).where(RoleGrant.person_id == people[name]))).all())
        convos = list((await session.exec(select(Conversation).where(Conversation.person_id == people[name]))).all())
    return memberships, grants, convos


async def test_leaving_a_compound_revokes_roles_drops_conversations_and_tells_the_secretary(console: Console,
                                                                                            app: App) -> None:
    # 李楼长 (building leader of 1栋, party member) has something open in the group chat.
    people = await person_ids(app)
    async with transaction(app.core.sessions) as session:
        group = (await session.exec(select(Chat).where(Chat.title == GROUP))).one()
        session.add(Conversation(person_id=people["李楼长"], chat_id=group.id or 0, key="k", flow="need",
                                 step="text", compound_id=1))
    console.as_("李楼长")
    await console.say("/leavecompound")
    assert "幸福里" in console.last.text
    await console.press("留下")
    assert "仍是幸福里的成员" in console.last.text
    memberships, grants, _ = await _state(app, "李楼长")
    assert {m.status for m in memberships} == {MembershipStatus.APPROVED}

    await console.say("/leavecompound")
    await console.press("退出幸福里")
    assert "您已退出幸福里" in console.last.text
    memberships, grants, convos = await _state(app, "李楼长")
    assert {m.status for m in memberships} == {MembershipStatus.LEFT}
    assert grants and all(g.revoked_at is not None for g in grants)
    assert convos == []
    told = console.last_for("王书记").text
    assert "李楼长" in told and "1栋2单元201" in told and "已退出幸福里" in told

    # No more member commands, in private or in the group; joining again is open.
    for command in ("/points", "/complain", "/tasks", "/leavecompound"):
        await console.say(command)
        assert "还没有加入" in console.last.text, command
    console.in_(GROUP)
    await console.say("/rank")
    assert "只有幸福里的成员" in console.last.text
    console.as_("李楼长")
    await console.say("/join XFL2026")
    assert "欢迎" in console.last.text

    # The last secretary cannot leave, at the start or at the confirmation.
    console.as_("王书记")
    await console.say("/leavecompound")
    assert "唯一的书记" in console.last.text
    memberships, grants, _ = await _state(app, "王书记")
    assert {m.status for m in memberships} == {MembershipStatus.APPROVED}
    assert all(g.revoked_at is None for g in grants)


async def _figures(app: App, person_id: int) -> tuple[Any, Any, dict[int, int], int]:
    async with app.core.sessions() as session:
        assembly = (await session.exec(select(Assembly))).one()
        results = await tally_assembly(session, assembly)
        turnout = await assembly_turnout(session, assembly)
        sums = dict((await session.exec(select(PointsEntry.person_id, func.sum(PointsEntry.amount))
                                        .group_by(col(PointsEntry.person_id)))).all())
        mine = await ledger.balance(session, 1, person_id)
    return results, turnout, sums, mine


async def _leftovers(app: App, *needles: str) -> list[str]:
    """Every text of every table (strings, and JSON as written out) that still contains one of `needles`."""
    found = []
    async with app.core.sessions() as session:
        conn = await session.connection()
        for table in SQLModel.metadata.sorted_tables:
            for row in (await conn.execute(sa.select(table))).all():
                for column, value in zip(table.columns, row, strict=True):
                    if isinstance(value, str):
                        text = value
                    elif isinstance(value, dict | list):
                        text = json.dumps(value, ensure_ascii=False)
                    else:
                        continue
                    found += [f"{table.name}.{column.name}: {text[:120]}" for n in needles if n in text]
    return found


async def _exports(app: App, out: Path) -> dict[str, str]:
    """The ledger, the assembly's ballots and the party members' files, as text."""
    async with transaction(app.core.sessions) as session:
        compound = await compound_by_code(session, "XFL")
        assert compound is not None
        assembly = (await session.exec(select(Assembly))).one()
        start = START - timedelta(days=30)
        cases = await ledger_xlsx(session, compound, start, start + timedelta(days=400))
        ballots = await export_xlsx(session, assembly.id or 0)
        assert ballots is not None
        files = await export_party(session, compound, 2026, out, Catalogs().translator("zh_CN"))
    texts = {"cases": _cells(cases), "assembly": _cells(ballots)}
    for path in files:
        texts[path.name] = path.name + "\n" + _cells(path.read_bytes())
    return texts


async def test_forgetting_keeps_the_tally_and_the_ledger_and_leaves_no_name_or_phone(console: Console, app: App,
                                                                                     tmp_path: Path) -> None:
    await _own(app)
    await _open(console)
    await _ballot(console, NAME, "所有房屋投同样的票", "同意", "同意", "赵大", "钱二", "选好了", "提交")
    await _ballot(console, "李四", "所有房屋投同样的票", "反对", "同意", "孙三", "选好了", "提交")
    number = await file_case(console, NAME, "噪音", f"楼上装修太吵。我是{NAME}，电话 138 0000 0005，晚上都在家。")
    assert NAME in console.last_for("李楼长").text  # the handler's card, which the outbox keeps
    await _earn(console)
    people = await person_ids(app)
    console.as_("王书记")
    await console.say(f"/grant {people[NAME]} party_member")  # so that 张三 is in the party export too
    assert NAME in console.last.text
    before = await _figures(app, people[NAME])
    exports = await _exports(app, tmp_path / "before")
    assert NAME in exports["cases"] and NAME in exports["assembly"]
    assert any(NAME in text for key, text in exports.items() if key.startswith("party-"))
    assert await _leftovers(app, NAME, PHONE)

    console.as_(NAME)
    await console.say("/forget")
    assert "/mydata" in console.last.text and "已注销用户#" in console.last.text
    await console.press("保留我的信息")
    assert "没有删除" in console.last.text
    await console.say("/forget")
    await console.press("删除我的信息")
    assert "已注销用户#" in console.last.text
    async with app.core.sessions() as session:
        person = await session.get(Person, people[NAME])
        assert person is not None
        pseudonym = person.name
        assert pseudonym.startswith("已注销用户#") and person.phone == ""
        assert (await session.exec(select(Identity).where(Identity.person_id == people[NAME]))).all() == []
        case = (await session.exec(select(Case).where(Case.number == number))).one()
    # What they wrote is kept, their name and number taken out of it.
    assert case.description == f"楼上装修太吵。我是{pseudonym}，电话 ***，晚上都在家。"

    # The tally, the turnout and every balance are what they were; the ledger keeps its entries.
    after = await _figures(app, people[NAME])
    assert after == before and after[3] == 4
    # No table holds the name or the phone number any more, and no export shows them.
    assert await _leftovers(app, NAME, PHONE) == []
    exports = await _exports(app, tmp_path / "after")
    for key, text in exports.items():
        assert NAME not in text and PHONE not in text, key
    assert pseudonym in exports["cases"] and pseudonym in exports["assembly"]
    # Their roles ended with them, so the party members' files (current members) no longer include theirs.
    assert not any(f"-{people[NAME]}-" in key for key in exports)

    # The platform account is a stranger now: no compound, no points.
    console.as_(NAME)
    await console.say("/points")
    assert "还没有加入" in console.last.text


async def test_the_only_secretary_cannot_be_forgotten_and_the_shell_forgets_by_number(
        console: Console, app: App, db_url: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    console.as_("王书记")
    await console.say("/forget")
    assert "唯一的书记" in console.last.text
    people = await person_ids(app)
    monkeypatch.setenv("DATABASE_URL", db_url)

    assert await asyncio.to_thread(main, ["person", "forget", str(people["王书记"])]) == 1
    assert "唯一的书记" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["person", "forget", "999999"]) == 1
    assert "#999999" in capsys.readouterr().err
    assert await asyncio.to_thread(main, ["person", "forget", str(people["李四"])]) == 0
    said = capsys.readouterr().out
    assert "已注销用户#" in said and "删除账号 1 个" in said
    assert await asyncio.to_thread(main, ["person", "forget", str(people["李四"])]) == 0
    assert "此前已删除" in capsys.readouterr().out
    assert await _leftovers(app, "李四", "13800000006") == []
    # 李四 writing again is someone new.
    console.as_("李四")
    await console.say("/points")
    assert "还没有加入" in console.last.text


async def test_complaint_photos_are_forgotten_after_the_retention_period(console: Console, app: App) -> None:
    async with transaction(app.core.sessions) as session:
        compound = await compound_by_code(session, "XFL")
        assert compound is not None
        compound.settings = {**compound.settings, PHOTO_RETENTION: 30}
        session.add(compound)
    number = await file_case(console, NAME, "噪音", "楼上每天夜里十二点还在装修，电钻声很大。", photos=2)
    console.as_("李楼长")
    await console.press("受理")
    await console.press("办结")
    await console.say("已经和楼上住户沟通，晚上十点后停止施工。")
    await console.press("不附照片")
    console.as_(NAME)
    await console.press("5")

    async def photos() -> dict[str, Any]:
        async with app.core.sessions() as session:
            return (await session.exec(select(Case).where(Case.number == number))).one().photos

    assert len((await photos())["ids"]) == 2
    closed = app.core.clock.now()
    app.core.clock.set(closed + timedelta(days=29))
    await console.clock_to("+2h")
    assert len((await photos())["ids"]) == 2  # 29 days after the close: still kept
    app.core.clock.set(closed + timedelta(days=30))
    await console.clock_to("+2h")
    erased = await photos()
    assert "ids" not in erased and erased["erased"] == 2
    assert datetime.fromisoformat(erased["erased_at"]) >= closed + timedelta(days=30)
    console.as_("李楼长")
    await console.say(f"/case {number}")
    assert "查看照片" not in console.last.labels
    console.as_(NAME)
    await console.say("/mydata")
    complaints = _sheets(console.transport.documents[-1][1])["诉求"]
    assert complaints[1][11] == 0 and complaints[1][12].startswith(f"{closed.year}-")


def test_every_column_that_names_a_person_is_known_to_the_privacy_module() -> None:
    """A table added with a column referencing person.id must say, in storage.privacy.PERSONAL, which /mydata
    sheet shows it and what /forget does with it, and why."""
    import storage.tables  # noqa: F401  # every table in the metadata

    missing = [f"{table.name}.{column.name}" for table in SQLModel.metadata.sorted_tables for column in table.columns
               if any(fk.column.table.name == "person" for fk in column.foreign_keys)
               and (table.name, column.name) not in PERSONAL]
    assert missing == [], "add these to storage.privacy.PERSONAL: " + ", ".join(missing)
    for (name, column), held in PERSONAL.items():
        table = SQLModel.metadata.tables[name]
        assert column in table.c, f"{name}.{column}"
        assert held.why, f"{name}.{column}: say why"
        if held.sheet == ACTS:
            assert held.label and held.at in table.c, f"{name}.{column}"
        if held.leave == Fate.ERASED:
            assert "compound_id" in table.c, f"{name}.{column}: leaving erases the rows of one compound"


async def test_mydata_has_a_sheet_for_every_kind_the_registry_names(console: Console, app: App) -> None:
    people = await person_ids(app)
    async with app.core.sessions() as session:
        sheets = await my_data(session, people[NAME], ZoneInfo("Asia/Shanghai"))
    assert {held.sheet for held in PERSONAL.values() if held.sheet} <= {sheet.title for sheet in sheets}


async def test_proxies_sign_ins_and_objections_are_in_mydata_and_forgetting_keeps_them_anonymous(
        console: Console, app: App) -> None:
    people = await person_ids(app)
    await _closed_assembly(console)  # 张三 voted; the result is published
    await _object(console, NAME, f"面积登记有误。我是{NAME}，电话 13800000005")
    await call_meeting(console, "2026-11-25 19:30", "停车难问题")
    await quietly_to(app, "2026-11-25 19:00")
    await console.clock_to("2026-11-25 19:05")
    console.as_(NAME)
    console.in_(GROUP)
    await console.press("签到")
    assert "已签到" in console.last_for(NAME).text
    await _open_for_proxies(console)
    await _authorise(console, NAME, "13800000007")  # 王五
    assert "王五" in console.last.text

    console.as_(NAME)
    await console.say("/mydata")
    sheets = _sheets(console.transport.documents[-1][1])
    proxies = sheets["委托投票"]
    assert proxies[1][1:3] == (NAME, "王五") and proxies[1][3] == "1栋1单元101" and proxies[1][4] == "active"
    assert "面积登记有误" in sheets["异议"][1][1]
    assert sheets["会议签到"][1][1] == "停车难问题"
    assert any(row[0] == "发起业主大会表决" for row in sheets["我的操作"][1:]) is False  # 张三 called none
    console.as_("王五")
    await console.say("/mydata")
    assert _sheets(console.transport.documents[-1][1])["委托投票"][1][1:3] == (NAME, "王五")
    console.as_("孙委员")
    await console.say("/mydata")
    assert "发起业主大会表决" in [row[0] for row in _sheets(console.transport.documents[-1][1])["我的操作"][1:]]
    # Each /mydata is in the access log, as the person's own.
    async with app.core.sessions() as session:
        own = (await session.exec(select(Access).where(Access.via == Via.SELF))).all()
    assert sorted(a.subject_id for a in own) == sorted([people[NAME], people["王五"], people["孙委员"]])
    assert all(a.viewer_id == a.subject_id and a.compound_id == 1 for a in own)

    console.as_(NAME)
    await console.say("/forget")
    await console.press("删除我的信息")
    async with app.core.sessions() as session:
        pseudonym = (await session.get(Person, people[NAME]) or Person(name="")).name
        proxy = (await session.exec(select(Proxy))).one()
        objection = (await session.exec(select(Objection))).one()
        signins = (await session.exec(select(MeetingAttendance).where(
            MeetingAttendance.person_id == people[NAME]))).all()
    assert pseudonym.startswith("已注销用户#")
    # Kept for the record under the pseudonym; the proxy in an assembly still voting has ended.
    assert proxy.owner_id == people[NAME] and proxy.status == ProxyStatus.ENDED
    assert objection.person_id == people[NAME] and objection.reason == f"面积登记有误。我是{pseudonym}，电话 ***"
    assert len(signins) == 1
    assert await _leftovers(app, NAME, PHONE) == []
    console.as_("王五")
    await console.say("/mydata")
    assert _sheets(console.transport.documents[-1][1])["委托投票"][1][1:3] == (pseudonym, "王五")


async def test_leaving_gives_back_places_on_tasks_not_yet_started_and_ends_proxies_there(console: Console,
                                                                                          app: App) -> None:
    people = await person_ids(app)
    await _open_for_proxies(console)
    await _authorise(console, NAME, "13800000007")  # 王五 votes for 张三's rooms
    await _earn(console)  # 张三 volunteered for a task that is over: it stays
    async with transaction(app.core.sessions) as session:
        task = VolunteerTask(compound_id=1, organiser_id=people["王书记"], title="周六代购",
                             starts_at=START + timedelta(days=5), ends_at=START + timedelta(days=5, hours=2),
                             wanted=3, rate=2, recurrence="weekly")
        session.add(task)
        await session.flush()
        session.add(TaskSignup(task_id=task.id or 0, person_id=people["王五"]))
    console.as_("王五")
    await console.say("/leavecompound")
    await console.press("退出幸福里")
    assert "您已退出幸福里" in console.last.text
    async with app.core.sessions() as session:
        proxy = (await session.exec(select(Proxy))).one()
        signups = {s.task_id: s.active for s in (await session.exec(select(TaskSignup))).all()}
    assert proxy.status == ProxyStatus.ENDED and proxy.proxy_id == people["王五"]
    assert signups[task.id or 0] is False and True in signups.values()  # 张三's past one is untouched
