"""Organisations beyond the room: the street admin's departments and officials (/street, /department,
/official), property company staff invited with a code (/staffcode), partner units (/partner), joining any of
them with `/join CODE` (or `/start CODE`) and no room, and the shell's `linli street|community|company|partner`.

Who may do what is decided in storage/organisations.py: an official is a member of one of the street's
departments (only its street admin adds or removes them), property staff belong to the company serving the
compound, and neither needs a room."""

from __future__ import annotations

from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from bot.core import answers
from bot.core.context import Context, MemberContext
from bot.core.flows import Done, Draft, Flow, Go, Outcome, Stay
from bot.core.i18n import N_, Translator
from bot.core.router import Router
from bot.core.types import Button, Incoming, Replies, Reply, ToPerson, rows
from storage import ledger as xlsx
from storage import organisations as store
from storage.compounds import Compound, compound_by_code
from storage.people import Person, Role, normalize_phone

router = Router("organisations")

CATEGORIES = {
    store.PartnerCategory.SCHOOL: N_("school"),
    store.PartnerCategory.HOSPITAL: N_("hospital"),
    store.PartnerCategory.BUSINESS: N_("business"),
    store.PartnerCategory.EMPLOYER: N_("party members' employer"),
    store.PartnerCategory.OTHER: N_("other"),
}
GROUP_KINDS = {"department": N_("department"), "property": N_("property company"), "partner": N_("partner unit")}
MAX_NAME = 50


def _args(ctx: Context) -> str:
    return answers.clean_text(str(ctx.args.get("command_args", ""))[:300])


async def _names(session: AsyncSession, people: list[int] | tuple[int, ...]) -> str:
    named = [await session.get(Person, person) for person in people]
    return "、".join(f"#{p.id} {p.name or '?'}" for p in named if p is not None) or "-"


async def _compound_names(session: AsyncSession, compound_ids: list[int]) -> str:
    found = [await session.get(Compound, c) for c in compound_ids]
    return "、".join(c.name for c in found if c is not None) or "-"


# ---- joining with an organisation's invite (no room) ------------------------------------------------------------


async def join_organisation(ctx: Context, code: str) -> Replies | None:
    """`/join CODE` or `/start CODE` with a street admin's, a department's or a property company's invite: the
    person joins it with no room. None when the code is no such invite (it may be a compound's)."""
    t = ctx.t
    outcome, invite = await store.redeem(ctx.session, code, ctx.person_id, ctx.now)
    if outcome == store.Redeemed.UNKNOWN or invite is None:
        return None
    if outcome == store.Redeemed.USED:
        return Reply(t("This invite code has been used already. Please ask for a new one."))
    if outcome == store.Redeemed.EXPIRED:
        return Reply(t("This invite code has lapsed. Please ask for a new one."))
    acting = await store.derived_compounds(ctx.session, ctx.person_id)
    if acting and ctx.person.current_compound_id not in acting:
        ctx.person.current_compound_id = acting[0]
        ctx.session.add(ctx.person)
    where = await _compound_names(ctx.session, acting)
    if invite.street_id is not None:
        street = await ctx.session.get(store.Street, invite.street_id)
        joined = Reply(t("You are now an admin of {street}. Send /street to manage its departments and officials.",
                         street=street.name if street else "?"))
    elif invite.department_id is not None:
        department = await ctx.session.get(store.Department, invite.department_id)
        street = await ctx.session.get(store.Street, department.street_id) if department else None
        joined = Reply(t("You are now an official of {department} ({street}), for these compounds: {compounds}. "
                         "Send /help to see what you can do.", department=department.name if department else "?",
                         street=street.name if street else "?", compounds=where))
    else:
        organisation = await ctx.session.get(store.Organisation, invite.organisation_id)
        joined = Reply(t("You are now on the staff of {company}, for these compounds: {compounds}. Send /help to see "
                         "what you can do.", company=organisation.name if organisation else "?", compounds=where))
    if outcome == store.Redeemed.ALREADY or invite.created_by in (None, ctx.person_id):
        return joined
    pt = await ctx.translator_for(invite.created_by)
    return [joined, Reply(pt("{name} has joined with the invite code {code}.", name=ctx.person.name or "?",
                             code=invite.code), to=ToPerson(invite.created_by))]


# ---- the street admin: departments and officials ----------------------------------------------------------------
# The street admin holds no role in a compound, and the menus show commands by role: these carry a section (group=)
# but no help line, so no resident's menu lists them; /street lists them for the admin.


async def _street(ctx: Context) -> store.Street | Reply:
    streets = await store.streets_administered(ctx.session, ctx.person_id)
    if not streets:
        return Reply(ctx.t("Only a street admin can do that. The operator adds street admins with "
                           "`linli street admin add`."))
    return streets[0]


@router.command("street", group="members", private=True)
async def street(ctx: Context, msg: Incoming) -> Replies:
    """The street admin's overview: departments with their officials, the compounds of the street."""
    t = ctx.t
    found = await _street(ctx)
    if isinstance(found, Reply):
        return found
    lines = [t("{street}: compounds {compounds}", street=found.name, compounds=await _compound_names(
        ctx.session, await store.compounds_of_street(ctx.session, found.stored_id)))]
    departments = await store.departments_of_street(ctx.session, found.stored_id)
    for department in departments:
        lines.append(t("{department}: {officials}", department=department.name,
                       officials=await _names(ctx.session, await store.officials_of(ctx.session,
                                                                                    department.stored_id))))
    if not departments:
        lines.append(t("No department yet."))
    lines.append(t("/department NAME creates a department; /official DEPARTMENT gives a one-time invite code for an "
                   "official, /official DEPARTMENT PHONE adds someone who uses linli already, /official remove "
                   "NUMBER removes an official; /staffcode COMPOUND_CODE invites property company staff."))
    return Reply("\n".join(lines))


@router.command("department", group="members", private=True)
async def department(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    found = await _street(ctx)
    if isinstance(found, Reply):
        return found
    name = _args(ctx)
    if not name or len(name) > MAX_NAME:
        return Reply(t("Usage: /department NAME (at most {limit} characters), for example /department 城管.",
                       limit=MAX_NAME))
    created = await store.create_department(ctx.session, found.stored_id, name, ctx.person_id)
    if created is None:
        return Reply(t("{street} has a department called {department} already.", street=found.name, department=name))
    return Reply(t("Department {department} of {street} created. /official {department} gives an invite code for its "
                   "first official.", department=created.name, street=found.name))


@router.command("official", group="members", private=True)
async def official(ctx: Context, msg: Incoming) -> Replies:
    t = ctx.t
    found = await _street(ctx)
    if isinstance(found, Reply):
        return found
    parts = _args(ctx).split()
    usage = Reply(t("Usage: /official DEPARTMENT for an invite code, /official DEPARTMENT PHONE to add someone who "
                    "uses linli already, or /official remove NUMBER."))
    if not parts:
        return usage
    if parts[0].lower() in ("remove", "删除", "刪除") and len(parts) == 2:
        return await _remove_official(ctx, found, parts[1])
    department_row = await store.department_named(ctx.session, found.stored_id, parts[0])
    if department_row is None:
        return Reply(t("{street} has no department called {department}. /street lists them.", street=found.name,
                       department=parts[0][:MAX_NAME]))
    if len(parts) == 1:
        invite = await store.create_invite(ctx.session, ctx.person_id, ctx.now, department_id=department_row.stored_id)
        return Reply(t("A one-time invite code for an official of {department}: {code}\nThey send /join {code} to the "
                       "bot in a private chat, with no room needed. It lapses in {days} days.",
                       department=department_row.name, code=invite.code, days=store.INVITE_DAYS))
    phone = normalize_phone(" ".join(parts[1:]))
    person = (await ctx.session.exec(select(Person).where(Person.phone == phone))).first() if len(phone) >= 5 else None
    if person is None or person.id is None:
        return Reply(t("Nobody with that phone number uses linli yet. Send /official {department} for an invite "
                       "code instead.", department=department_row.name))
    added = await store.add_member(ctx.session, person.id, ctx.person_id, department_id=department_row.stored_id)
    if added == store.Added.ALREADY:
        return Reply(t("{name} is an official of {department} already.", name=person.name,
                       department=department_row.name))
    acting = await store.derived_compounds(ctx.session, person.id)
    if acting and person.current_compound_id not in acting:
        person.current_compound_id = acting[0]
        ctx.session.add(person)
    pt = await ctx.translator_for(person.id)
    return [Reply(t("{name} is now an official of {department}.", name=person.name, department=department_row.name)),
            Reply(pt("The admin of {street} made you an official of {department}. Send /help to see what you can "
                     "do.", street=found.name, department=department_row.name), to=ToPerson(person.id))]


async def _remove_official(ctx: Context, found: store.Street, number: str) -> Replies:
    t = ctx.t
    person_id = answers.whole_number(number.removeprefix("#"), 1, 10**12)
    removed = []
    for department_row in await store.departments_of_street(ctx.session, found.stored_id):
        if person_id is not None and await store.remove_member(ctx.session, person_id, ctx.now,
                                                               department_id=department_row.stored_id):
            removed.append(department_row.name)
    person = await ctx.session.get(Person, person_id) if person_id is not None else None
    if not removed or person is None or person.id is None:
        return Reply(t("#{number} is not an official of {street}. /street lists them.", number=number.removeprefix(
            "#")[:15], street=found.name))
    pt = await ctx.translator_for(person.id)
    names = "、".join(removed)
    return [Reply(t("{name} is no longer an official of {departments}.", name=person.name, departments=names)),
            Reply(pt("You are no longer an official of {departments} ({street}).", departments=names,
                     street=found.name), to=ToPerson(person.id))]


# ---- property company staff --------------------------------------------------------------------------------------


@router.command("staffcode", group="members", private=True)
async def staffcode(ctx: Context, msg: Incoming) -> Replies:
    """A one-time code for a property company's staff member: by the secretary of a compound it serves, or by the
    admin of the compound's street (naming the compound's code)."""
    t = ctx.t
    code = _args(ctx)
    compound = await compound_by_code(ctx.session, code) if code else ctx.compound
    if compound is None:
        return Reply(t("Usage: /staffcode COMPOUND_CODE"))
    street_row = await store.street_of_compound(ctx.session, compound.stored_id)
    admin = street_row is not None and street_row.id in {
        s.id for s in await store.streets_administered(ctx.session, ctx.person_id)}
    secretary = compound.id == (ctx.compound.id if ctx.compound else None) and Role.SECRETARY in ctx.roles
    if not admin and not secretary:
        return Reply(t("Only the compound's secretary or its street admin can invite property staff."))
    company = await store.property_company_of(ctx.session, compound.stored_id)
    if company is None:
        return Reply(t("No property company is registered for {compound}. The operator registers it with `linli "
                       "company create`.", compound=compound.name))
    invite = await store.create_invite(ctx.session, ctx.person_id, ctx.now, organisation_id=company.stored_id)
    return Reply(t("A one-time invite code for a staff member of {company}: {code}\nThey send /join {code} to the "
                   "bot in a private chat, with no room needed. It lapses in {days} days.", company=company.name,
                   code=invite.code, days=store.INVITE_DAYS))


# ---- partner units (共驻共建单位) -----------------------------------------------------------------------------------


class NewPartner(Draft):
    name: str = ""
    category: str = ""
    contact: str = ""


partnering = Flow("partner", NewPartner, title=N_("adding a partner unit"), roles=[Role.SECRETARY])


def _ask_name(ctx: Context, draft: NewPartner) -> Reply:
    return Reply(ctx.t("The partner unit's name (a school, hospital, business or employer)?"))


def _ask_category(ctx: Context, draft: NewPartner) -> Reply:
    t = ctx.t
    return Reply(t("What kind of unit is {name}?", name=draft.name),
                 buttons=rows(*(Button.choice(t(label), kind.value) for kind, label in CATEGORIES.items()), per_row=3))


def _ask_contact(ctx: Context, draft: NewPartner) -> Reply:
    return Reply(ctx.t("Who is the unit's contact person?"))


def _ask_phone(ctx: Context, draft: NewPartner) -> Reply:
    return Reply(ctx.t("The contact's phone number?"))


@partnering.step("name", ask=_ask_name, next=("category",), answer=answers.Text(100, what=N_("unit name")))
async def partner_name(ctx: MemberContext, draft: NewPartner, name: str) -> Outcome:
    return Go("category", draft.model_copy(update={"name": name}))


@partnering.step("category", ask=_ask_category, next=("contact",), answer=answers.Choice(
    values=tuple(kind.value for kind in CATEGORIES), refusal=N_("Please choose the kind of unit with the buttons.")))
async def partner_category(ctx: MemberContext, draft: NewPartner, category: str) -> Outcome:
    return Go("contact", draft.model_copy(update={"category": category}))


@partnering.step("contact", ask=_ask_contact, next=("phone",), answer=answers.Text(100, what=N_("contact person")))
async def partner_contact(ctx: MemberContext, draft: NewPartner, contact: str) -> Outcome:
    return Go("phone", draft.model_copy(update={"contact": contact}))


@partnering.step("phone", ask=_ask_phone, answer=answers.Text(32, what=N_("phone number")))
async def partner_phone(ctx: MemberContext, draft: NewPartner, phone: str) -> Outcome:
    digits = normalize_phone(phone)
    if not 5 <= len(digits) <= 15:
        return Stay(Reply(ctx.t("Please type the phone number in digits, for example 0717-1234567 or 13800000000.")))
    contact_person = (await ctx.session.exec(select(Person).where(Person.phone == digits))).first()
    unit = await store.create_organisation(
        ctx.session, store.OrganisationKind.PARTNER, draft.name, ctx.person_id,
        category=store.PartnerCategory(draft.category), contact_name=draft.contact, contact_phone=digits,
        contact_person_id=contact_person.id if contact_person else None)
    await store.link_organisation(ctx.session, unit.stored_id, ctx.compound_id)
    return Done(Reply(ctx.t("Partner unit {name} ({kind}) added to {compound}; contact {contact} {phone}.",
                            name=unit.name, kind=ctx.t(CATEGORIES[unit.category]), compound=ctx.compound.name,
                            contact=unit.contact_name, phone=unit.contact_phone)))


@router.command("partner", group="members", roles=[Role.SECRETARY, Role.COMMITTEE, Role.SUPERVISOR], private=True,
                help="Partner units (共驻共建单位)", order=66)
async def partner(ctx: MemberContext, msg: Incoming) -> Replies:
    t = ctx.t
    units = await store.partner_units(ctx.session, ctx.compound_id)
    lines = [t("Partner units of {compound}:", compound=ctx.compound.name)]
    for unit in units:
        lines.append(t("{name} ({kind}): contact {contact} {phone}", name=unit.name, kind=t(CATEGORIES[unit.category]),
                       contact=unit.contact_name or "-", phone=unit.contact_phone or "-"))
    if not units:
        lines.append(t("None yet."))
    buttons = ((Button.do(t("Add a partner unit"), "organisations.partner"),),) if ctx.has(Role.SECRETARY) else ()
    return Reply("\n".join(lines), buttons=buttons)


@router.button("organisations.partner", roles=[Role.SECRETARY], private=True)
async def partner_pressed(ctx: MemberContext, msg: Incoming) -> Replies:
    return await partnering.begin(ctx, NewPartner())


# ---- what other features show -----------------------------------------------------------------------------------


def official_refusal(t: Translator, street_name: str | None) -> Reply:
    """A secretary's /grant official: officials belong to a street department, added by its street admin."""
    if street_name:
        return Reply(t("A secretary cannot make someone an official: officials are members of a department of "
                       "{street}, and the street admin adds them (/official).", street=street_name))
    return Reply(t("A secretary cannot make someone an official: officials are members of a street department, "
                   "added by the street admin. This compound is not linked to a street yet (`linli street link`)."))


async def official_refusal_for(ctx: MemberContext) -> Reply:
    street_row = await store.street_of_compound(ctx.session, ctx.compound_id)
    return official_refusal(ctx.t, street_row.name if street_row else None)


async def organisation_lines(session: AsyncSession, t: Translator, compound_id: int) -> list[str]:
    """/members: the people of the street's departments, the property company and the partner units, by
    organisation (they have no room)."""
    lines = []
    for group in await store.organisations_in(session, compound_id):
        lines.append(t("{kind} {name}: {people}", kind=t(GROUP_KINDS[group.kind]), name=group.name,
                       people=await _names(session, group.people)))
    return lines


async def organisation_sheet(session: AsyncSession, compound_id: int, phones: bool) -> xlsx.Sheet:
    """/export members: the people of the street's departments, the property company and the partner units, by
    organisation (they have no room); an organisation nobody of which uses linli yet is a row without a name. Phone
    numbers only when `phones` (the secretary's copy)."""
    rows: list[tuple[object, ...]] = []
    for group in await store.organisations_in(session, compound_id):
        people: list[Person | None] = [await session.get(Person, person) for person in group.people]
        named: list[Person | None] = [p for p in people if p is not None]
        for person in named or [None]:
            rows.append((group.kind, group.name, person.name if person else "",
                         *([person.phone if person else ""] if phones else [])))
    columns = [xlsx.Column(N_("Kind"), labels=GROUP_KINDS), xlsx.Column(N_("Organisation")), xlsx.Column(N_("Name")),
               *([xlsx.Column(N_("Phone"), xlsx.Kind.CODE)] if phones else [])]
    return xlsx.Sheet(N_("Organisations"), columns, rows)


# ---- the shell: linli street / community / company / partner --------------------------------------------------


class ShellRefusal(Exception):
    """A shell command's argument is refused; bot.cli prints it and exits 2."""


async def _street_or_refuse(session: AsyncSession, tr: Translator, name: str) -> store.Street:
    found = await store.street_named(session, name)
    if found is None:
        raise ShellRefusal(tr("There is no street called {street} (`linli street list` shows them).", street=name))
    return found


async def _compound_or_refuse(session: AsyncSession, tr: Translator, code: str) -> Compound:
    compound = await compound_by_code(session, code)
    if compound is None:
        raise ShellRefusal(tr("There is no compound with the code {code}.", code=code))
    return compound


async def _person_or_refuse(session: AsyncSession, tr: Translator, who: str) -> tuple[Person, int]:
    number = answers.whole_number(who.removeprefix("#"), 1, 10**12) if len(who.removeprefix("#")) <= 9 else None
    person = await session.get(Person, number) if number is not None else None
    if person is None:
        digits = normalize_phone(who)
        person = (await session.exec(select(Person).where(Person.phone == digits))).first() if digits else None
    if person is None or person.id is None:
        raise ShellRefusal(tr("Nobody with the number or phone {who} uses linli yet; `--invite` prints a one-time code "
                              "for them instead.", who=who))
    return person, person.id


async def shell(session: AsyncSession, tr: Translator, args: Any, now: Any) -> list[str]:
    """`linli street|community|company|partner ...`: returns the lines to print; raises ShellRefusal."""
    what, action = args.what, args.action
    if what == "street" and action == "create":
        created = await store.create_street(session, args.name)
        if created is None:
            raise ShellRefusal(tr("A street called {street} exists already.", street=args.name))
        return [tr("Created the street {street}.", street=created.name)]
    if what == "street" and action == "list":
        lines = []
        for found in await store.streets(session):
            lines.append(tr("{street}: compounds {compounds}; departments {departments}; admins {admins}",
                            street=found.name, compounds=await _compound_names(
                                session, await store.compounds_of_street(session, found.stored_id)),
                            departments="、".join(d.name for d in await store.departments_of_street(
                                session, found.stored_id)) or "-",
                            admins=await _names(session, await store.street_admins(session, found.stored_id))))
        return lines or [tr("No street yet: `linli street create NAME` makes one.")]
    if what == "street" and action == "link":
        found = await _street_or_refuse(session, tr, args.street)
        community = None
        if args.community:
            community = await store.community_named(session, found.stored_id, args.community)
            if community is None:
                raise ShellRefusal(tr("{street} has no community called {community} (`linli community create`).",
                                      street=found.name, community=args.community))
        lines = []
        for code in args.codes:
            compound = await _compound_or_refuse(session, tr, code)
            await store.link_compound(session, compound.stored_id, found, community)
            lines.append(tr("{compound} ({code}) belongs to {place}.", compound=compound.name, code=compound.code,
                            place=f"{found.name} {community.name}" if community else found.name))
        return lines
    if what == "street" and action == "admin":
        found = await _street_or_refuse(session, tr, args.street)
        if args.invite:
            invite = await store.create_invite(session, None, now, street_id=found.stored_id)
            return [tr("A one-time invite code for an admin of {street}: {code} (they send /join {code} to the bot "
                       "privately; it lapses in {days} days).", street=found.name, code=invite.code,
                       days=store.INVITE_DAYS)]
        person, person_id = await _person_or_refuse(session, tr, args.who or "")
        added = await store.add_member(session, person_id, None, street_id=found.stored_id)
        return [tr("{name} (#{id}) is an admin of {street}{already}.", name=person.name, id=person.id,
                   street=found.name, already=tr(" already") if added == store.Added.ALREADY else "")]
    if what == "community" and action == "create":
        found = await _street_or_refuse(session, tr, args.street)
        community = await store.create_community(session, found.stored_id, args.name)
        if community is None:
            raise ShellRefusal(tr("{street} has a community called {community} already.", street=found.name,
                                  community=args.name))
        return [tr("Created the community {community} of {street}.", community=community.name, street=found.name)]
    if what == "company" and action == "create":
        company = await store.organisation_named(session, store.OrganisationKind.PROPERTY, args.name)
        company = company or await store.create_organisation(session, store.OrganisationKind.PROPERTY, args.name,
                                                             None, contact_name=args.contact or "")
        lines = [tr("Property company {name}.", name=company.name)]
        for code in args.compounds:
            compound = await _compound_or_refuse(session, tr, code)
            await store.link_organisation(session, company.stored_id, compound.stored_id)
            lines.append(tr("{company} serves {compound} ({code}).", company=company.name, compound=compound.name,
                            code=compound.code))
        if args.invite:
            invite = await store.create_invite(session, None, now, organisation_id=company.stored_id)
            lines.append(tr("A one-time invite code for a staff member: {code} (they send /join {code} to the bot "
                            "privately; it lapses in {days} days).", code=invite.code, days=store.INVITE_DAYS))
        return lines
    if what == "partner" and action == "create":
        compound = await _compound_or_refuse(session, tr, args.compound)
        unit = await store.create_organisation(session, store.OrganisationKind.PARTNER, args.name, None,
                                               category=store.PartnerCategory(args.category),
                                               contact_name=args.contact, contact_phone=normalize_phone(args.phone))
        await store.link_organisation(session, unit.stored_id, compound.stored_id)
        return [tr("Partner unit {name} added to {compound}; contact {contact} {phone}.", name=unit.name,
                   compound=compound.name, contact=unit.contact_name, phone=unit.contact_phone)]
    raise ShellRefusal(tr("Unknown command."))


router.flow(partnering)

__all__ = ["join_organisation", "official_refusal", "organisation_lines", "organisation_sheet", "router", "shell"]
