"""`grader serve`'s web side: sign-in, each student's page and uploads, the live board, the instructor page.

A Starlette app under uvicorn; its lifespan starts and stops the worker processes
(grader.serve.workers.Supervisor). Everything that must survive is in the store (the gradebook's file);
memory holds only the rate limits and the cached board and reports, which a restart may forget.

- Sessions: an HttpOnly, SameSite=Lax cookie (Secure behind HTTPS: uvicorn's proxy headers set the
  scheme); every form a cookie signs carries the session's CSRF token, checked on POST; the sign-in form,
  before any session, a double-submit token (a cookie and the same value in the form).
- `grader submit` signs its requests with the student's token (Authorization: Bearer), never a cookie.
- A student sees only their own runs: another's is "not found", as a run that does not exist.
- Refusals are messages in the course's language (intake.Refused); any other fault gets a generic page,
  and its traceback goes to the server's log only: no page names another student, a path or the secret.
- An upload is read at most to its cap (and some room for the form's other fields); a larger one is
  refused with the cap in the message, before anything of it is kept.
"""

from __future__ import annotations

import contextlib
import mimetypes
import secrets
import threading
import time
from collections import deque
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import jinja2
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from grader.course import Course, load_course
from grader.gradebook import Gradebook
from grader.grades import number
from grader.i18n import catalogs, translator
from grader.jobs import slug
from grader.leaderboard.ranking import board
from grader.leaderboard.site import fmt, render
from grader.metrics import METRICS
from grader.report import UnknownStudent, report
from grader.runners.base import ERROR
from grader.screening import flags_text
from grader.serve import intake
from grader.serve.intake import Refused
from grader.serve.store import INSTRUCTOR, QUEUED, RUNNING, SESSION_HOURS, Identity, QueueItem, ServeStore
from grader.serve.workers import Supervisor
from grader.text import html_templates
from grader.times import shown_time

SESSION, SIGN_IN = "grader_session", "grader_sign_in"  # the cookies: the session, the sign-in form's token
FORM_ROOM = 64 * 1024  # an upload's form beyond the notebook: the parts' headers, the CSRF token, the assignment
DRAIN = 4  # an upload over the cap is still read, and dropped, up to this many caps: the client hears why
HEADERS = [  # every response: no framing, no sniffing, no referrer (a sign-in link carries its token), scripts
    # only from this server (the reports hold students' sanitised notebooks)
    (b"content-security-policy", b"default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
                                 b"script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer")]
TEMPLATES = html_templates(jinja2.FileSystemLoader(Path(__file__).parent / "templates"))
SCRIPT = (Path(__file__).parent / "templates" / "serve.js").read_bytes()  # the student page's polling


class TooLarge(Exception):
    """The request's body went past what this route reads."""


class Limiter:
    """At most `count` events per key in any minute; in memory, so one server process's view."""

    def __init__(self, count: int):
        self.count = count
        self.events: dict[str, deque[float]] = {}
        self.lock = threading.RLock()

    def allow(self, key: str) -> bool:
        """Whether one more event fits in the last minute; if so, it is counted."""
        with self.lock:
            if self.full(key):
                return False
            self.events[key].append(time.monotonic())
            return True

    def full(self, key: str) -> bool:
        """Whether the last minute holds `count` events of `key` already (counting nothing)."""
        now = time.monotonic()
        with self.lock:
            if len(self.events) > 1024:  # keys quiet for a minute go: memory follows the last minute's clients
                self.events = {k: e for k, e in self.events.items() if e and now - e[-1] < 60}
            events = self.events.setdefault(key, deque())
            while events and now - events[0] >= 60:
                events.popleft()
            return len(events) >= self.count


class SecurityHeaders:
    """ASGI middleware: HEADERS on every response; `Cache-Control: no-store` on all but the public board."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        extra = HEADERS + ([] if scope["path"].startswith("/board") else [(b"cache-control", b"no-store")])

        async def sending(message):
            if message["type"] == "http.response.start":
                message = message | {"headers": list(message.get("headers", [])) + extra}
            await send(message)

        await self.app(scope, receive, sending)


def _gradebook_stamp(book: Gradebook) -> tuple:
    """What changes when a board or a report would: the runs, the reference runs, the nicknames."""
    return tuple(book.db.execute(
        "SELECT (SELECT MAX(id) FROM runs), (SELECT COUNT(*) FROM runs), (SELECT MAX(id) FROM reference_runs), "
        "(SELECT group_concat(name || ':' || nickname) FROM nicknames)").fetchone())


class Service:
    """The app's routes over one course and its store."""

    def __init__(self, course: Course, store: ServeStore):
        self.course, self.store = course, store
        self.t = translator(course.language, course.root)
        self.titles = catalogs(course.language, course.root).translations
        self.cap = intake.cap_bytes(course)
        self.sign_ins = Limiter(course.serve.sign_ins_per_minute)
        self.submissions = Limiter(course.serve.submissions_per_minute)
        self.render_lock = threading.Lock()  # matplotlib draws one figure at a time; also guards the caches below
        self.board_cache: tuple[tuple, dict[str, bytes]] | None = None
        self.report_keys: dict[str, tuple] = {}

    # ---- pages and messages -------------------------------------------------------------------------

    def page(self, name: str, request: Request, status: int = 200, **values: Any) -> HTMLResponse:
        html = TEMPLATES.get_template(name).render(
            lang=self.course.language, course=self.course.name, t=self.t, who=values.pop("who", None),
            csrf=values.pop("csrf", None), **values)
        return HTMLResponse(html, status_code=status)

    def message(self, exc: Refused) -> str:
        return self.t(exc.key, **exc.params)

    def refusal(self, request: Request, exc: Refused) -> Response:
        message = self.message(exc)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"error": message}, status_code=exc.http)
        return self.page("message.html.j2", request, exc.http, message=message)

    async def http_error(self, request: Request, exc: HTTPException) -> Response:
        return self.refusal(request, Refused("serve.not_found", {}, exc.status_code)
                            if exc.status_code in (404, 405) else Refused("serve.failure", {}, exc.status_code))

    async def refused(self, request: Request, exc: Refused) -> Response:
        return self.refusal(request, exc)

    async def failure(self, request: Request, exc: Exception) -> Response:
        """Any other fault: a generic answer; Starlette raises it again afterwards, and uvicorn logs its traceback
        on the server."""
        return self.refusal(request, Refused("serve.failure", {}, 500))

    # ---- who is asking ------------------------------------------------------------------------------
    # The handlers that use the store run in the thread pool (a plain `def`, or run_in_threadpool): its lock and
    # SQLite's never hold up the event loop; only reading a request's body is async.

    def signed_in(self, request: Request) -> tuple[Identity, str] | None:
        """The session's (who, CSRF token), or None."""
        session_id = request.cookies.get(SESSION)
        return self.store.session(session_id) if session_id else None

    def caller(self, request: Request) -> tuple[Identity, str | None]:
        """Who is asking: a bearer token (`grader submit`; a wrong one counts as a sign-in attempt), else the
        session; else Refused (401)."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":
            return self.token_owner(request, token), None
        found = self.signed_in(request)
        if found is None:
            raise Refused("serve.signed_out", {}, 401)
        return found

    def token_owner(self, request: Request, token: str, signing_in: bool = False) -> Identity:
        """Who the token is; Refused for a wrong one. Only wrong tokens count against the address's sign-in limit,
        so a classroom behind one address is not locked out by its own sign-ins. Past the limit, a sign-in form
        from that address is refused unread for the rest of the minute; an API request (`grader submit`, which
        asks again every few seconds) with a right token still goes through."""
        address = request.client.host if request.client else ""
        if signing_in and self.sign_ins.full(address):
            raise Refused("serve.too_many_sign_ins", {}, 429)
        who = self.store.identity(token.strip())
        if who is None:
            if not self.sign_ins.allow(address):
                raise Refused("serve.too_many_sign_ins", {}, 429)
            raise Refused("serve.bad_token", {}, 401)
        return who

    def student(self, request: Request) -> tuple[Identity, str | None]:
        who, csrf = self.caller(request)
        if who.role == INSTRUCTOR:  # the instructor hands nothing in; their page is /admin
            raise HTTPException(404)
        return who, csrf

    def instructor(self, request: Request, form: dict[str, str] | None = None) -> tuple[Identity, str]:
        """The instructor's session (and the form's CSRF token checked, when given); anyone else: not found."""
        found = self.signed_in(request)
        if found is None or found[0].role != INSTRUCTOR:
            raise HTTPException(404)
        if form is not None:
            check_csrf(found[1], form)
        return found

    # ---- signing in and out -------------------------------------------------------------------------

    def home(self, request: Request) -> Response:
        found = self.signed_in(request)
        if found is not None:
            return RedirectResponse("/admin" if found[0].role == INSTRUCTOR else "/me", 303)
        return self.sign_in_page(request)

    def login_link(self, request: Request) -> Response:
        """The link `grader serve tokens` writes, /login#token=...: the sign-in form, which serve.js fills from the
        fragment (never sent, so never logged); a GET signs nobody in."""
        return self.sign_in_page(request)

    def sign_in_page(self, request: Request, error: str = "", status: int = 200) -> Response:
        # The form token of a sign-in page already open in another tab stays valid: one per browser, not per page.
        form_token = request.cookies.get(SIGN_IN) or secrets.token_urlsafe(24)
        response = self.page("sign_in.html.j2", request, status, form_token=form_token, error=error)
        self.set_cookie(request, response, SIGN_IN, form_token, None)
        return response

    async def login(self, request: Request) -> Response:
        return await run_in_threadpool(self.sign_in, request, await _fields(request))

    def sign_in(self, request: Request, form: dict[str, str]) -> Response:
        """A session for the token's owner; the form's token must be the one its page set as a cookie."""
        try:
            check_csrf(request.cookies.get(SIGN_IN), form, "form_token")
            who = self.token_owner(request, form.get("token", ""), signing_in=True)
        except Refused as exc:
            return self.sign_in_page(request, error=self.message(exc), status=exc.http)
        session_id, _ = self.store.open_session(who)
        response = RedirectResponse("/admin" if who.role == INSTRUCTOR else "/me", 303)
        self.set_cookie(request, response, SESSION, session_id, SESSION_HOURS * 3600)
        response.delete_cookie(SIGN_IN)
        return response

    async def logout(self, request: Request) -> Response:
        return await run_in_threadpool(self.sign_out, request, await _fields(request))

    def sign_out(self, request: Request, form: dict[str, str]) -> Response:
        found = self.signed_in(request)
        check_csrf(found[1] if found else None, form)
        self.store.close_session(request.cookies[SESSION])
        response = RedirectResponse("/", 303)
        response.delete_cookie(SESSION)
        return response

    @staticmethod
    def set_cookie(request: Request, response: Response, name: str, value: str, max_age: int | None) -> None:
        response.set_cookie(name, value, max_age=max_age, httponly=True, samesite="lax",
                            secure=request.url.scheme == "https")

    # ---- the student's page, runs and uploads ------------------------------------------------------

    def me(self, request: Request) -> Response:
        who, csrf = self.student(request)
        return self.me_page(request, who, csrf)

    def me_page(self, request: Request, who: Identity, csrf: str | None, status: int = 200,
                error: str = "") -> Response:
        server = (self.course.serve.url or str(request.base_url)).rstrip("/")  # the address students were given
        return self.page("me.html.j2", request, status, who=who, csrf=csrf, error=error,
                         assignments=self.assignments_of(who), runs=self.runs_of(who)[::-1], server=server,
                         cap=self.cap, too_large=self.message(self.too_large()))

    def assignments_of(self, who: Identity) -> list[dict]:
        rows = []
        for name in self.course.assignments:
            allowed = self.store.allowance(who.name, name)
            rows.append({"name": name, "title": self.course.assignment(name).title, "used": allowed.used,
                         "limit": allowed.limit, "left": allowed.left,
                         "resets": self.course.local_time(allowed.resets_at)})
        return rows

    def runs_of(self, who: Identity, items: list[QueueItem] | None = None) -> list[dict]:
        """The student's queue items as they see them, oldest first; what a finished one scored comes from its
        run in the gradebook."""
        items = self.store.items(student=who.name) if items is None else items
        runs = {}
        if any(item.run_id is not None for item in items):
            with Gradebook(self.course.gradebook_path) as book:
                runs = {r["id"]: r for r in book.runs(student=who.name)}
        return [self.run_view(item, runs.get(item.run_id)) for item in items]

    def run_view(self, item: QueueItem, run: dict | None) -> dict:
        """One run as the student's page and `grader submit` show it: public score only, never the grade."""
        t = self.t
        view = {"id": item.id, "assignment": item.assignment, "arrived": self.course.local_time(item.arrived_at),
                "state": item.state, "position": None, "cell": None, "cells": None, "elapsed_s": None,
                "budget_s": None, "status": item.status, "message": "", "metric": None, "public_score": None}
        if item.state == QUEUED:
            view["position"] = self.store.position(item.id)
            view["summary"] = t("serve.queued", position=view["position"] or "-")
        elif item.state == RUNNING:
            progress = item.progress  # empty until the worker's first report, two seconds in
            view |= {"cell": progress.get("cell"), "cells": progress.get("cells"),
                     "elapsed_s": progress.get("elapsed_s", 0.0),
                     "budget_s": progress.get("budget_s") or self.course.assignment(item.assignment).time_limit_s}
            view["summary"] = (t("serve.running", cell=view["cell"], cells=view["cells"], elapsed=view["elapsed_s"],
                                 budget=view["budget_s"]) if view["cell"] else
                               t("serve.starting", elapsed=view["elapsed_s"], budget=view["budget_s"]))
        elif item.status == ERROR:  # its own message is for the instructor: it may name paths of this machine
            view["summary"] = t(f"status.{item.status}")
            view["message"] = t("serve.refunded" if not item.counted else "serve.not_scored")
        else:
            view["summary"] = t(f"status.{item.status}")
            if run is not None:
                metric = run["primary_metric"]
                score = run["scores"].get("public", {}).get(metric) if metric else None
                view |= {"message": run["message"], "metric": metric, "public_score": score}
                if score is not None:
                    title = self.titles.gettext(METRICS[metric].title)
                    view["summary"] += " · " + t("serve.public_score", metric=title, score=fmt(score))
        return view

    def api_me(self, request: Request) -> Response:
        who, _ = self.student(request)
        return JSONResponse({"student": who.name, "upload_mb": self.course.serve.upload_mb,
                             "assignments": self.assignments_of(who), "runs": self.runs_of(who)})

    def api_run(self, request: Request) -> Response:
        who, _ = self.student(request)
        return JSONResponse(self.run_of(who, request.path_params["run"]))

    def run_of(self, who: Identity, queue_id: int) -> dict:
        """One of the student's runs as it stands now; another student's is as absent as one that never was."""
        item = self.store.item(queue_id)
        if item is None or item.student != who.name:
            raise HTTPException(404)
        return self.runs_of(who, [item])[0]

    async def submit(self, request: Request) -> Response:
        """The upload form: the notebook accepted (then back to the page) or refused (the page, with why)."""
        who, csrf = await run_in_threadpool(self.student, request)
        try:
            item = await self.accept(request, who, csrf)
        except Refused as exc:
            return await run_in_threadpool(self.me_page, request, who, csrf, exc.http, self.message(exc))
        return RedirectResponse(f"/me#run-{item.id}", 303)

    async def api_submit(self, request: Request) -> Response:
        if not request.headers.get("authorization", "").lower().startswith("bearer "):
            raise Refused("serve.signed_out", {}, 401)  # a cookie signs no API upload: it would need a CSRF token
        who, _ = await run_in_threadpool(self.student, request)
        item = await self.accept(request, who, None)
        return JSONResponse(await run_in_threadpool(self.run_of, who, item.id), status_code=201)

    async def accept(self, request: Request, who: Identity, csrf: str | None) -> QueueItem:
        """Read the upload (never past its cap), check the form, hand it to intake: queued and committed."""
        if not self.submissions.allow(who.name):
            raise Refused("serve.too_many_submissions", {}, 429)
        limit = self.cap + FORM_ROOM
        declared = request.headers.get("content-length", "")
        try:
            if declared.isdigit() and int(declared) > limit:
                raise TooLarge
            async with _capped(request, limit).form(max_files=1, max_fields=4) as form:
                if csrf is not None:
                    check_csrf(csrf, form)
                assignment, notebook = form.get("assignment"), form.get("notebook")
                if not isinstance(assignment, str) or not isinstance(notebook, UploadFile):
                    raise Refused("serve.no_notebook", {}, 400)
                return await run_in_threadpool(intake.accept, self.course, self.store, who.name, assignment,
                                               notebook.filename or "", notebook.file)
        except TooLarge:
            await _drain(request, DRAIN * self.cap)
            raise self.too_large() from None

    def too_large(self) -> Refused:
        """The cap's refusal before the form is read, so before the file's name is known."""
        return intake.too_large(self.course, self.t("serve.your_notebook"))

    # ---- the board and the report -------------------------------------------------------------------

    def board_file(self, request: Request) -> Response:
        path = request.path_params.get("path", "")
        folder = path.rstrip("/")
        if folder in ("", *self.course.assignments):  # the site's links are relative to its folders' index.html
            return RedirectResponse(f"/board/{folder + '/' if folder else ''}index.html", 307)
        files = self.board_site()
        if path not in files:
            raise HTTPException(404)
        return Response(files[path], media_type=mimetypes.guess_type(path)[0])

    def board_site(self) -> dict[str, bytes]:
        """The leaderboard site, rendered again when the gradebook or a reveal changed: the public half of each
        board until the instructor reveals its private half, under the published site's pseudonyms."""
        splits = {a: "private" if self.store.revealed(a) else "public" for a in self.course.assignments}
        with self.render_lock, Gradebook(self.course.gradebook_path) as book:
            key = (_gradebook_stamp(book), tuple(splits.values()))
            if self.board_cache is None or self.board_cache[0] != key:
                boards = [board(self.course, book, a, split=split) for a, split in splits.items()]
                published = self.course.local_time(datetime.now(timezone.utc))
                self.board_cache = (key, render(self.course, boards, published))
        return self.board_cache[1]

    def report_file(self, request: Request) -> Response:
        who, _ = self.student(request)
        folder = self.student_report(who)
        if folder is None:
            return self.page("message.html.j2", request, 404, who=who, message=self.t("serve.no_report"))
        target = (folder / (request.path_params.get("path") or "index.html")).resolve()
        if not target.is_relative_to(folder) or not target.is_file():  # the student's own folder, nothing else
            raise HTTPException(404)
        return Response(target.read_bytes(), media_type=mimetypes.guess_type(target.name)[0])

    def student_report(self, who: Identity) -> Path | None:
        """The student's teaching report (grader.report), its hidden-half scores and grades left out until each
        assignment is revealed; written again when the gradebook or a reveal changed. None before any result."""
        folder = (self.course.workdir / "serve" / "reports" / slug(who.name)).resolve()
        window = [a for a in self.course.assignments if not self.store.revealed(a)]
        with self.render_lock:
            with Gradebook(self.course.gradebook_path) as book:
                key = (_gradebook_stamp(book), tuple(window))
            if self.report_keys.get(who.name) != key or not (folder / "index.html").is_file():
                try:
                    report(self.course, who.name, folder, public_only=window)
                except UnknownStudent:
                    return None
                self.report_keys[who.name] = key
        return folder

    def script(self, request: Request) -> Response:
        return Response(SCRIPT, media_type="text/javascript")

    # ---- the instructor -----------------------------------------------------------------------------

    def admin(self, request: Request) -> Response:
        who, csrf = self.instructor(request)
        return self.admin_page(request, who, csrf)

    def admin_page(self, request: Request, who: Identity, csrf: str, notice: str = "", status: int = 200) -> Response:
        """The queue in the order it runs, the workers with their heartbeats, every run with its flags."""
        zone = self.course.timezone
        queue = [vars(item) | {"position": self.store.position(item.id) if item.state == QUEUED else None,
                               "arrived": shown_time(item.arrived_at, zone)}
                 for item in self.store.items(states=(QUEUED, RUNNING))]
        queue.sort(key=lambda row: (row["state"] == QUEUED, row["position"] or 0))
        with Gradebook(self.course.gradebook_path) as book:
            runs = [row | {"submitted": shown_time(row["submitted_at"], zone), "grade": number(row["grade"]) or "-",
                           "flags": flags_text(row["flags"])} for row in book.latest()]
            students = book.students()
        workers = [w | {"heartbeat": shown_time(w["heartbeat"], zone)} for w in self.store.workers()]
        reveals = {a: self.store.revealed(a) for a in self.course.assignments}
        return self.page("admin.html.j2", request, status, who=who, csrf=csrf, notice=notice, queue=queue,
                         workers=workers, runs=runs, reveals=reveals, students=students,
                         assignments=list(self.course.assignments))

    async def admin_grant(self, request: Request) -> Response:
        return await run_in_threadpool(self.grant, request, await _fields(request))

    def grant(self, request: Request, form: dict[str, str]) -> Response:
        who, csrf = self.instructor(request, form)
        try:
            with Gradebook(self.course.gradebook_path) as book:
                if form.get("student") not in book.students() or form.get("assignment") not in self.course.assignments:
                    raise ValueError("a student and an assignment of the course")
            extra = int(form.get("attempts") or 1)
            if extra < 1:
                raise ValueError("at least one attempt")
            day = date.fromisoformat(form["day"]) if form.get("day") else None
        except ValueError as exc:
            return self.admin_page(request, who, csrf, f"not granted: expected {exc}", 400)
        self.store.grant(form["student"], form["assignment"], extra, day)
        return RedirectResponse("/admin", 303)

    async def admin_reveal(self, request: Request) -> Response:
        return await run_in_threadpool(self.reveal, request, await _fields(request))

    def reveal(self, request: Request, form: dict[str, str]) -> Response:
        self.instructor(request, form)
        if form.get("assignment") not in self.course.assignments:
            raise HTTPException(404)
        self.store.reveal(form["assignment"], form.get("hide") != "1")
        return RedirectResponse("/admin", 303)


def check_csrf(expected: str | None, form, field: str = "csrf") -> None:
    """The form carries the token its page was given (a cross-site form cannot know it)."""
    given = form.get(field)
    if not expected or not isinstance(given, str) or not secrets.compare_digest(given, expected):
        raise Refused("serve.expired_form", {}, 403)


async def _fields(request: Request) -> dict[str, str]:
    """A small form's text fields (a sign-in, the instructor's forms): no files, a few fields."""
    async with request.form(max_files=0, max_fields=8) as form:
        return {key: value for key, value in form.items() if isinstance(value, str)}


def _capped(request: Request, limit: int) -> Request:
    """The request, its body read no further than `limit` bytes (TooLarge past it)."""
    seen = 0

    async def receive():
        nonlocal seen
        message = await request.receive()
        seen += len(message.get("body", b""))
        if seen > limit:
            raise TooLarge
        return message

    return Request(request.scope, receive)


async def _drain(request: Request, most: int) -> None:
    """Read and drop what is left of the body, up to `most` bytes: a client still sending hears the answer, where
    it would otherwise meet a reset connection. Past `most` the connection is simply closed."""
    dropped = 0
    while dropped <= most:
        message = await request.receive()
        dropped += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body"):
            return


def make_app(course_root: Path, *, workers: int | None = None, runner: str | None = None, cluster: str | None = None,
             unsandboxed: bool = False, start_workers: bool = True) -> Starlette:
    """The service of the course at `course_root`; its lifespan starts the workers (unless `start_workers` is
    False: another process grades the queue)."""
    course = load_course(course_root)
    store = ServeStore(course)
    service = Service(course, store)
    supervisor = Supervisor(course, workers or course.serve.workers or course.jobs, runner=runner, cluster=cluster,
                            unsandboxed=unsandboxed) if start_workers else None

    @contextlib.asynccontextmanager
    async def lifespan(app):
        if supervisor is not None:
            supervisor.start()
        try:
            yield
        finally:
            if supervisor is not None:
                supervisor.stop()
            store.close()

    s = service
    routes = [
        Route("/", s.home), Route("/login", s.login_link), Route("/login", s.login, methods=["POST"]),
        Route("/logout", s.logout, methods=["POST"]), Route("/me", s.me), Route("/submit", s.submit, methods=["POST"]),
        Route("/api/me", s.api_me), Route("/api/runs/{run:int}", s.api_run),
        Route("/api/submit", s.api_submit, methods=["POST"]),
        Route("/board", s.board_file), Route("/board/{path:path}", s.board_file),
        Route("/report/{path:path}", s.report_file),
        Route("/admin", s.admin), Route("/admin/grant", s.admin_grant, methods=["POST"]),
        Route("/admin/reveal", s.admin_reveal, methods=["POST"]),
        Route("/serve.js", s.script),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={
        HTTPException: s.http_error, Refused: s.refused, Exception: s.failure})
    app.add_middleware(SecurityHeaders)
    return app
