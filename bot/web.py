"""The pages of `handlers/pages.py` over HTTP, on the server that hosts the webhooks: the reader's language
(`?lang=`, else Accept-Language, else the compound's), ETag and Cache-Control, a per-client rate limit, and the
signed links' checks. What a page shows is decided in handlers/pages.py; this module only serves it."""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.core.dispatcher import Core
from bot.core.i18n import LANGUAGES, Translator, normalize_language
from handlers import pages
from storage import assembly as assemblies
from storage import complaints as cases
from storage import organisations as orgs
from storage.announcements import Announcement, AnnouncementStatus, Disclosure, image_mime
from storage.outbox import load_media
from storage.poster import PosterSection, cjk_font_path, render_poster

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
COLOURS = {"red": (200, 30, 35), "black": (40, 40, 40), "green": (30, 130, 70)}
# Pages may show pictures of this server only and carry no script at all.
SECURITY = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; "
                               "form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}


class RateLimit:
    """At most `per_minute` requests per client in any clock minute (a fixed window, kept in this process: with
    several processes each counts its own share). 0: no limit."""

    def __init__(self, per_minute: int, clients: int = 10_000) -> None:
        self.per_minute = per_minute
        self.clients = clients
        self._seen: OrderedDict[str, tuple[int, int]] = OrderedDict()

    def allow(self, client: str, now: float | None = None) -> bool:
        if self.per_minute <= 0:
            return True
        minute = int((time.monotonic() if now is None else now) // 60)
        window, count = self._seen.pop(client, (minute, 0))
        if window != minute:
            window, count = minute, 0
        self._seen[client] = (window, count + 1)
        while len(self._seen) > self.clients:
            self._seen.popitem(last=False)
        return count < self.per_minute


class Bytes:
    """A few recently served pictures (platform files, posters), so a busy page does not fetch them again."""

    def __init__(self, size: int = 64) -> None:
        self.size = size
        self._items: OrderedDict[Any, bytes] = OrderedDict()

    async def get(self, key: Any, make: Callable[[], Awaitable[bytes | None]]) -> bytes | None:
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        data = await make()
        if data is not None:
            self._items[key] = data
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return data


def client_of(request: web.Request) -> str:
    """The client's address; behind a reverse proxy on this machine, the address it forwards."""
    remote = request.remote or ""
    forwarded = request.headers.get("X-Forwarded-For", "").split(",")[0].strip()
    try:
        local = ipaddress.ip_address(remote).is_loopback
    except ValueError:
        local = False
    return forwarded if local and forwarded else remote


def language_of(request: web.Request, fallback: str) -> str:
    """`?lang=` when it is one of ours, else the first of Accept-Language's we have (by q), else `fallback`."""
    asked = request.query.get("lang", "")
    if asked in LANGUAGES:
        return asked
    wanted: list[tuple[float, int, str]] = []
    for index, part in enumerate(request.headers.get("Accept-Language", "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        weight = 1.0
        if params.strip().startswith("q="):
            try:
                weight = float(params.strip()[2:])
            except ValueError:
                weight = 0.0
        if (found := normalize_language(tag.strip())) is not None and weight > 0:
            wanted.append((-weight, index, found))
    return min(wanted)[2] if wanted else fallback


# A public page is rendered at most once in this many seconds per address and language: when a posting's link
# reaches a group of hundreds, they read one rendering (browsers may keep it for 60 s anyway, Cache-Control).
PUBLIC_FOR = 10.0


class Pages:
    """The page routes, bound to the core (its database, clock, catalogues and the transports' file fetchers)."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.limit = RateLimit(core.settings.pages_per_minute)
        self.files = Bytes()
        self.rendered: OrderedDict[tuple[str, str], tuple[float, pages.Page]] = OrderedDict()
        self.kept = pages.Kept()

    async def _cached(self, request: web.Request, flags: pages.Flags,
                      make: Callable[[], Awaitable[pages.Page | None]]) -> pages.Page | None:
        """A public page from the last PUBLIC_FOR seconds, else made (and kept when public)."""
        key = (request.path_qs, flags.lang)
        kept = self.rendered.get(key)
        if kept is not None and time.monotonic() - kept[0] < PUBLIC_FOR:
            return kept[1]
        page = await make()
        if page is not None and page.public and page.status == 200:
            self.rendered[key] = (time.monotonic(), page)
            self.rendered.move_to_end(key)
            while len(self.rendered) > 256:
                self.rendered.popitem(last=False)
        return page

    def add_routes(self, web_app: web.Application) -> None:
        get = web_app.router.add_get
        get("/c/{code}", self._limited(self.board))
        get("/c/{code}/assembly/{assembly:\\d+}", self._limited(self.assembly))
        get("/c/{code}/announcement/{item:\\d+}/photo", self._limited(self.announcement_photo))
        get("/c/{code}/disclosure/{item:\\d+}/file", self._limited(self.disclosure_file))
        get("/c/{code}/board/{stamp:\\d+}.png", self._limited(self.poster))
        get("/case/{token}", self._limited(self.case))
        get("/case/{token}/photo/{index:\\d+}", self._limited(self.case_photo))
        get("/street/{token}", self._limited(self.street))

    # ---- plumbing ---------------------------------------------------------------------------------------

    def _limited(self, handler: Handler) -> Handler:
        async def limited(request: web.Request) -> web.StreamResponse:
            if not self.limit.allow(client_of(request)):
                flags = self._flags(request, self.core.settings.default_language)
                page = pages.error_page(self._t(flags), flags, "busy", 429)
                return self._respond(request, page, extra={"Retry-After": "60"})
            return await handler(request)

        return limited

    def _flags(self, request: web.Request, fallback: str) -> pages.Flags:
        return pages.Flags(language_of(request, fallback), request.query.get("large") == "1",
                           request.query.get("print") == "1")

    def _t(self, flags: pages.Flags) -> Translator:
        return self.core.catalogs.translator(flags.lang)

    def _respond(self, request: web.Request, page: pages.Page, extra: dict[str, str] | None = None) -> web.Response:
        headers = {**SECURITY, "ETag": page.etag, "Vary": "Accept-Language",
                   "Cache-Control": "public, max-age=60" if page.public else "private, no-cache",
                   "Referrer-Policy": "same-origin" if page.public else "no-referrer", **(extra or {})}
        if not page.public:
            headers["X-Robots-Tag"] = "noindex, nofollow"
        if page.status == 200 and page.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(text=page.html, status=page.status, content_type="text/html", charset="utf-8",
                            headers=headers)

    def _missing(self, request: web.Request, fallback: str | None = None) -> web.Response:
        flags = self._flags(request, fallback or self.core.settings.default_language)
        return self._respond(request, pages.error_page(self._t(flags), flags, "missing", 404))

    def _refused(self, request: web.Request, why: pages.Refused) -> web.Response:
        flags = self._flags(request, self.core.settings.default_language)
        status = 410 if why == pages.Refused.EXPIRED else 404
        return self._respond(request, pages.error_page(self._t(flags), flags, why.value, status,
                                                       days=self.core.settings.pages_link_days))

    def _bytes(self, request: web.Request, data: bytes, mime: str, public: bool, filename: str = "") -> web.Response:
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        headers = {**SECURITY, "ETag": etag,
                   "Cache-Control": "public, max-age=3600" if public else "private, no-cache"}
        if filename:
            headers["Content-Disposition"] = f"attachment; filename*=UTF-8''{_quoted(filename)}"
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        return web.Response(body=data, content_type=mime, headers=headers)

    async def _fetch(self, platform: str, file_id: str) -> bytes | None:
        async def fetch() -> bytes | None:
            try:
                return await self.core.fetch_photo(platform, file_id)
            except Exception:  # a platform's file may have expired or its transport be down: no picture
                return None

        return await self.files.get((platform, file_id), fetch)

    # ---- public pages ------------------------------------------------------------------------------------

    async def board(self, request: web.Request) -> web.Response:
        flags = self._flags(request, self.core.settings.default_language)

        async def make() -> pages.Page | None:
            async with self.core.sessions() as session:
                compound = await pages.compound_at(session, request.match_info["code"])
                if compound is None:
                    return None
                chosen = self._flags(request, compound.language)
                return await pages.board_page(session, compound, self._t(chosen), chosen, self.core.clock.now(),
                                              poster_ready=cjk_font_path() is not None, kept=self.kept)

        page = await self._cached(request, flags, make)
        return self._respond(request, page) if page is not None else self._missing(request)

    async def assembly(self, request: web.Request) -> web.Response:
        flags = self._flags(request, self.core.settings.default_language)

        async def make() -> pages.Page | None:
            async with self.core.sessions() as session:
                compound = await pages.compound_at(session, request.match_info["code"])
                found = await assemblies.assembly_of(session, int(request.match_info["assembly"]),
                                                     compound.stored_id) if compound is not None else None
                if compound is None or found is None or found.status != assemblies.AssemblyStatus.CLOSED:
                    return None
                chosen = self._flags(request, compound.language)
                return await pages.assembly_page(session, compound, found, self._t(chosen), chosen,
                                                 self.core.clock.now())

        page = await self._cached(request, flags, make)
        return self._respond(request, page) if page is not None else self._missing(request)

    async def announcement_photo(self, request: web.Request) -> web.Response:
        now = self.core.clock.now()
        async with self.core.sessions() as session:
            compound = await pages.compound_at(session, request.match_info["code"])
            item = await session.get(Announcement, int(request.match_info["item"]))
        if compound is None or item is None or item.compound_id != compound.id or item.audience != "all" \
                or item.status == AnnouncementStatus.CANCELLED or item.due_at > now or not item.media_file_id:
            return self._missing(request)
        data = await self._fetch(item.media_platform, item.media_file_id)
        if data is None:
            return self._missing(request)
        return self._bytes(request, data, image_mime(data)[0], public=True)

    async def disclosure_file(self, request: web.Request) -> web.Response:
        async with self.core.sessions() as session:
            compound = await pages.compound_at(session, request.match_info["code"])
            item = await session.get(Disclosure, int(request.match_info["item"]))
            if compound is None or item is None or item.compound_id != compound.id:
                return self._missing(request)
            if item.media_kind == "document" and item.media_id is not None:
                media = await load_media(session, item.media_id)
                if media is None:
                    return self._missing(request)
                return self._bytes(request, media.data, media.mime, public=True, filename=media.filename)
        data = await self._fetch(item.media_platform, item.media_file_id) if item.media_file_id else None
        if data is None:
            return self._missing(request)
        return self._bytes(request, data, image_mime(data)[0], public=True)

    async def poster(self, request: web.Request) -> web.Response:
        stamp = int(request.match_info["stamp"])
        async with self.core.sessions() as session:
            compound = await pages.compound_at(session, request.match_info["code"])
            posting = await pages.posting_entries(session, compound.stored_id, stamp) if compound else None
        if compound is None or posting is None or cjk_font_path() is None:
            return self._missing(request)
        flags = self._flags(request, compound.language)
        title, date, parts, footer = pages.poster_parts(self._t(flags), compound, posting)
        sections = [PosterSection(heading, lines, COLOURS[colour]) for heading, lines, colour in parts]

        async def draw() -> bytes | None:
            return await asyncio.to_thread(render_poster, title, date, sections, footer)

        data = await self.files.get(("poster", compound.id, stamp, flags.lang, hash(repr(sections))), draw)
        if data is None:
            return self._missing(request)
        return self._bytes(request, data, "image/png", public=True)

    # ---- signed pages ------------------------------------------------------------------------------------

    async def case(self, request: web.Request) -> web.Response:
        now = self.core.clock.now()
        found = pages.unsign(self.core.settings, request.match_info["token"], "case", now)
        if isinstance(found, pages.Refused):
            return self._refused(request, found)
        case_id, person_id = found
        async with self.core.sessions() as session:
            case = await session.get(cases.Case, case_id)
            # The link names the reporter it was made for: a case that is no longer theirs shows nothing.
            if case is None or case.reporter_id != person_id:
                return self._missing(request)
            compound = await cases.compound_of(session, case)
            flags = self._flags(request, compound.language)
            page = await pages.case_page(session, case, self._t(flags), flags, request.path)
        return self._respond(request, page)

    async def case_photo(self, request: web.Request) -> web.Response:
        now = self.core.clock.now()
        found = pages.unsign(self.core.settings, request.match_info["token"], "case", now)
        if isinstance(found, pages.Refused):
            return self._refused(request, found)
        async with self.core.sessions() as session:
            case = await session.get(cases.Case, found[0])
        photo = pages.photo_of(case, int(request.match_info["index"])) \
            if case is not None and case.reporter_id == found[1] else None
        data = await self._fetch(*photo) if photo is not None else None
        if data is None:
            return self._missing(request)
        return self._bytes(request, data, image_mime(data)[0], public=False)

    async def street(self, request: web.Request) -> web.Response:
        now = self.core.clock.now()
        found = pages.unsign(self.core.settings, request.match_info["token"], "street", now)
        if isinstance(found, pages.Refused):
            return self._refused(request, found)
        async with self.core.sessions() as session:
            street = await session.get(orgs.Street, found[0])
            if street is None:
                return self._missing(request)
            flags = self._flags(request, self.core.settings.default_language)
            page = await pages.street_page(session, street, self._t(flags), flags, now, request.path)
        return self._respond(request, page)


def _quoted(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


def add_page_routes(web_app: web.Application, core: Core) -> Pages:
    served = Pages(core)
    served.add_routes(web_app)
    return served
