"""The compound's pages over real HTTP (the app's web server on loopback through aiohttp's test client): the
board, an assembly's result, a resident's own case by its signed link, the street page, the print view, the
language switch, caching and the rate limit; links are refused when expired or forged, and no page shows a
phone number, a nominator or an anonymous reporter."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer
from pydantic import SecretStr
from sqlmodel import select

from bot.app import App, make_web_app
from bot.settings import Settings
from bot.transports.console import TINY_PNG, Console
from handlers import pages
from storage import announcements, board, complaints
from storage.compounds import Compound
from storage.db import transaction
from storage.organisations import Street
from storage.outbox import store_media
from storage.people import Person
from tests.conftest import START
from tests.test_assembly_publicity import _closed_assembly, _object

BASE = "https://linli.example.org"
SECRET = "a-test-secret-for-signed-pages"
ZONE = ZoneInfo("Asia/Shanghai")
PHONE = re.compile(r"1[3-9]\d{9}")


@pytest.fixture
def settings(db_url: str) -> Settings:
    return Settings(_env_file=None, database_url=db_url, public_base_url=BASE,  # type: ignore[call-arg]
                    pages_secret=SecretStr(SECRET), pages_per_minute=0)


@pytest.fixture
async def client(app: App) -> AsyncIterator[TestClient]:
    async with TestClient(TestServer(make_web_app(app))) as test_client:
        yield test_client


async def seed(app: App) -> dict[str, int]:
    """What the pages show: announcements (one to owners only, one not yet due), a disclosure with its document,
    红黑榜 postings (a black entry later corrected, an entry still pending), and an anonymous complaint with a photo.
    Returns the ids the tests need."""
    now = app.core.clock.now()
    async with transaction(app.core.sessions) as session:
        people = {p.name: p.id or 0 for p in (await session.exec(select(Person))).all()}
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        secretary = people["王书记"]
        fields = {"audience": "all", "building_id": None, "media_platform": "", "media_file_id": "", "pin": False}
        await announcements.publish_announcement(session, compound.stored_id, secretary,
                                                 {**fields, "text": "本周六上午9点小区大扫除，请各位邻居参加"},
                                                 None, now - timedelta(days=3))
        await announcements.publish_announcement(session, compound.stored_id, secretary,
                                                 {**fields, "text": "停水通知：周三8点至12点", "media_platform": "console",
                                                  "media_file_id": "notice-photo"}, None, now - timedelta(days=1))
        await announcements.publish_announcement(session, compound.stored_id, secretary,
                                                 {**fields, "audience": "owners", "text": "仅业主可见的维修基金事项"},
                                                 None, now - timedelta(hours=5))
        await announcements.publish_announcement(session, compound.stored_id, secretary,
                                                 {**fields, "text": "尚未发出的公告"}, now + timedelta(days=2), now)
        document = await store_media(session, b"%PDF-1.4 statement", "application/pdf", "2026-10收支.pdf")
        disclosure = await announcements.publish_disclosure(
            session, compound.stored_id, secretary, "finance", "2026年10月 物业费收入 12.3万元，支出 10.1万元",
            now - timedelta(days=2), document_id=document)
        red = await board.nominate(session, compound.stored_id, people["张三"], board.RED, "2栋 陈阿姨",
                                   "每天清扫楼道", "", "", now - timedelta(days=9))
        black = await board.nominate(session, compound.stored_id, people["张三"], board.BLACK, "3栋楼下消防通道",
                                     "私家车长期占用消防通道", "", "", now - timedelta(days=9))
        pending = await board.nominate(session, compound.stored_id, people["李四"], board.BLACK, "1栋门口",
                                       "尚未审核的条目", "", "", now - timedelta(days=1))
        for entry in (red, black):
            await board.approve(session, entry, secretary, now - timedelta(days=8))
        await board.mark_posted(session, [red, black], [], now - timedelta(days=7))
        await board.mark_corrected(session, black, now - timedelta(days=3))
        await board.mark_posted(session, [], [black], now)
        case = await complaints.file_case(session, compound, people["张三"], "parking", "消防通道被占，车牌不便透露",
                                          now - timedelta(days=2), photos=["case-photo"], photo_platform="console",
                                          anonymous=True)
        street = (await session.exec(select(Street))).one()
        return {"disclosure": disclosure.id or 0, "case": case.id or 0, "reporter": people["张三"],
                "other": people["李四"], "street": street.id or 0, "pending": pending.id or 0}


async def seed_assembly(console: Console) -> None:
    """An assembly closed through the console, with an objection lodged and answered."""
    await _closed_assembly(console)
    await _object(console, "李四", "我家面积登记有误，13800000005 请回电")
    console.as_("孙委员")
    await console.press("答复异议")
    await console.say("已核对不动产登记，面积无误，计票不变")


async def text_of(response: object) -> str:
    return await response.text()  # type: ignore[attr-defined]


async def test_the_board_shows_what_was_posted_to_the_group_and_nothing_else(app: App, client: TestClient) -> None:
    await seed(app)
    app.console_files["notice-photo"] = TINY_PNG
    response = await client.get("/c/XFL")
    assert response.status == 200 and response.content_type == "text/html"
    html = await text_of(response)
    assert "幸福里" in html and "公告" in html
    assert "本周六上午9点小区大扫除" in html and "停水通知" in html
    assert "仅业主可见" not in html and "尚未发出的公告" not in html  # owners only, not yet due
    assert "资金收支公示" in html and "12.3万元" in html
    assert "每天清扫楼道" in html and "私家车长期占用消防通道" in html and "已整改" in html
    assert "尚未审核的条目" not in html  # pending: never posted
    assert "月报" in html
    # Never a nominator, a reporter or a phone.
    assert "张三" not in html and "李四" not in html and not PHONE.search(html)
    photo = re.search(r'src="(/c/XFL/announcement/\d+/photo)"', html)
    assert photo is not None
    image = await client.get(photo.group(1))
    assert image.status == 200 and await image.read() == TINY_PNG
    document = re.search(r'href="(/c/XFL/disclosure/\d+/file)"', html)
    assert document is not None
    download = await client.get(document.group(1))
    assert download.status == 200 and download.content_type == "application/pdf"
    assert await download.read() == b"%PDF-1.4 statement"
    assert (await client.get("/c/NOPE")).status == 404


async def test_the_language_follows_the_reader(app: App, client: TestClient) -> None:
    await seed(app)
    assert "公告" in await text_of(await client.get("/c/XFL"))
    english = await text_of(await client.get("/c/XFL", headers={"Accept-Language": "en-US,en;q=0.9"}))
    assert "Announcements" in english and "公告" not in english
    taiwan = await text_of(await client.get("/c/XFL", headers={"Accept-Language": "zh-TW"}))
    assert "公告" in taiwan and "社區" in taiwan
    # ?lang= wins over the header; the page's own links keep the choice.
    chosen = await text_of(await client.get("/c/XFL?lang=en", headers={"Accept-Language": "zh-CN"}))
    assert "Announcements" in chosen and 'href="/c/XFL?lang=zh_TW"' in chosen
    assert "Announcements" in await text_of(await client.get("/c/XFL?lang=xx", headers={"Accept-Language": "en"}))


async def test_large_type_and_the_print_view(app: App, client: TestClient) -> None:
    await seed(app)
    large = await text_of(await client.get("/c/XFL?large=1"))
    assert '<body class="large">' in large
    printed = await text_of(await client.get("/c/XFL?print=1"))
    assert "size: A4" in printed and 'class="tools"' not in printed and "停水通知" in printed


async def test_pages_are_cacheable(app: App, client: TestClient) -> None:
    await seed(app)
    first = await client.get("/c/XFL")
    etag = first.headers["ETag"]
    assert "public" in first.headers["Cache-Control"] and first.headers["Vary"] == "Accept-Language"
    again = await client.get("/c/XFL", headers={"If-None-Match": etag})
    assert again.status == 304
    other = await client.get("/c/XFL?lang=en", headers={"If-None-Match": etag})
    assert other.status == 200


async def test_a_client_asking_too_often_is_told_to_wait(app: App) -> None:
    app.core.settings.pages_per_minute = 3
    async with TestClient(TestServer(make_web_app(app))) as limited:
        statuses = [(await limited.get("/c/XFL")).status for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        refused = await limited.get("/c/XFL")
        assert refused.headers["Retry-After"] == "60" and "请稍等" in await text_of(refused)
        assert (await limited.get("/healthz")).status == 200  # the webhooks are never limited


async def test_the_assembly_result_page_has_the_article_278_figures_and_the_objections(
        app: App, console: Console, client: TestClient) -> None:
    await seed_assembly(console)
    published = [s for s in console.seen_by("王书记", "幸福里业主群") if "表决结果" in s.text]
    assert published, "the result is posted to the group"
    link = next(b.data for s in published for row in s.buttons for b in row if b.kind == "url")
    assert link.startswith(BASE + "/c/XFL/assembly/")
    path = link.removeprefix(BASE)
    html = await text_of(await client.get(path))
    assert "增设电动自行车充电桩" in html and "增设电动自行车充电桩，费用由公共收益支出" in html
    assert "参与" in html and "同意" in html and "反对" in html and "弃权" in html
    assert "2/3" in html and "1/2" in html and ("未通过" in html or "通过" in html)
    assert "公示期" in html and "面积登记有误" in html and "面积无误，计票不变" in html
    # Never a voter, an objector or a phone.
    for name in ("张三", "李四", "孙委员", "王书记"):
        assert name not in html
    assert "13800000005" not in html and not PHONE.search(html)
    english = await text_of(await client.get(path + "?lang=en"))
    assert "Agree" in english and "Objections" in english
    assert (await client.get("/c/XFL/assembly/999")).status == 404
    # The board lists the assembly and links its result.
    assert path in await text_of(await client.get("/c/XFL"))


async def test_a_residents_case_page_by_its_signed_link(app: App, client: TestClient) -> None:
    ids = await seed(app)
    app.console_files["case-photo"] = TINY_PNG
    now = app.core.clock.now()
    link = pages.case_link(app.core.settings, ids["case"], ids["reporter"], now)
    assert link is not None and link.startswith(BASE + "/case/")
    path = link.removeprefix(BASE)
    response = await client.get(path)
    assert response.status == 200
    assert "private" in response.headers["Cache-Control"] and response.headers["Referrer-Policy"] == "no-referrer"
    html = await text_of(response)
    assert "XFL-2026-" in html and "消防通道被占" in html and "提交" in html and "您" in html
    assert not PHONE.search(html)
    photo = re.search(r'src="(/case/[^"]+/photo/0)"', html)
    assert photo is not None and await (await client.get(photo.group(1))).read() == TINY_PNG
    assert (await client.get(path + "/photo/5")).status == 404
    # A link made for someone else (not the reporter) shows nothing.
    theirs = pages.case_link(app.core.settings, ids["case"], ids["other"], now)
    assert theirs is not None
    assert (await client.get(theirs.removeprefix(BASE))).status == 404


async def test_an_expired_or_forged_link_is_refused(app: App, client: TestClient) -> None:
    ids = await seed(app)
    made = app.core.clock.now()
    path = (pages.case_link(app.core.settings, ids["case"], ids["reporter"], made) or "").removeprefix(BASE)
    token = path.removeprefix("/case/")
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    refused = await client.get("/case/" + forged)
    assert refused.status == 404 and "消防通道被占" not in await text_of(refused)
    assert "链接无效" in await text_of(refused)
    # Signed with another secret, or a street token used as a case token.
    other = Settings(_env_file=None, database_url=app.core.settings.database_url,  # type: ignore[call-arg]
                     public_base_url=BASE, pages_secret=SecretStr("another-secret"))
    assert (await client.get("/case/" + pages.sign(other, "case", ids["case"], made, ids["reporter"]))).status == 404
    street = pages.sign(app.core.settings, "street", ids["case"], made, ids["reporter"])
    assert (await client.get("/case/" + street)).status == 404
    assert (await client.get("/street/" + token)).status == 404
    app.core.clock.set(made + timedelta(days=29))
    assert (await client.get(path)).status == 200
    app.core.clock.set(made + timedelta(days=31))
    expired = await client.get(path)
    html = await text_of(expired)
    assert expired.status == 410 and "已过期" in html and "消防通道被占" not in html


async def test_the_street_page_for_officials(app: App, client: TestClient, console: Console) -> None:
    ids = await seed(app)
    console.as_("周主任")
    await console.say("/pages")
    links = [b.data for row in console.last.buttons for b in row if b.kind == "url"]
    street_link = next(link for link in links if "/street/" in link)
    assert BASE + "/c/XFL" in links
    html = await text_of(await client.get(street_link.removeprefix(BASE)))
    assert "西陵街道" in html and "幸福里" in html and "黑榜未整改" in html and 'class="alarm"' not in html
    async with transaction(app.core.sessions) as session:  # a black entry approved and not corrected yet
        entry = await board.entry_in(session, ids["pending"], 1)
        assert entry is not None and await board.approve(session, entry, ids["other"], app.core.clock.now())
    html = await text_of(await client.get(street_link.removeprefix(BASE)))
    assert '<dt>黑榜未整改</dt><dd class="alarm">1 ⚠</dd>' in html
    assert "张三" not in html and not PHONE.search(html)
    assert "noindex" in html
    # A resident gets only the board.
    console.as_("张三")
    await console.say("/pages")
    assert [b.data for row in console.last.buttons for b in row] == [BASE + "/c/XFL"]
    assert ids["street"]


async def test_without_a_public_address_there_are_no_links(db_url: str) -> None:
    from bot.app import build_app
    from bot.core.clock import Clock

    plain = Settings(_env_file=None, database_url=db_url)  # type: ignore[call-arg]
    application = build_app(plain, clock=Clock(START, frozen=True))
    try:
        console = Console(application)
        console.as_("张三")
        await console.say("/pages")
        assert "PUBLIC_BASE_URL" in console.last.text and not console.last.buttons
        assert pages.case_link(plain, 1, 1, START) is None
    finally:
        await application.close()


def test_public_base_url_needs_a_secret(db_url: str) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(_env_file=None, database_url=db_url, public_base_url=BASE)  # type: ignore[call-arg]


def _moment(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZONE)


def _url_buttons(shown: object) -> list[str]:
    return [b.data for row in shown.buttons for b in row if b.kind == "url"]  # type: ignore[attr-defined]


async def test_every_posting_carries_its_page_link(app: App, console: Console, client: TestClient) -> None:
    from tests.test_announcements import announce, start_disclosure

    await announce(console, "周六上午9点小区大扫除", None)
    posted = console.seen_by("王书记", "幸福里业主群")[-1]
    assert _url_buttons(posted) == [BASE + "/c/XFL#announcements"]
    await announce(console, "仅业主：维修基金说明会", None, audience=3)  # owners only: privately, no board link
    assert not _url_buttons(console.last_for("张三"))
    await start_disclosure(console, "2026年10月 物业费收入 52,300 元。")
    await console.photo()
    posted = console.seen_by("孙委员", "幸福里业主群")[-1]
    assert "52,300" in posted.text and _url_buttons(posted) == [BASE + "/c/XFL#disclosures"]
    # The 红黑榜's weekly posting.
    console.as_("张三")
    await console.say("/nominate")
    await console.press(1)  # red
    await console.say("2栋 陈阿姨")
    await console.say("每天清扫楼道")
    await console.press(1)  # no photo
    console.as_("王书记")
    await console.press("通过")
    await console.clock_to("2026-11-30 09:01")
    posting = next(s for s in console.seen_by("王书记", "幸福里业主群") if "红黑榜" in s.text and "陈阿姨" in s.text)
    assert _url_buttons(posting) == [BASE + "/c/XFL#board"]
    html = await text_of(await client.get("/c/XFL"))
    assert "周六上午9点小区大扫除" in html and "52,300" in html and "每天清扫楼道" in html
    assert "维修基金说明会" not in html


async def test_the_reporter_gets_the_case_link_in_the_chat(app: App, console: Console, client: TestClient) -> None:
    ids = await seed(app)
    console.as_("张三")
    await console.say("/mycases")
    await console.press(1)
    link = _url_buttons(console.last)
    assert len(link) == 1 and link[0].startswith(BASE + "/case/")
    assert "消防通道被占" in await text_of(await client.get(link[0].removeprefix(BASE)))
    # The secretary looking at the same case gets no such link.
    console.as_("王书记")
    await console.say("/case " + (await _number(app, ids["case"])))
    assert not _url_buttons(console.last)


async def _number(app: App, case_id: int) -> str:
    async with app.core.sessions() as session:
        case = await session.get(complaints.Case, case_id)
        assert case is not None
        return case.number


async def test_the_board_shows_the_newest_postings_and_follows_new_corrections(app: App, client: TestClient) -> None:
    """Half a year of weekly postings (26) is shown, not older ones; a correction posted this week of an entry
    from an old posting shows in this week's posting; the history kept between renderings follows a new
    correction at once."""
    now = app.core.clock.now()
    async with transaction(app.core.sessions) as session:
        compound = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        people = {p.name: p.id or 0 for p in (await session.exec(select(Person))).all()}
        entries = []
        for week in range(30, 0, -1):  # 30 postings, the oldest 30 weeks ago
            posted = now - timedelta(days=7 * week)
            entry = await board.nominate(session, compound.stored_id, people["张三"], board.BLACK, f"{week}周前",
                                         f"第{week}周的黑榜条目", "", "", posted - timedelta(days=2))
            await board.approve(session, entry, people["王书记"], posted - timedelta(days=1))
            await board.mark_posted(session, [entry], [], posted)
            entries.append(entry)
        oldest = entries[0]  # posted 30 weeks ago, corrected and its correction posted last week
        await board.mark_corrected(session, oldest, now - timedelta(days=10))
        await board.mark_posted(session, [], [oldest], now - timedelta(days=7))
    html = await text_of(await client.get("/c/XFL?lang=zh_CN"))
    shown = re.findall(r"第(\d+)周的黑榜条目", html)
    assert "第1周的黑榜条目" in html and "第26周的黑榜条目" in html
    assert "第27周的黑榜条目" not in html.replace("第30周的黑榜条目", "")  # beyond half a year
    assert shown.count("30") == 1  # only as last week's corrected line
    async with transaction(app.core.sessions) as session:
        recent = await session.get(board.BoardEntry, entries[-1].id)
        assert recent is not None
        await board.mark_corrected(session, recent, now - timedelta(hours=1))
    again = await text_of(await client.get("/c/XFL?lang=zh_CN&n=2"))  # another address: rendered anew
    assert not re.search(r"第1周的黑榜条目 <span class=\"fixed\">", html)
    assert re.search(r"第1周的黑榜条目 <span class=\"fixed\">✓ [^<]*已整改", again)


async def test_the_street_page_ranks_and_marks_as_the_street_report_does(app: App, client: TestClient) -> None:
    """The street report's one rule (storage.reports.street_standings and its bounds): 幸福里 had 2 of 10 cases
    overdue last month (above 10 %) with every rating good, 和平苑 none overdue and 9 of 10 ratings good. The
    report puts 幸福里 first and marks it; so does the page, and the page's order is the report's."""
    from handlers.charts import street_lines
    from storage import reports
    from storage.organisations import CompoundPlace
    from tests.conftest import second_compound

    hpy = await second_compound(app)
    now = app.core.clock.now()
    month_start = datetime(2026, 10, 5, 9, 0, tzinfo=ZONE)
    async with transaction(app.core.sessions) as session:
        street = (await session.exec(select(Street))).one()
        if await session.get(CompoundPlace, hpy) is None:
            session.add(CompoundPlace(compound_id=hpy, street_id=street.id or 0))
        xfl = (await session.exec(select(Compound).where(Compound.code == "XFL"))).one()
        reporter = (await session.exec(select(Person).where(Person.name == "张三"))).one().id or 0
        for compound_id, code, overdue, low in ((xfl.stored_id, "XFL", 2, 0), (hpy, "HPY", 0, 1)):
            for i in range(10):
                case = complaints.Case(compound_id=compound_id, number=f"{code}-2026-9{i:03d}", reporter_id=reporter,
                                       category="parking", description="诉求", level=1,
                                       state=complaints.State.CLOSED, opened_at=month_start + timedelta(hours=i),
                                       overdue_count=int(i < overdue))
                session.add(case)
                await session.flush()
                session.add(complaints.CaseEvent(case_id=case.id or 0, at=month_start + timedelta(days=2, hours=i),
                                                 event=complaints.Event.RATE, note="2" if i < low else "5",
                                                 to_state=complaints.State.CLOSED))
        street_id = street.id or 0
    async with app.core.sessions() as session:
        ids = [xfl.stored_id, hpy]
        standings = reports.street_standings(list((await reports.month_figures(session, "2026-10", ids)).values()))
    t = app.core.catalogs.translator("zh_CN")
    lines = street_lines(t, "西陵街道", "2026-10", standings, {xfl.stored_id: "幸福里", hpy: "和平苑"}, {})
    assert lines[2].startswith("▲ 幸福里") and lines[3].startswith("和平苑")  # the report's order and mark
    link = (pages.street_link(app.core.settings, street_id, now) or "").removeprefix(BASE)
    html = await text_of(await client.get(link + "?lang=zh_CN"))
    assert re.findall(r"<h2>(?:<span class=\"mark\">▲</span> )?<a [^>]*>([^<]+)</a></h2>", html) == ["幸福里", "和平苑"]
    assert '<span class="mark">▲</span> <a href="/c/XFL' in html and "▲</span> <a href=\"/c/HPY" not in html
    assert '<dd class="alarm">20% ⚠</dd>' in html  # last month's overdue rate, above the report's 10 %
    assert "<dd>90%</dd>" in html  # satisfaction at or above the report's 80 %: not marked
    assert lines[1] in html  # the report's own sentence of the rule
