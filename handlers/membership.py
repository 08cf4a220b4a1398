"""Joining a compound, claiming it as its secretary, approving members, granting roles, binding groups."""

from __future__ import annotations

from bot.core import answers
from bot.core.context import Context, MemberContext
from bot.core.dispatcher import role_name
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import XLSX, Button, Incoming, Media, Replies, Reply, ToPerson, rows
from storage import db
from storage import ledger as xlsx
from storage import membership as store
from storage.compounds import Compound, buildings_of, compound_by_invite, describe_room, rooms_of, units_of
from storage.notifications import Notice, NoticeKind, Urgency
from storage.people import GRANTABLE, Membership, MembershipStatus, Person, Role, compounds_of, roles_in

router = Router("membership")

MAX_ROOM_BUTTONS = 30
RELATIONS = {"owner": N_("owner"), "tenant": N_("tenant")}
# The words /grant and /revoke take for a role: its code, and how people write it in simplified and traditional
# characters (a Taiwan or Hong Kong keyboard types 樓棟長, 黨員, 業委會), the role names /members shows included.
ROLE_WORDS = {
    "secretary": Role.SECRETARY, "书记": Role.SECRETARY, "書記": Role.SECRETARY, "支部书记": Role.SECRETARY,
    "支部書記": Role.SECRETARY,
    "building_leader": Role.BUILDING_LEADER, "楼栋长": Role.BUILDING_LEADER, "樓棟長": Role.BUILDING_LEADER,
    "楼长": Role.BUILDING_LEADER, "樓長": Role.BUILDING_LEADER,
    "party_member": Role.PARTY_MEMBER, "党员": Role.PARTY_MEMBER, "黨員": Role.PARTY_MEMBER,
    "committee": Role.COMMITTEE, "业委会": Role.COMMITTEE, "業委會": Role.COMMITTEE, "业委会委员": Role.COMMITTEE,
    "業委會委員": Role.COMMITTEE,
    "property": Role.PROPERTY, "物业": Role.PROPERTY, "物業": Role.PROPERTY, "物业人员": Role.PROPERTY,
    "物業人員": Role.PROPERTY,
    "official": Role.OFFICIAL, "社区": Role.OFFICIAL, "社區": Role.OFFICIAL, "街道": Role.OFFICIAL,
    "官员": Role.OFFICIAL, "官員": Role.OFFICIAL,
    "supervisor": Role.SUPERVISOR, "监事": Role.SUPERVISOR, "監事": Role.SUPERVISOR, "监督组": Role.SUPERVISOR,
    "監督組": Role.SUPERVISOR,
    "mediator": Role.MEDIATOR, "调解员": Role.MEDIATOR, "調解員": Role.MEDIATOR, "调解委员会": Role.MEDIATOR,
    "調解委員會": Role.MEDIATOR,
}
# A person's number on /grant, /revoke (as /members shows it, #12 or 12).
MAX_PERSON_ID = 10**12
MAX_PAGE = 10_000


# ---- joining ---------------------------------------------------------------------------------------------


class Joining(Draft):
    compound: int = 0
    building: int = 0
    unit: int = 0
    room: int = 0
    relation: str = ""
    # An invite code given with /join that matched no compound: the first question says so.
    wrong_code: str = ""
    # A phone number shared before joining began (a contact sent outside a conversation): not asked again.
    phone: str = ""
    phone_verified: bool = False


joining = Flow("join", Joining, title=N_("joining a compound"), member=False)

BUILDING_REFUSAL = N_("Please choose your building with the buttons above, or type its name exactly.")
UNIT_REFUSAL = N_("Please choose your unit with the buttons above.")
ROOM_REFUSAL = N_("I could not find that room in this unit. Please choose it with the buttons or type its number.")


def _not_found(t: Translator, code: str) -> Reply:
    return Reply(t("I could not find a compound with the invite code {code}. Please check it and send it again, or "
                   "send /cancel.", code=code[:20]))


@router.command("join", group="join", private=True, flow=True, help="Join your compound", order=2)
async def join(ctx: Context, msg: Incoming) -> Replies:
    return await join_with_code(ctx, str(ctx.args.get("command_args", "")))


async def join_with_code(ctx: Context, typed: str) -> Replies:
    """Joining begins: at the building with a known invite code (/join CODE, /start CODE from a QR code), else at
    the code question."""
    code = answers.clean_text(typed[:200])
    if not code:
        return await joining.begin(ctx, Joining())
    compound = await compound_by_invite(ctx.session, code[:32])
    if compound is None or compound.id is None:
        from handlers.organisations import join_organisation  # a department's or company's code: no room

        if (joined := await join_organisation(ctx, code[:32])) is not None:
            return joined
        return await joining.begin(ctx, Joining(wrong_code=code[:20]))
    if not await buildings_of(ctx.session, compound.id):
        return _no_buildings(ctx, compound)
    return await joining.begin(ctx, Joining(compound=compound.id), step="building")


CONTACT = answers.Phone(refusal=N_("Please share your phone number with the button."),
                        not_own=N_("Please share your own phone number with the button, not someone else's contact."))


async def join_with_contact(ctx: Context, msg: Incoming) -> Replies:
    """A phone number shared outside a conversation: joining begins with it, so the last step is not asked."""
    phone = CONTACT.read(ctx, msg)
    if isinstance(phone, Reply):
        return phone
    thanks = Reply(ctx.t("Thank you, I have your phone number. Let's register you in your compound."))
    first = await joining.begin(ctx, Joining(phone=phone.number, phone_verified=phone.verified))
    return [thanks, *(first if isinstance(first, list) else [first] if first is not None else [])]


def _no_buildings(ctx: Context, compound: Compound) -> Reply:
    return Reply(ctx.t("{compound} has no buildings registered yet. Please ask your secretary.", compound=compound.name))


def _ask_code(ctx: Context, draft: Joining) -> Reply:
    if draft.wrong_code:
        return _not_found(ctx.t, draft.wrong_code)
    return Reply(ctx.t("Please send your compound's invite code (your secretary or building leader has it)."))


@joining.step("code", ask=_ask_code, answer=answers.Text(32, what=N_("invite code")), next=("building",))
async def join_code(ctx: Context, draft: Joining, code: str) -> Outcome:
    compound = await compound_by_invite(ctx.session, code)
    if compound is None or compound.id is None:
        from handlers.organisations import join_organisation

        if (joined := await join_organisation(ctx, code)) is not None:
            return Done(joined)
        return Stay(_not_found(ctx.t, code))
    if not await buildings_of(ctx.session, compound.id):
        return Done(_no_buildings(ctx, compound))
    return Go("building", draft.model_copy(update={"compound": compound.id, "wrong_code": ""}))


async def _ask_building(ctx: Context, draft: Joining) -> Reply:
    compound = await ctx.session.get(Compound, draft.compound)
    buildings = await buildings_of(ctx.session, draft.compound)
    return Reply(ctx.t("Welcome to {compound}! Which building do you live in?",
                       compound=compound.name if compound else "?"),
                 buttons=rows(*(Button.choice(b.name, b.id) for b in buildings[:60]), per_row=3))


# A button, or the name typed ("2栋", "2"): storage matches names with or without their 栋/单元/号/室.
def _place(limit: int, refusal: str) -> answers.Either:
    return answers.Either((answers.Choice(), answers.Text(limit)), refusal=refusal)


@joining.step("building", ask=_ask_building, answer=_place(64, BUILDING_REFUSAL), next=("unit", "room", "relation"))
async def join_building(ctx: Context, draft: Joining, answer: int | str) -> Outcome:
    building = await store.pick_building(ctx.session, draft.compound, answer)
    if (building is None or building.id is None) and isinstance(answer, str):
        # The whole address typed at once (1栋1单元301, 1棟1單元301室): building, unit and room are answered.
        room = await store.room_by_address(ctx.session, draft.compound, answer)
        if room is not None and room.id is not None:
            return await _room_chosen(ctx, draft.model_copy(update={"building": room.building_id,
                                                                   "unit": room.unit_id}), room.id)
    if building is None or building.id is None:
        return Stay(Reply(ctx.t(BUILDING_REFUSAL)))
    draft = draft.model_copy(update={"building": building.id})
    units = await units_of(ctx.session, building.id)
    if len(units) == 1:
        return Go("room", draft.model_copy(update={"unit": units[0].id}))
    return Go("unit", draft)


async def _ask_unit(ctx: Context, draft: Joining) -> Reply:
    units = await units_of(ctx.session, draft.building)
    return Reply(ctx.t("Which unit (entrance)?"), buttons=rows(*(Button.choice(u.name, u.id) for u in units), per_row=3))


@joining.step("unit", ask=_ask_unit, answer=_place(64, UNIT_REFUSAL), next=("room",))
async def join_unit(ctx: Context, draft: Joining, answer: int | str) -> Outcome:
    unit = await store.pick_unit(ctx.session, draft.building, answer)
    if unit is None or unit.id is None:
        return Stay(Reply(ctx.t(UNIT_REFUSAL)))
    return Go("room", draft.model_copy(update={"unit": unit.id}))


async def _ask_room(ctx: Context, draft: Joining) -> Reply:
    rooms = await rooms_of(ctx.session, draft.unit)
    if len(rooms) > MAX_ROOM_BUTTONS:
        return Reply(ctx.t("Please type your room number, for example 1502."))
    return Reply(ctx.t("Which room?"), buttons=rows(*(Button.choice(r.number, r.id) for r in rooms), per_row=4))


@joining.step("room", ask=_ask_room, answer=_place(32, ROOM_REFUSAL), next=("relation",))
async def join_room(ctx: Context, draft: Joining, answer: int | str) -> Outcome:
    t = ctx.t
    room = await store.pick_room(ctx.session, draft.unit, answer)
    if room is None or room.id is None:
        return Stay(Reply(t(ROOM_REFUSAL)))
    return await _room_chosen(ctx, draft, room.id)


async def _room_chosen(ctx: Context, draft: Joining, room_id: int) -> Outcome:
    t = ctx.t
    existing = await store.existing_membership(ctx.session, ctx.person_id, room_id)
    if existing is not None:
        return Done(Reply(t("You are already registered for this room.") if existing.status == MembershipStatus.APPROVED
                          else t("Your request for this room is already waiting for the secretary's approval.")))
    return Go("relation", draft.model_copy(update={"room": room_id}))


def _ask_relation(ctx: Context, draft: Joining) -> Reply:
    t = ctx.t
    return Reply(t("Are you the owner of this room or a tenant?"),
                 buttons=((Button.choice(t("Owner"), "owner"), Button.choice(t("Tenant"), "tenant")),))


@joining.step("relation", ask=_ask_relation, next=("phone",), answer=answers.Choice(
    values=tuple(RELATIONS), refusal=N_("Please answer with one of the buttons: owner or tenant.")))
async def join_relation(ctx: Context, draft: Joining, relation: str) -> Outcome:
    draft = draft.model_copy(update={"relation": relation})
    if draft.phone:  # shared before joining began
        return await _request(ctx, draft, answers.SharedPhone(draft.phone, draft.phone_verified))
    return Go("phone", draft)


def _ask_phone(ctx: Context, draft: Joining) -> Reply:
    t = ctx.t
    return Reply(
        t("Last step: share your phone number with the button below. If it matches the owners' roster you are "
          "approved at once; otherwise the secretary will approve you. You can also skip this."),
        buttons=((Button.share_contact(t("Share my phone number")),), (Button.choice(t("Skip"), "skip"),)),
    )


@joining.step("phone", ask=_ask_phone, answer=answers.Phone(
    refusal=N_("Please use the button to share your phone number, or press Skip."),
    not_own=N_("Please share your own phone number with the button, not someone else's contact."), skip="skip"))
async def join_phone(ctx: Context, draft: Joining, phone: answers.SharedPhone) -> Outcome:
    return await _request(ctx, draft, phone)


async def _request(ctx: Context, draft: Joining, phone: answers.SharedPhone) -> Outcome:
    """The request to join with everything answered: approved at once by the roster, or sent to the secretary."""
    t = ctx.t
    request = await store.request_join(ctx.session, ctx.person_id, draft.room, draft.relation, phone.number,
                                       phone.verified, ctx.now)
    compound = await db.get(ctx.session, Compound, draft.compound)
    membership = request.membership
    if compound is None or compound.id is None or membership is None:
        return Done(Reply(t("That conversation cannot continue any more. Please start again.")))
    room = await describe_room(ctx.session, draft.room)
    if request.outcome == store.Joined.ALREADY_MEMBER:
        return Done(Reply(t("You are already registered for this room.")))
    if request.outcome == store.Joined.ALREADY_WAITING:
        return Done(Reply(t("Your request for this room is already waiting for the secretary's approval.")))
    if request.outcome == store.Joined.APPROVED:
        return Done(Reply(t("Welcome, neighbour! Your phone number matches the owners' roster, so you are now "
                            "registered as the owner of {room} in {compound}. Send /help to see what you can do.",
                            room=room, compound=compound.name)))
    # The secretaries' Approve / Reject buttons act in the compound joined, not in one the person is in already.
    ctx.compound = compound
    replies: list[Reply] = [
        Reply(t("Thank you. Your request to join {compound} ({room}) is waiting for the secretary's approval; "
                "I will tell you the outcome here.", compound=compound.name, room=room))
    ]
    requests = await ctx.tell_role(Role.SECRETARY, compound.id, lambda st: _approval_request(
        st, ctx.person.name, membership, room, phone))
    replies += requests
    if not requests:
        replies.append(Reply(t("This compound has no secretary registered yet, so approval may take a while.")))
    return Done(replies)


def _approval_request(st: Translator, name: str, membership: Membership, room: str,
                      phone: answers.SharedPhone) -> Reply:
    return Reply(
        st("New member request: {name} asks to join as {relation} of {room}. Phone: {phone} (verified: {verified}).",
           name=name or "?", relation=st(RELATIONS[membership.relation]), room=room,
           phone=phone.number or st("not given"), verified=st("yes") if phone.verified else st("no")),
        buttons=((Button.do(st("Approve"), "membership.decide", membership=membership.id, approve=True),
                  Button.do(st("Reject"), "membership.decide", membership=membership.id, approve=False)),),
        # A request the secretary must decide: never capped into the evening digest.
        notice=Notice(NoticeKind.CASE_TO_ACT, f"membership:{membership.id}", "requested"),
    )


def _decided(membership: Membership) -> Notice:
    # The applicant is waiting for this answer: it passes the daily cap and quiet hours like an urgent notice.
    return Notice(NoticeKind.OTHER, f"membership:{membership.id}", membership.status, urgency=Urgency.URGENT)


@router.button("membership.decide", roles=[Role.SECRETARY])
async def decide(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    approving = bool(ctx.args.get("approve"))
    act = store.approve if approving else store.reject
    decision, membership = await act(ctx.session, int(ctx.args["membership"]), ctx.compound_id, ctx.person_id,
                                     ctx.now)
    if decision == store.Decision.NOT_HERE or membership is None:
        return Reply(t("This request does not belong to your compound."), toast=t("Not allowed"))
    if decision == store.Decision.ALREADY:
        return Reply(t("This request was already decided."), toast=t("Already decided"))
    person = await ctx.session.get(Person, membership.person_id)
    room = await describe_room(ctx.session, membership.room_id) if membership.room_id else ""
    rt = await ctx.translator_for(membership.person_id)
    name = person.name if person else "?"
    if approving:
        told = Reply(rt("Good news: the secretary approved you. You are now registered in {compound} ({room}). "
                        "Send /help to see what you can do.", compound=ctx.compound.name, room=room),
                     to=ToPerson(membership.person_id), notice=_decided(membership))
        return [Reply(t("Approved: {name}, {room}.", name=name, room=room), toast=t("Approved")), told]
    told = Reply(rt("Sorry, the secretary did not approve your request to join {compound} ({room}). If this is a "
                    "mistake, please contact your building leader.", compound=ctx.compound.name, room=room),
                 to=ToPerson(membership.person_id), notice=_decided(membership))
    return [Reply(t("Rejected: {name}, {room}.", name=name, room=room), toast=t("Rejected")), told]


# ---- claiming and switching compounds ----------------------------------------------------------------------


@router.command("claim", private=True, help=None)
async def claim(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    code = answers.clean_text(str(ctx.args.get("command_args", ""))[:100])
    if not code:
        return Reply(t("Send /claim followed by the one-time secretary code printed when the compound was created."))
    compound = await store.claim_compound(ctx.session, code, ctx.person_id)
    if compound is None:
        return Reply(t("That claim code is not valid or has already been used."))
    return Reply(t("You are now the secretary of {compound}. Residents join with the invite code {invite}. "
                   "Send /help to see what you can do.", compound=compound.name, invite=compound.invite_code))


@router.command("compound", group="account", private=True, help="Switch between your compounds", order=89)
async def switch_compound(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    compounds = await store.my_compounds(ctx.session, ctx.person_id)
    if not compounds:
        return Reply(t("You have not joined a compound yet. Send /join followed by your compound's invite code."))
    current = ctx.compound.name if ctx.compound else "-"
    return Reply(t("You are acting in {compound}. Choose another:", compound=current),
                 buttons=rows(*(Button.do(c.name, "membership.switch", compound=c.id) for c in compounds), per_row=2))


@router.button("membership.switch")
async def switched(ctx: Context, msg: Incoming) -> Replies:
    compound = await store.switch_compound(ctx.session, ctx.person_id, int(ctx.args["compound"]))
    if compound is None:
        return Reply(ctx.t("You do not belong to that compound."), toast=ctx.t("Not allowed"))
    return Reply(ctx.t("Now acting in {compound}.", compound=compound.name))


# ---- members and roles -----------------------------------------------------------------------------------

PAGE = 10


@router.command("members", group="members", roles=[Role.SECRETARY], private=True, help="Members, approvals and roles", order=60)
async def members(ctx: MemberContext, msg: Incoming) -> Replies:
    typed = str(ctx.args.get("command_args", "")).strip()
    if not typed:
        return await _members_page(ctx, 0)
    page = answers.whole_number(typed[:40], 1, MAX_PAGE)
    if page is None:
        return Reply(ctx.t("Send /members, or /members followed by a page number from 1 to {high}.", high=MAX_PAGE))
    return await _members_page(ctx, (page - 1) * PAGE)


@router.button("membership.page", roles=[Role.SECRETARY], private=True)
async def members_more(ctx: MemberContext, msg: Incoming) -> Replies:
    offset = ctx.args.get("offset", 0)
    return await _members_page(ctx, offset if isinstance(offset, int) and 0 <= offset <= MAX_PAGE * PAGE else 0)


async def _members_page(ctx: MemberContext, offset: int) -> Reply:
    t = ctx.t
    page = await store.members_page(ctx.session, ctx.compound_id, offset, PAGE + 1)
    lines = [t("Members of {compound}:", compound=ctx.compound.name)]
    buttons: list[Button] = []
    for person, membership in page[:PAGE]:
        room = await describe_room(ctx.session, membership.room_id) if membership.room_id else "-"
        roles = await roles_in(ctx.session, membership.person_id, ctx.compound_id)
        role_text = "、".join(role_name(t, r) for r in sorted(roles)) or t("not approved yet")
        lines.append(f"#{person.id} {person.name} · {room} · {t(RELATIONS.get(membership.relation, 'tenant'))} · "
                     f"{role_text}")
        buttons.append(Button.do(f"#{person.id} {person.name}", "membership.card", person=person.id))
    if len(page) > PAGE:
        buttons.append(Button.do(t("More"), "membership.page", offset=offset + PAGE))
    if len(lines) == 1:
        lines.append(t("No members yet."))
    if offset == 0:  # officials, property staff and partner units' people have no room: listed by organisation
        from handlers.organisations import organisation_lines

        lines += await organisation_lines(ctx.session, t, ctx.compound_id)
    return Reply("\n".join(lines), buttons=rows(*buttons, per_row=2))


@router.button("membership.card", roles=[Role.SECRETARY], private=True)
async def member_card(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    person = await store.member_of(ctx.session, int(ctx.args["person"]), ctx.compound_id, pending=True)
    if person is None or person.id is None:
        return Reply(t("That person is not a member of your compound."))
    roles = await roles_in(ctx.session, person.id, ctx.compound_id)
    buttons = []
    # Roles only for people who belong already; someone waiting is approved (or not) first.
    for role in GRANTABLE if ctx.compound_id in await compounds_of(ctx.session, person.id) else ():
        if role in roles:
            buttons.append(Button.do(t("Revoke {role}", role=role_name(t, role)), "membership.revoke",
                                     person=person.id, role=role.value))
        else:
            buttons.append(Button.do(t("Grant {role}", role=role_name(t, role)), "membership.grant",
                                     person=person.id, role=role.value))
    for membership in await store.pending_requests(ctx.session, person.id, ctx.compound_id):
        buttons.append(Button.do(t("Approve"), "membership.decide", membership=membership.id, approve=True))
        buttons.append(Button.do(t("Reject"), "membership.decide", membership=membership.id, approve=False))
    role_text = "、".join(role_name(t, r) for r in sorted(roles)) or t("not approved yet")
    return Reply(t("#{id} {name}: {roles}", id=person.id, name=person.name, roles=role_text),
                 buttons=rows(*buttons, per_row=2))


@router.button("membership.grant", roles=[Role.SECRETARY], private=True)
async def grant_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    role = Role(str(ctx.args["role"]))
    building = ctx.args.get("building")
    if role == Role.BUILDING_LEADER and building is None:
        buildings = await buildings_of(ctx.session, ctx.compound_id)
        return Reply(ctx.t("Which building will they lead?"), buttons=rows(*(
            Button.do(b.name, "membership.grant", person=ctx.args["person"], role=role.value, building=b.id)
            for b in buildings), per_row=3))
    return await _grant(ctx, int(ctx.args["person"]), role, int(building) if building is not None else None)


@router.button("membership.revoke", roles=[Role.SECRETARY], private=True)
async def revoke_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    return await _revoke(ctx, int(ctx.args["person"]), Role(str(ctx.args["role"])))


def _parse_role(word: str) -> Role | None:
    word = word.strip().lower()
    return ROLE_WORDS.get(word) or (Role(word) if word in {r.value for r in (*GRANTABLE, Role.OFFICIAL)} else None)


def _parse_grant_args(ctx: MemberContext) -> tuple[int, Role, str] | Reply:
    """/grant and /revoke: MEMBER_NUMBER ROLE [BUILDING]. The number is read like every typed number (digits only:
    no ², no ①, at most 15 of them); anything else gets the usage."""
    t = ctx.t
    parts = str(ctx.args.get("command_args", ""))[:500].split()
    usage = Reply(t("Usage: /grant MEMBER_NUMBER ROLE [BUILDING], for example /grant 12 building_leader 1栋. "
                    "Roles: secretary, building_leader, party_member, committee, property, supervisor, mediator. "
                    "Member numbers are shown by /members."))
    person_id = answers.whole_number(parts[0].removeprefix("#"), 1, MAX_PERSON_ID) if parts else None
    role = _parse_role(parts[1]) if len(parts) >= 2 else None
    if person_id is None or role is None:
        return usage
    return person_id, role, " ".join(parts[2:])


@router.command("grant", group="members", roles=[Role.SECRETARY], help="Give a member a role", order=61)
async def grant(ctx: MemberContext, msg: Incoming) -> Replies:
    parsed = _parse_grant_args(ctx)
    if isinstance(parsed, Reply):
        return parsed
    person_id, role, building_name = parsed
    building_id: int | None = None
    if role == Role.BUILDING_LEADER:
        # "1" and "1栋" name the same building, as in the roster.
        found = await store.building_named(ctx.session, ctx.compound_id, building_name)
        if found is None:
            return Reply(ctx.t("Please name the building they will lead, for example /grant 12 building_leader 1栋."))
        building_id = found.id
    return await _grant(ctx, person_id, role, building_id)


@router.command("revoke", group="members", roles=[Role.SECRETARY], help="Take a role away", order=62)
async def revoke(ctx: MemberContext, msg: Incoming) -> Replies:
    parsed = _parse_grant_args(ctx)
    if isinstance(parsed, Reply):
        return parsed
    return await _revoke(ctx, parsed[0], parsed[1])


async def _grant(ctx: MemberContext, person_id: int, role: Role, building_id: int | None) -> Replies:
    t = ctx.t
    if role not in GRANTABLE:  # an official belongs to a street department: the street admin adds them
        from handlers.organisations import official_refusal_for

        return await official_refusal_for(ctx)
    granted = await store.grant(ctx.session, ctx.compound_id, person_id, role, ctx.person_id, building_id)
    person = await ctx.session.get(Person, person_id)
    if granted == store.Granted.NOT_MEMBER or person is None:
        return Reply(t("That person is not a member of your compound."))
    if granted == store.Granted.NOT_OUR_BUILDING:
        return Reply(t("That building is not in your compound."))
    if granted == store.Granted.ALREADY:
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


async def _revoke(ctx: MemberContext, person_id: int, role: Role) -> Replies:
    t = ctx.t
    revoked = await store.revoke(ctx.session, ctx.compound_id, person_id, role, ctx.now)
    person = await ctx.session.get(Person, person_id)
    if revoked == store.Revoked.NOT_MEMBER or person is None:
        return Reply(t("That person is not a member of your compound."))
    if revoked == store.Revoked.LAST_SECRETARY:
        return Reply(t("A compound must keep at least one secretary. Grant the role to someone else first."))
    if revoked == store.Revoked.NOT_HELD:
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


@router.command("bindgroup", group="members", roles=[Role.SECRETARY], help="Bind this group chat to your compound", order=63)
async def bindgroup(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    if ctx.private:
        return Reply(t("Send /bindgroup inside the group chat you want to bind, not here."))
    secretary_of = await store.secretary_of(ctx.session, ctx.person_id)
    if not secretary_of:
        return Reply(t("Sorry, only a {roles} can do that.", roles=role_name(t, Role.SECRETARY)))
    if ctx.chat.compound_id is not None and ctx.chat.compound_id not in secretary_of:
        return Reply(t("This group is already bound to another compound."))
    compound_id = ctx.chat.compound_id or (ctx.person.current_compound_id if ctx.person.current_compound_id in
                                           secretary_of else secretary_of[0])
    compound = await ctx.session.get(Compound, compound_id)
    if compound is None:
        return Reply(t("This group is already bound to another compound."))
    building_name = answers.clean_text(str(ctx.args.get("command_args", ""))[:200])
    building_id: int | None = None
    if building_name:
        found = await store.building_named(ctx.session, compound_id, building_name)
        if found is None:
            return Reply(t("There is no building called {building} in {compound}.", building=building_name[:20],
                           compound=compound.name))
        building_id, building_name = found.id, found.name
    await store.bind_group(ctx.session, ctx.chat, compound_id, building_id)
    if building_id is not None:
        return Reply(t("This group is now bound to {compound}, building {building}. Postings for that building "
                       "will appear here.", compound=compound.name, building=building_name))
    return Reply(t("This group is now bound to {compound}. Announcements, tasks and votes will appear here.",
                   compound=compound.name))


router.flow(joining)

__all__ = ["router"]


# ---- the member list (成员名单) --------------------------------------------------------------------------------

RELATIONS = {"owner": N_("Owner"), "tenant": N_("Tenant")}
# Who may have the member list; only a secretary sees the phone numbers on it.
LIST_ROLES = [Role.SECRETARY, Role.COMMITTEE, Role.SUPERVISOR]


@router.command("export members", group="members", roles=LIST_ROLES, private=True, order=64,
                help="Export the member list by building (XLSX)")
async def export_members(ctx: MemberContext, msg: Incoming) -> Replies:
    """`/export members`: every approved member by building, unit and room with their roles; a sheet per
    building and one of everyone; phone numbers for the secretary only."""
    t = ctx.t
    phones = ctx.has(Role.SECRETARY)
    listed = await store.member_list(ctx.session, ctx.compound_id)
    columns = [xlsx.Column(N_("Building")), xlsx.Column(N_("Unit")), xlsx.Column(N_("Room"), xlsx.Kind.CODE),
               xlsx.Column(N_("Name")), xlsx.Column(N_("Relation"), labels=RELATIONS), xlsx.Column(N_("Roles")),
               *([xlsx.Column(N_("Phone"), xlsx.Kind.CODE)] if phones else []),
               xlsx.Column(N_("Joined"), xlsx.Kind.DATE)]

    def row(line: store.Listed) -> tuple[object, ...]:
        roles = "、".join(role_name(t, Role(code)) for code in line.roles if code in Role.__members__.values())
        return (line.building, line.unit, line.room, line.name, line.relation, roles,
                *([line.phone] if phones else []), line.joined_at)

    sheets = [xlsx.Sheet(N_("All members"), columns, [row(line) for line in listed])]
    for building in dict.fromkeys(line.building for line in listed if line.building):
        sheets.append(xlsx.Sheet(building, columns, [row(line) for line in listed if line.building == building]))
    from handlers.organisations import organisation_sheet  # officials, property staff, partner units: no room

    sheets.append(await organisation_sheet(ctx.session, ctx.compound_id, phones))
    today = ctx.now.astimezone(ctx.zone(ctx.compound)).date()
    data = xlsx.render(t, xlsx.Ledger(N_("Member list"), ctx.compound.name, t("as of {day}", day=today.isoformat()),
                                      sheets, ctx.zone(ctx.compound)))
    return Reply(t("The member list of {compound}: {n} members.", compound=ctx.compound.name, n=len(listed))
                 + ("" if phones else "\n" + t("Phone numbers are on the secretary's copy only.")),
                 document=Media(data, f"members-{ctx.compound.code}-{today:%Y%m%d}.xlsx", XLSX))
