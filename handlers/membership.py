"""Joining a compound, claiming it as its secretary, approving members, granting roles, binding groups."""

from __future__ import annotations

from sqlmodel import col, select

from bot.core.context import Context
from bot.core.dispatcher import role_name
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson, rows
from storage import membership as store
from storage.compounds import (
    Building,
    Compound,
    Unit,
    buildings_of,
    compound_by_invite,
    describe_room,
    rooms_of,
    units_of,
)
from storage.people import (
    GRANTABLE,
    Membership,
    MembershipStatus,
    Person,
    Role,
    compounds_of,
    grant_role,
    people_with_role,
    revoke_role,
    roles_in,
)

router = Router("membership")

MAX_ROOM_BUTTONS = 30
RELATIONS = {"owner": N_("owner"), "tenant": N_("tenant")}
ROLE_WORDS = {
    "secretary": Role.SECRETARY, "书记": Role.SECRETARY, "支部书记": Role.SECRETARY,
    "building_leader": Role.BUILDING_LEADER, "楼栋长": Role.BUILDING_LEADER, "楼長": Role.BUILDING_LEADER,
    "party_member": Role.PARTY_MEMBER, "党员": Role.PARTY_MEMBER, "黨員": Role.PARTY_MEMBER,
    "committee": Role.COMMITTEE, "业委会": Role.COMMITTEE, "業委會": Role.COMMITTEE,
    "property": Role.PROPERTY, "物业": Role.PROPERTY, "物業": Role.PROPERTY,
    "official": Role.OFFICIAL, "社区": Role.OFFICIAL, "街道": Role.OFFICIAL, "官员": Role.OFFICIAL,
}


# ---- joining ---------------------------------------------------------------------------------------------


@router.command("join", private=True, flow=True, help="Join your compound", order=2)
async def join(ctx: Context, msg: Incoming) -> Replies:
    ctx.convo.start("join", "code")
    code = str(ctx.args.get("command_args", "")).strip()
    if code:
        return await _with_code(ctx, code)
    return Reply(ctx.t("Please send your compound's invite code (your secretary or building leader has it)."))


@router.step("join", "code")
async def join_code(ctx: Context, msg: Incoming) -> Replies:
    if not msg.text:
        return Reply(ctx.t("Please type the invite code as text, or send /cancel."))
    return await _with_code(ctx, msg.text)


async def _with_code(ctx: Context, code: str) -> Replies:
    t = ctx.t
    compound = await compound_by_invite(ctx.session, code[:32])
    if compound is None:
        return Reply(t("I could not find a compound with the invite code {code}. Please check it and send it "
                       "again, or send /cancel.", code=code.strip()[:20]))
    ctx.convo.draft["compound_id"] = compound.id
    buildings = await buildings_of(ctx.session, compound.id or 0)
    if not buildings:
        ctx.convo.end()
        return Reply(t("{compound} has no buildings registered yet. Please ask your secretary.", compound=compound.name))
    ctx.convo.goto("building")
    return Reply(
        t("Welcome to {compound}! Which building do you live in?", compound=compound.name),
        buttons=rows(*(Button.choice(b.name, b.id) for b in buildings[:60]), per_row=3),
    )


def _picked(ctx: Context, msg: Incoming, options: dict[int, str]) -> int | None:
    """A button press or the typed name of one of the options."""
    value = ctx.args.get("value")
    if isinstance(value, int) and value in options:
        return value
    if msg.text:
        typed = msg.text.strip()
        for option_id, name in options.items():
            if typed == name or typed.rstrip("栋单元号室") == name.rstrip("栋单元号室"):
                return option_id
    return None


@router.step("join", "building")
async def join_building(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    compound_id = int(ctx.convo.draft["compound_id"])
    buildings = {b.id or 0: b.name for b in await buildings_of(ctx.session, compound_id)}
    building_id = _picked(ctx, msg, buildings)
    if building_id is None:
        return Reply(t("Please choose your building with the buttons above, or type its name exactly."))
    ctx.convo.draft["building_id"] = building_id
    units = await units_of(ctx.session, building_id)
    if len(units) == 1:
        ctx.convo.draft["unit_id"] = units[0].id
        return await _ask_room(ctx)
    ctx.convo.goto("unit")
    return Reply(t("Which unit (entrance)?"), buttons=rows(*(Button.choice(u.name, u.id) for u in units), per_row=3))


@router.step("join", "unit")
async def join_unit(ctx: Context, msg: Incoming) -> Replies:
    units = {u.id or 0: u.name for u in await units_of(ctx.session, int(ctx.convo.draft["building_id"]))}
    unit_id = _picked(ctx, msg, units)
    if unit_id is None:
        return Reply(ctx.t("Please choose your unit with the buttons above."))
    ctx.convo.draft["unit_id"] = unit_id
    return await _ask_room(ctx)


async def _ask_room(ctx: Context) -> Reply:
    ctx.convo.goto("room")
    rooms = await rooms_of(ctx.session, int(ctx.convo.draft["unit_id"]))
    if len(rooms) > MAX_ROOM_BUTTONS:
        return Reply(ctx.t("Please type your room number, for example 1502."))
    return Reply(ctx.t("Which room?"), buttons=rows(*(Button.choice(r.number, r.id) for r in rooms), per_row=4))


@router.step("join", "room")
async def join_room(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    rooms = {r.id or 0: r.number for r in await rooms_of(ctx.session, int(ctx.convo.draft["unit_id"]))}
    room_id = _picked(ctx, msg, rooms)
    if room_id is None:
        return Reply(t("I could not find that room in this unit. Please choose it with the buttons or type its number."))
    existing = await store.existing_membership(ctx.session, ctx.person_id, room_id)
    if existing is not None:
        ctx.convo.end()
        if existing.status == MembershipStatus.APPROVED:
            return Reply(t("You are already registered for this room."))
        return Reply(t("Your request for this room is already waiting for the secretary's approval."))
    ctx.convo.draft["room_id"] = room_id
    ctx.convo.goto("relation")
    return Reply(
        t("Are you the owner of this room or a tenant?"),
        buttons=((Button.choice(t("Owner"), "owner"), Button.choice(t("Tenant"), "tenant")),),
    )


@router.step("join", "relation")
async def join_relation(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    value = ctx.args.get("value")
    if value not in RELATIONS and msg.text:
        value = {"业主": "owner", "業主": "owner", "owner": "owner", "租户": "tenant", "租戶": "tenant",
                 "tenant": "tenant"}.get(msg.text.strip().lower())
    if value not in RELATIONS:
        return Reply(t("Please answer with one of the buttons: owner or tenant."))
    ctx.convo.draft["relation"] = value
    ctx.convo.goto("phone")
    return Reply(
        t("Last step: share your phone number with the button below. If it matches the owners' roster you are "
          "approved at once; otherwise the secretary will approve you. You can also skip this."),
        buttons=((Button.share_contact(t("Share my phone number")),), (Button.choice(t("Skip"), "skip"),)),
    )


@router.step("join", "phone")
async def join_phone(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    phone = ""
    if msg.contact is not None:
        if msg.contact.user_id is not None and msg.contact.user_id != msg.user_id:
            return Reply(t("Please share your own phone number with the button, not someone else's contact."))
        phone = msg.contact.phone
    elif ctx.args.get("value") != "skip":
        if msg.text and any(ch.isdigit() for ch in msg.text):
            # A typed number cannot be verified, so it never approves anyone by itself.
            ctx.convo.draft["typed_phone"] = msg.text.strip()[:32]
        else:
            return Reply(t("Please use the button to share your phone number, or press Skip."))
    return await _finish_join(ctx, phone)


async def _finish_join(ctx: Context, phone: str) -> Replies:
    t = ctx.t
    draft = ctx.convo.draft
    compound = await ctx.session.get(Compound, int(draft["compound_id"]))
    room_id = int(draft["room_id"])
    assert compound is not None and compound.id is not None
    if phone:
        ctx.person.phone = phone[:32]
        ctx.session.add(ctx.person)
    match = await store.roster_match(ctx.session, room_id, phone) if phone else None
    relation = "owner" if match is not None else str(draft["relation"])
    membership = Membership(person_id=ctx.person_id, compound_id=compound.id, room_id=room_id, relation=relation,
                            created_at=ctx.now)
    ctx.session.add(membership)
    await ctx.session.flush()
    room = await describe_room(ctx.session, room_id)
    ctx.convo.end()
    if match is not None:
        await store.decide(ctx.session, membership, True, None, ctx.now)
        ctx.person.current_compound_id = compound.id
        return Reply(t("Welcome, neighbour! Your phone number matches the owners' roster, so you are now registered "
                       "as the owner of {room} in {compound}. Send /help to see what you can do.",
                       room=room, compound=compound.name))
    # The secretaries' Approve / Reject buttons act in the compound joined, not in one the person is in already.
    ctx.compound = compound
    replies: list[Reply] = [
        Reply(t("Thank you. Your request to join {compound} ({room}) is waiting for the secretary's approval; "
                "I will tell you the outcome here.", compound=compound.name, room=room))
    ]
    shown_phone = phone or str(draft.get("typed_phone", ""))
    requests = await ctx.tell_role(Role.SECRETARY, compound.id,
                                   lambda st: _approval_request(st, ctx, membership, room, shown_phone))
    replies += requests
    if not requests:
        replies.append(Reply(t("This compound has no secretary registered yet, so approval may take a while.")))
    return replies


def _approval_request(st: Translator, ctx: Context, membership: Membership, room: str, phone: str) -> Reply:
    return Reply(
        st("New member request: {name} asks to join as {relation} of {room}. Phone: {phone} (verified: {verified}).",
           name=ctx.person.name or "?", relation=st(RELATIONS[membership.relation]), room=room,
           phone=phone or st("not given"), verified=st("yes") if phone and ctx.person.phone == phone else st("no")),
        buttons=((Button.do(st("Approve"), "membership.decide", membership=membership.id, approve=True),
                  Button.do(st("Reject"), "membership.decide", membership=membership.id, approve=False)),),
    )


@router.button("membership.decide", roles=[Role.SECRETARY])
async def decide(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    membership = await ctx.session.get(Membership, int(ctx.args["membership"]))
    if membership is None or ctx.compound is None or membership.compound_id != ctx.compound.id:
        return Reply(t("This request does not belong to your compound."), toast=t("Not allowed"))
    if membership.status != MembershipStatus.PENDING:
        return Reply(t("This request was already decided."), toast=t("Already decided"))
    approve = bool(ctx.args.get("approve"))
    await store.decide(ctx.session, membership, approve, ctx.person_id, ctx.now)
    person = await ctx.session.get(Person, membership.person_id)
    room = await describe_room(ctx.session, membership.room_id) if membership.room_id else ""
    rt = await ctx.translator_for(membership.person_id)
    name = person.name if person else "?"
    if approve:
        told = Reply(rt("Good news: the secretary approved you. You are now registered in {compound} ({room}). "
                        "Send /help to see what you can do.", compound=ctx.compound.name, room=room),
                     to=ToPerson(membership.person_id))
        return [Reply(t("Approved: {name}, {room}.", name=name, room=room), toast=t("Approved")), told]
    told = Reply(rt("Sorry, the secretary did not approve your request to join {compound} ({room}). If this is a "
                    "mistake, please contact your building leader.", compound=ctx.compound.name, room=room),
                 to=ToPerson(membership.person_id))
    return [Reply(t("Rejected: {name}, {room}.", name=name, room=room), toast=t("Rejected")), told]


# ---- claiming and switching compounds ----------------------------------------------------------------------


@router.command("claim", private=True, help=None)
async def claim(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    code = str(ctx.args.get("command_args", "")).strip().upper()
    if not code:
        return Reply(t("Send /claim followed by the one-time secretary code printed when the compound was created."))
    compound = (await ctx.session.exec(select(Compound).where(Compound.claim_code == code[:16]))).first()
    if compound is None or compound.id is None:
        return Reply(t("That claim code is not valid or has already been used."))
    compound.claim_code = None
    ctx.session.add(compound)
    await grant_role(ctx.session, ctx.person_id, compound.id, Role.SECRETARY, by=None)
    ctx.person.current_compound_id = compound.id
    ctx.session.add(ctx.person)
    return Reply(t("You are now the secretary of {compound}. Residents join with the invite code {invite}. "
                   "Send /help to see what you can do.", compound=compound.name, invite=compound.invite_code))


@router.command("compound", private=True, help="Switch between your compounds", order=89)
async def switch_compound(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    ids = await compounds_of(ctx.session, ctx.person_id)
    if not ids:
        return Reply(t("You have not joined a compound yet. Send /join followed by your compound's invite code."))
    compounds = [c for c in [await ctx.session.get(Compound, i) for i in ids] if c is not None]
    current = ctx.compound.name if ctx.compound else "-"
    return Reply(t("You are acting in {compound}. Choose another:", compound=current),
                 buttons=rows(*(Button.do(c.name, "membership.switch", compound=c.id) for c in compounds), per_row=2))


@router.button("membership.switch")
async def switched(ctx: Context, msg: Incoming) -> Replies:
    compound_id = int(ctx.args["compound"])
    if compound_id not in await compounds_of(ctx.session, ctx.person_id):
        return Reply(ctx.t("You do not belong to that compound."), toast=ctx.t("Not allowed"))
    compound = await ctx.session.get(Compound, compound_id)
    ctx.person.current_compound_id = compound_id
    ctx.session.add(ctx.person)
    return Reply(ctx.t("Now acting in {compound}.", compound=compound.name if compound else "?"))


# ---- members and roles -----------------------------------------------------------------------------------

PAGE = 10


@router.command("members", roles=[Role.SECRETARY], private=True, help="Members, approvals and roles", order=60)
async def members(ctx: Context, msg: Incoming) -> Replies:
    return await _members_page(ctx, 0)


@router.button("membership.page", roles=[Role.SECRETARY], private=True)
async def members_more(ctx: Context, msg: Incoming) -> Replies:
    return await _members_page(ctx, int(ctx.args.get("offset", 0)))


async def _members_page(ctx: Context, offset: int) -> Reply:
    t = ctx.t
    assert ctx.compound is not None and ctx.compound.id is not None
    page = await store.members_page(ctx.session, ctx.compound.id, offset, PAGE + 1)
    lines = [t("Members of {compound}:", compound=ctx.compound.name)]
    buttons: list[Button] = []
    for person, membership in page[:PAGE]:
        room = await describe_room(ctx.session, membership.room_id) if membership.room_id else "-"
        roles = await roles_in(ctx.session, person.id or 0, ctx.compound.id)
        role_text = "、".join(role_name(t, r) for r in sorted(roles)) or t("not approved yet")
        lines.append(f"#{person.id} {person.name} · {room} · {t(RELATIONS.get(membership.relation, 'tenant'))} · "
                     f"{role_text}")
        buttons.append(Button.do(f"#{person.id} {person.name}", "membership.card", person=person.id))
    if len(page) > PAGE:
        buttons.append(Button.do(t("More"), "membership.page", offset=offset + PAGE))
    if len(lines) == 1:
        lines.append(t("No members yet."))
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=2))


async def _member_of(ctx: Context, person_id: int, pending: bool = False) -> Person | None:
    """Only people who belong to the secretary's own compound can be managed there (with `pending`, also those
    still waiting for approval: their card offers Approve / Reject)."""
    assert ctx.compound is not None
    if ctx.compound.id not in await compounds_of(ctx.session, person_id):
        waiting = (await ctx.session.exec(select(Membership.id).where(
            Membership.person_id == person_id, Membership.compound_id == ctx.compound.id,
            Membership.status == MembershipStatus.PENDING))).first() if pending else None
        if waiting is None:
            return None
    return await ctx.session.get(Person, person_id)


@router.button("membership.card", roles=[Role.SECRETARY], private=True)
async def member_card(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    person = await _member_of(ctx, int(ctx.args["person"]), pending=True)
    if person is None or person.id is None or ctx.compound is None:
        return Reply(t("That person is not a member of your compound."))
    roles = await roles_in(ctx.session, person.id, ctx.compound.id)
    buttons = []
    # Roles only for people who belong already; someone waiting is approved (or not) first.
    for role in GRANTABLE if ctx.compound.id in await compounds_of(ctx.session, person.id) else ():
        if role in roles:
            buttons.append(Button.do(t("Revoke {role}", role=role_name(t, role)), "membership.revoke",
                                     person=person.id, role=role.value))
        else:
            buttons.append(Button.do(t("Grant {role}", role=role_name(t, role)), "membership.grant",
                                     person=person.id, role=role.value))
    pending = (await ctx.session.exec(select(Membership).where(
        Membership.person_id == person.id, Membership.compound_id == ctx.compound.id, Membership.status == MembershipStatus.PENDING
    ))).all()
    for membership in pending:
        buttons.append(Button.do(t("Approve"), "membership.decide", membership=membership.id, approve=True))
        buttons.append(Button.do(t("Reject"), "membership.decide", membership=membership.id, approve=False))
    role_text = "、".join(role_name(t, r) for r in sorted(roles)) or t("not approved yet")
    return Reply(t("#{id} {name}: {roles}", id=person.id, name=person.name, roles=role_text),
                 buttons=rows(*buttons, per_row=2))


@router.button("membership.grant", roles=[Role.SECRETARY], private=True)
async def grant_pressed(ctx: Context, msg: Incoming) -> Replies:
    role = Role(str(ctx.args["role"]))
    building = ctx.args.get("building")
    if role == Role.BUILDING_LEADER and building is None:
        assert ctx.compound is not None
        buildings = await buildings_of(ctx.session, ctx.compound.id or 0)
        return Reply(ctx.t("Which building will they lead?"), buttons=rows(*(
            Button.do(b.name, "membership.grant", person=ctx.args["person"], role=role.value, building=b.id)
            for b in buildings), per_row=3))
    return await _grant(ctx, int(ctx.args["person"]), role, int(building) if building is not None else None)


@router.button("membership.revoke", roles=[Role.SECRETARY], private=True)
async def revoke_pressed(ctx: Context, msg: Incoming) -> Replies:
    return await _revoke(ctx, int(ctx.args["person"]), Role(str(ctx.args["role"])))


def _parse_role(word: str) -> Role | None:
    word = word.strip().lower()
    return ROLE_WORDS.get(word) or (Role(word) if word in {r.value for r in GRANTABLE} else None)


async def _parse_grant_args(ctx: Context) -> tuple[int, Role, str] | Reply:
    t = ctx.t
    parts = str(ctx.args.get("command_args", "")).split()
    usage = Reply(t("Usage: /grant MEMBER_NUMBER ROLE [BUILDING], for example /grant 12 building_leader 1栋. "
                    "Roles: secretary, building_leader, party_member, committee, property, official. "
                    "Member numbers are shown by /members."))
    if len(parts) < 2 or not parts[0].lstrip("#").isdigit():
        return usage
    role = _parse_role(parts[1])
    if role is None:
        return usage
    return int(parts[0].lstrip("#")), role, " ".join(parts[2:])


@router.command("grant", roles=[Role.SECRETARY], help="Give a member a role", order=61)
async def grant(ctx: Context, msg: Incoming) -> Replies:
    parsed = await _parse_grant_args(ctx)
    if isinstance(parsed, Reply):
        return parsed
    person_id, role, building_name = parsed
    building_id: int | None = None
    if role == Role.BUILDING_LEADER:
        assert ctx.compound is not None
        name = building_name.strip()
        # "1" and "1栋" name the same building, as in the roster.
        names = [name, f"{name}栋"] if name.isdigit() else [name]
        found = (await ctx.session.exec(select(Building).where(
            Building.compound_id == ctx.compound.id, col(Building.name).in_(names)))).first()
        if found is None:
            return Reply(ctx.t("Please name the building they will lead, for example /grant 12 building_leader 1栋."))
        building_id = found.id
    return await _grant(ctx, person_id, role, building_id)


@router.command("revoke", roles=[Role.SECRETARY], help="Take a role away", order=62)
async def revoke(ctx: Context, msg: Incoming) -> Replies:
    parsed = await _parse_grant_args(ctx)
    if isinstance(parsed, Reply):
        return parsed
    return await _revoke(ctx, parsed[0], parsed[1])


async def _grant(ctx: Context, person_id: int, role: Role, building_id: int | None) -> Replies:
    t = ctx.t
    person = await _member_of(ctx, person_id)
    if person is None or ctx.compound is None or ctx.compound.id is None:
        return Reply(t("That person is not a member of your compound."))
    if building_id is not None:
        building = await ctx.session.get(Building, building_id)
        if building is None or building.compound_id != ctx.compound.id:
            return Reply(t("That building is not in your compound."))
    added = await grant_role(ctx.session, person_id, ctx.compound.id, role, ctx.person_id, building_id)
    if not added:
        return Reply(t("{name} already is a {role}.", name=person.name, role=role_name(t, role)))
    done = Reply(t("{name} is now a {role}.", name=person.name, role=role_name(t, role)), toast=t("Done"))
    if person_id == ctx.person_id:
        return done
    pt = await ctx.translator_for(person_id)
    return [
        done,
        Reply(pt("The secretary of {compound} made you a {role}. Send /help to see what you can do now.",
                 compound=ctx.compound.name, role=role_name(pt, role)), to=ToPerson(person_id)),
    ]


async def _revoke(ctx: Context, person_id: int, role: Role) -> Replies:
    t = ctx.t
    person = await _member_of(ctx, person_id)
    if person is None or ctx.compound is None or ctx.compound.id is None:
        return Reply(t("That person is not a member of your compound."))
    if role == Role.SECRETARY:
        secretaries = await people_with_role(ctx.session, ctx.compound.id, Role.SECRETARY)
        if secretaries == [person_id]:
            return Reply(t("A compound must keep at least one secretary. Grant the role to someone else first."))
    if await revoke_role(ctx.session, person_id, ctx.compound.id, role, ctx.now) == 0:
        return Reply(t("{name} is not a {role}.", name=person.name, role=role_name(t, role)))
    done = Reply(t("{name} is no longer a {role}.", name=person.name, role=role_name(t, role)), toast=t("Done"))
    if person_id == ctx.person_id:
        return done
    pt = await ctx.translator_for(person_id)
    return [
        done,
        Reply(pt("You are no longer a {role} in {compound}.", role=role_name(pt, role), compound=ctx.compound.name),
              to=ToPerson(person_id)),
    ]


# ---- group chats ------------------------------------------------------------------------------------------


@router.command("bindgroup", roles=[Role.SECRETARY], help="Bind this group chat to your compound", order=63)
async def bindgroup(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    if ctx.private:
        return Reply(t("Send /bindgroup inside the group chat you want to bind, not here."))
    secretary_of = [
        compound_id for compound_id in await compounds_of(ctx.session, ctx.person_id)
        if Role.SECRETARY in await roles_in(ctx.session, ctx.person_id, compound_id)
    ]
    if not secretary_of:
        return Reply(t("Sorry, only a {roles} can do that.", roles=role_name(t, Role.SECRETARY)))
    if ctx.chat.compound_id is not None and ctx.chat.compound_id not in secretary_of:
        return Reply(t("This group is already bound to another compound."))
    compound_id = ctx.chat.compound_id or (ctx.person.current_compound_id if ctx.person.current_compound_id in
                                           secretary_of else secretary_of[0])
    compound = await ctx.session.get(Compound, compound_id)
    assert compound is not None
    building_name = str(ctx.args.get("command_args", "")).strip()
    building_id: int | None = None
    if building_name:
        found = (await ctx.session.exec(select(Building).where(
            Building.compound_id == compound_id, Building.name == building_name))).first()
        if found is None:
            return Reply(t("There is no building called {building} in {compound}.", building=building_name[:20],
                           compound=compound.name))
        building_id = found.id
    ctx.chat.compound_id = compound_id
    ctx.chat.building_id = building_id
    ctx.chat.active = True
    ctx.session.add(ctx.chat)
    if building_id is not None:
        return Reply(t("This group is now bound to {compound}, building {building}. Postings for that building "
                       "will appear here.", compound=compound.name, building=building_name))
    return Reply(t("This group is now bound to {compound}. Announcements, tasks and votes will appear here.",
                   compound=compound.name))


__all__ = ["Unit", "router"]
