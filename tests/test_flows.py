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
