"""The conversation engine itself: declared flows checked at start-up, deep links tied to their person, the
draft written whole, busy answers that name the flow."""

from __future__ import annotations

import pytest

from bot.app import App
from bot.core import answers
from bot.core.context import Context
from bot.core.flows import Done, Draft, Flow, Go, Outcome
from bot.core.router import Router, Routes
from bot.core.types import Reply
from bot.transports.console import Console
from storage.demo import DEMO_GROUP


class Pair(Draft):
    first: str = ""


def _ask(ctx: Context, draft: Pair) -> Reply:
    return Reply("?")


def test_a_step_going_to_an_undeclared_step_fails_at_start_up() -> None:
    flow = Flow("broken", Pair, title="broken")

    @flow.step("first", ask=_ask, answer=answers.Text(10), next=("second",))
    async def first(ctx: Context, draft: Pair, text: str) -> Outcome:
        return Go("second", draft)

    router = Router("broken")
    router.flow(flow)
    with pytest.raises(ValueError, match="undeclared step 'second'"):
        Routes.join([router])


def test_a_step_without_an_answer_kind_fails_at_start_up() -> None:
    flow = Flow("loose", Pair, title="loose")

    async def first(ctx: Context, draft: Pair, text: str) -> Outcome:
        return Done()

    flow.step("first", ask=_ask, answer="text")(first)  # type: ignore[arg-type]
    router = Router("loose")
    router.flow(flow)
    with pytest.raises(ValueError, match="no answer kind"):
        Routes.join([router])


def test_the_same_flow_name_twice_fails_at_start_up() -> None:
    one, two = Router("one"), Router("two")
    for router in (one, two):
        flow = Flow("same", Pair, title="same")

        @flow.step("first", ask=_ask, answer=answers.Text(10))
        async def first(ctx: Context, draft: Pair, text: str) -> Outcome:
            return Done()

        router.flow(flow)
    with pytest.raises(ValueError, match="routed twice"):
        Routes.join([one, two])


async def test_a_continue_privately_link_made_for_one_person_does_not_open_for_another(console: Console,
                                                                                      app: App) -> None:
    console.as_("张三")
    console.in_(DEMO_GROUP)
    await console.say("/complain")
    link = console.last.buttons[0][0]
    assert link.kind == "deeplink"
    console.as_("陌生人")
    await console._send(text=f"/start {link.data}", command="start", args=link.data)
    assert "这个按钮是给别人的" in console.last.text
    await console.say("楼下有人乱停车")  # no flow was opened for the stranger: nothing to crash on
    async with app.core.sessions() as session:
        from sqlmodel import select

        from storage.conversations import Conversation

        # The stranger's text leads to joining, never into the complaint the link was made for.
        assert [c.flow for c in (await session.exec(select(Conversation))).all()] == ["join"]
    console.as_("张三")
    await console._send(text=f"/start {link.data}", command="start", args=link.data)
    assert console.last.buttons  # the complaint flow's first question, with its categories


async def test_continue_and_give_up_work_typed_as_well_as_pressed(console: Console) -> None:
    console.as_("张三")
    await console.say("/need")
    await console.say("/complain")
    assert "发布需求" in console.last.text and console.last.labels == ["继续", "放弃"]
    await console.say("继续")
    assert "哪一类" in console.last.text  # the open step's question again
    await console.say("放弃")
    assert "已放弃" in console.last.text and "发布需求" in console.last.text
    await console.say("/complain")
    assert "乱停车" in console.last.labels


async def test_the_new_roles_authority_in_flows(console: Console, app: App) -> None:
    """A supervisor reads but cannot start a writing flow; an official of another street holds no role in this
    compound, so its secretary's flows and reports are refused them."""
    from storage import organisations as orgs
    from storage.db import transaction
    from tests.conftest import person_ids, second_compound

    ids = await person_ids(app)
    console.as_("王书记")
    await console.say(f"/grant {ids['张三']} supervisor")
    console.as_("张三")
    for writing in ("/assembly", "/announce", "/disclose"):
        await console.say(writing)
        assert console.last.text.startswith("抱歉"), writing
    await console.say("/partner")  # a supervisor reads the partner units but is offered no way to add one
    assert "添加共驻共建单位" not in console.last.labels

    other = await second_compound(app)
    console.as_("吴科长")
    await console.say("/start")
    official = (await person_ids(app))["吴科长"]
    async with transaction(app.core.sessions) as session:
        street = await orgs.create_street(session, "东风街道")
        assert street is not None
        await orgs.link_compound(session, other, street)
        department = await orgs.create_department(session, street.stored_id, "住建", None)
        assert department is not None
        await orgs.add_member(session, official, None, department_id=department.id)
    console.as_("吴科长")
    await console.say("/monthly XFL")  # an official, but of 东风街道: 幸福里 is none of theirs
    assert "不负责幸福里" in console.last.text
    await console.say("/partner")
    assert console.last.text.startswith("抱歉")
