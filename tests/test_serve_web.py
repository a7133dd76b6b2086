"""`grader serve` as students and the instructor meet it: a real uvicorn server (`grader serve`, in a process of
its own, its workers grading in the bwrap sandbox), driven by headless Chromium, by `grader submit` and by plain
HTTP requests."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
import requests

from grader.course import load_course
from grader.gradebook import Gradebook
from grader.i18n import pseudonym_words
from grader.leaderboard.ranking import pseudonym, salt
from grader.serve.store import ServeStore
from tests.helpers import GRADER
from tests.helpers.browser import CHROMIUM_ARGS, chromium_page
from tests.helpers.notebooks import GOOD, WEAK, write_notebook

pytestmark = pytest.mark.slow


def sleeping(seconds: float) -> list[str]:
    """A good notebook that first waits: long enough to be seen running, or killed mid-run."""
    return [f"import time\ntime.sleep({seconds})", *GOOD]


class Server:
    """`grader serve` on a free port of 127.0.0.1, its output in a log file."""

    def __init__(self, course_dir: Path, log: Path):
        self.course_dir, self.log = course_dir, log
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        with log.open("a") as out:
            self.proc = subprocess.Popen([*GRADER, "serve", "--course", str(course_dir), "--port", str(self.port)],
                                         stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                requests.get(self.url + "/", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise AssertionError(f"the server did not start:\n{self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@pytest.fixture
def start(course_dir, tmp_path):
    """start(**serve_settings) -> a running Server of the course; every one is stopped at the end."""
    servers = []

    def started(**settings) -> Server:
        if settings:
            with (course_dir / "course.toml").open("a") as f:
                f.write("[serve]\n" + "".join(f"{key} = {json.dumps(value)}\n" for key, value in settings.items()))
        servers.append(Server(course_dir, tmp_path / "server.log"))
        return servers[-1]

    yield started
    for server in servers:
        server.stop()


def issue(course_dir: Path, *names: str) -> dict[str, str]:
    with ServeStore(load_course(course_dir)) as store:
        return store.issue_tokens(list(names))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def api_submit(server: Server, token: str, notebook: Path | tuple[str, bytes]) -> requests.Response:
    name, content = (notebook.name, notebook.read_bytes()) if isinstance(notebook, Path) else notebook
    return requests.post(server.url + "/api/submit", headers=bearer(token), data={"assignment": "digits"},
                         files={"notebook": (name, content)}, timeout=60)


def wait_for(server: Server, token: str, run_id: int, until=lambda run: run["state"] == "done",
             timeout: float = 180) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run = requests.get(f"{server.url}/api/runs/{run_id}", headers=bearer(token), timeout=30).json()
        if until(run):
            return run
        time.sleep(0.3)
    raise AssertionError(f"run {run_id} never got there: {run}")


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def error_of(html: str) -> str:
    return re.search(r'id="error">([^<]*)<', html).group(1)


def signed_in(server: Server, token: str) -> tuple[requests.Session, str]:
    """A browser-like session signed in through the link's form: (the session, its page's CSRF token)."""
    session = requests.Session()
    form = session.get(server.url + "/login").text
    page = session.post(server.url + "/login", data={
        "token": token, "form_token": re.search(r'name="form_token" value="([^"]+)"', form).group(1)})
    assert page.status_code == 200 and page.url in (server.url + "/me", server.url + "/admin"), page.text
    return session, csrf_of(page.text)


def board_rows(server: Server) -> dict[str, str]:
    """The digits board: pseudonym -> score as shown; and which half it ranks on."""
    html = requests.get(server.url + "/board/digits/index.html", timeout=60).text
    return dict(re.findall(r'<td class="who">([^<]+)</td><td>([0-9.]+)</td>', html))


def test_a_student_signs_in_with_the_link_uploads_and_watches_the_run_go_queued_running_scored_and_onto_the_board(
        course_dir, start, tmp_path):
    chromium, sync_playwright = chromium_page()
    server = start()
    tokens = issue(course_dir, "Ana", "Bruno")
    notebook = write_notebook(tmp_path / "ana.ipynb", sleeping(4))
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(f"{server.url}/login#token={tokens['Ana']}")  # the link tokens.csv gives: the page fills the form
        assert page.url == server.url + "/login"  # the token left the address bar
        page.click("#sign-in")
        page.wait_for_url(server.url + "/me")
        assert "Today: 0 of 5 hand-ins used" in page.inner_text("#assignment-digits")
        page.set_input_files("#assignment-digits input[type=file]", str(notebook))
        # Bruno's run takes the one worker first, so that Ana's waits in the queue where she can see it.
        blocker = api_submit(server, tokens["Bruno"], write_notebook(tmp_path / "bruno.ipynb", sleeping(4)))
        wait_for(server, tokens["Bruno"], blocker.json()["id"], lambda run: run["state"] == "running")
        page.click("#assignment-digits button")
        page.wait_for_url(re.compile(r".*/me#run-\d+$"))
        row = page.locator("tr[data-run]").first
        assert row.get_attribute("data-state") == "queued"
        assert row.locator(".summary").inner_text() == "waiting in the queue: position 1"
        page.locator("tr[data-run][data-state=running]").wait_for(timeout=120_000)  # the page's own polling
        assert re.fullmatch(r"(starting|running cell \d+ of \d+): \d+ s of 60 s", row.locator(".summary").inner_text())
        page.locator("tr[data-run][data-state=done]").wait_for(timeout=120_000)
        assert re.fullmatch(r"ok · accuracy on the public half: 0\.\d{4}", row.locator(".summary").inner_text())
        page.click("text=Leaderboard")
        page.click("text=Digits")
        who = pseudonym("Ana", salt(load_course(course_dir)), pseudonym_words("en"))
        assert page.locator("#leaderboard tbody tr").count() == 2
        assert who in page.inner_text("#leaderboard")
        browser.close()


def test_grader_submit_hands_in_waits_and_prints_the_result_and_a_refusal_is_the_servers_message(
        course_dir, start, tmp_path):
    with (course_dir / "course.toml").open("a") as f:
        f.write('[serve]\nurl = "https://grader.example.org"\n')
    with Gradebook(load_course(course_dir).gradebook_path) as book:
        book.set_student("Ana", participant="11", id_number="A001", email="ana@uni.es")
    out = tmp_path / "tokens.csv"
    made = subprocess.run([*GRADER, "serve", "tokens", "--course", str(course_dir), "--out", str(out)],
                          capture_output=True, text=True)
    assert made.returncode == 0, made.stderr
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    header, row = out.read_text().splitlines()
    assert header == "name,participant,id_number,email,token,link"
    token = row.split(",")[4]
    assert row.split(",")[5] == f"https://grader.example.org/login#token={token}"
    server = start()

    good = write_notebook(tmp_path / "good.ipynb", GOOD)
    done = subprocess.run([*GRADER, "submit", str(good), "--server", server.url, "--token", token],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    # Where it stands, as the server words it: waiting (unless a worker took it at once), then running.
    assert re.search(r"^(waiting in the queue: position 1|starting: \d+ s of 60 s)$", done.stderr, re.M), done.stderr
    assert re.fullmatch(r"digits: ok · accuracy on the public half: 0\.\d{4}\n", done.stdout)

    weak = write_notebook(tmp_path / "weak.ipynb", WEAK)
    scripted = subprocess.run([*GRADER, "submit", str(weak), "--server", server.url, "--token", token,
                               "--assignment", "digits", "--format", "json"], capture_output=True, text=True,
                              timeout=300)
    assert scripted.returncode == 0, scripted.stderr
    run = json.loads(scripted.stdout)
    with Gradebook(load_course(course_dir).gradebook_path) as book:
        recorded = book.runs(student="Ana")[-1]
    assert run["state"] == "done" and run["status"] == "ok" and "grade" not in run
    assert run["public_score"] == recorded["scores"]["public"]["accuracy"]

    again = subprocess.run([*GRADER, "submit", str(good), "--server", server.url, "--token", token],
                           capture_output=True, text=True, timeout=60)
    assert again.returncode == 1
    assert "error: You handed in this exact notebook already" in again.stderr
    wrong = subprocess.run([*GRADER, "submit", str(good), "--server", server.url, "--token", "not-a-token"],
                           capture_output=True, text=True, timeout=60)
    assert wrong.returncode == 1 and "error: This token is not valid" in wrong.stderr


def test_a_server_killed_mid_run_loses_nothing_and_grades_the_hand_in_exactly_once(course_dir, start, tmp_path):
    server = start()
    token = issue(course_dir, "Ana")["Ana"]
    accepted = api_submit(server, token, write_notebook(tmp_path / "slow.ipynb", sleeping(6)))
    assert accepted.status_code == 201
    queue_id = accepted.json()["id"]
    wait_for(server, token, queue_id, lambda run: run["state"] == "running" and (run["elapsed_s"] or 0) >= 1)
    course = load_course(course_dir)
    with ServeStore(course) as store:
        workers = [w["pid"] for w in store.workers()]
    os.kill(server.proc.pid, signal.SIGKILL)
    server.proc.wait()
    deadline = time.monotonic() + 30
    while any(Path(f"/proc/{pid}").exists() for pid in workers):  # the workers die with the server
        assert time.monotonic() < deadline, "a worker outlived the server"
        time.sleep(0.2)

    restarted = start()
    run = wait_for(restarted, token, queue_id)
    assert run["status"] == "ok" and run["public_score"] is not None
    with ServeStore(course) as store:
        items = store.items(student="Ana")
        used = store.allowance("Ana", "digits").used
    with Gradebook(course.gradebook_path) as book:
        runs = [r for r in book.runs(student="Ana") if r["verifies"] is None]
    assert len(items) == 1 and items[0].state == "done" and items[0].tries == 2  # claimed again after the kill
    assert [r["id"] for r in runs] == [items[0].run_id] and runs[0]["status"] == "ok"  # graded once
    assert used == 1
    assert Path(runs[0]["path"]).is_file()


def test_a_form_without_its_csrf_token_is_refused_and_changes_nothing(course_dir, start, tmp_path):
    server = start()
    token = issue(course_dir, "Ana")["Ana"]
    session, csrf = signed_in(server, token)
    notebook = {"notebook": ("good.ipynb", write_notebook(tmp_path / "good.ipynb", GOOD).read_bytes())}
    for form in ({"assignment": "digits"}, {"assignment": "digits", "csrf": "0" * len(csrf)}):
        refused = session.post(server.url + "/submit", data=form, files=notebook)
        assert refused.status_code == 403
        assert error_of(refused.text) == "This form has expired: reload the page and try again."
    assert session.post(server.url + "/logout", data={}).status_code == 403
    assert session.get(server.url + "/me").status_code == 200  # still signed in
    # The sign-in form without its double-submit cookie (a cross-site post) signs nobody in.
    stranger = requests.post(server.url + "/login", data={"token": token, "form_token": "x" * 32},
                             allow_redirects=False)
    assert stranger.status_code == 403 and "grader_session" not in stranger.headers.get("set-cookie", "")
    # Two sign-in pages open in one browser: the first one's form still signs in.
    browser = requests.Session()
    first = re.search(r'name="form_token" value="([^"]+)"', browser.get(server.url + "/login").text).group(1)
    browser.get(server.url + "/")
    assert browser.post(server.url + "/login", data={"token": token, "form_token": first}).url == server.url + "/me"
    with ServeStore(load_course(course_dir)) as store:
        assert store.items() == []
    assert not (course_dir / ".grader" / "serve" / "uploads").exists()
    # The session cookie: HttpOnly and SameSite=Lax; Secure behind HTTPS (a trusted proxy says so).
    form = requests.get(server.url + "/", headers={"X-Forwarded-Proto": "https"})
    cookie = form.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    assert "Secure" not in requests.get(server.url + "/").headers["set-cookie"]


def test_sign_ins_from_one_address_and_submissions_of_one_student_are_rate_limited(course_dir, start):
    server = start(sign_ins_per_minute=3, submissions_per_minute=2)
    token = issue(course_dir, "Ana")["Ana"]
    # Only wrong tokens count: a classroom behind one address signs in as often as it needs.
    for _ in range(4):
        signed_in(server, token)
    session = requests.Session()
    page = session.get(server.url + "/").text
    for guess in ("guess", "guess", "guess", token):  # each page's form carries a new form token
        form_token = re.search(r'name="form_token" value="([^"]+)"', page).group(1)
        answer = session.post(server.url + "/login", data={"token": guess, "form_token": form_token})
        page = answer.text
        if guess != token:
            assert answer.status_code == 401 and "This token is not valid" in page
    limited = answer
    assert limited.status_code == 429
    assert "Too many sign-in attempts from your address" in limited.text
    assert "grader_session" not in session.cookies

    not_a_notebook = ("notes.ipynb", b"not json")
    assert [api_submit(server, token, not_a_notebook).status_code for _ in range(3)] == [422, 422, 429]
    assert api_submit(server, token, not_a_notebook).json() == {
        "error": "Too many hand-in attempts in the last minute: wait a minute and hand it in again."}


def test_an_upload_over_the_cap_or_not_a_notebook_is_refused_with_why_and_nothing_is_stored(course_dir, start,
                                                                                             tmp_path):
    server = start(upload_mb=0.05, submissions_per_minute=10)
    token = issue(course_dir, "Ana")["Ana"]
    big = write_notebook(tmp_path / "big.ipynb", [f"x = {'1' * 120_000!r}", *GOOD])
    refused = api_submit(server, token, big)  # the body is over the cap: refused before the form is read
    assert refused.status_code == 413
    assert refused.json()["error"].startswith("The notebook you handed in is larger than the 0.05 MB a hand-in may take")
    medium = write_notebook(tmp_path / "medium.ipynb", [f"x = {'1' * 60_000!r}", *GOOD])
    refused = api_submit(server, token, medium)  # the body fits, the notebook does not
    assert refused.status_code == 413
    assert refused.json()["error"].startswith("The notebook medium.ipynb is larger than the 0.05 MB a hand-in may take")
    session, csrf = signed_in(server, token)
    page = session.post(server.url + "/submit", data={"assignment": "digits", "csrf": csrf},
                        files={"notebook": (big.name, big.read_bytes())})
    assert page.status_code == 413 and "larger than the 0.05 MB" in error_of(page.text)

    text = api_submit(server, token, ("notes.txt", b"these are not cells"))
    assert text.status_code == 422
    assert text.json()["error"].startswith("The file notes.txt is not a notebook the grader can read")
    assert not (course_dir / ".grader" / "serve" / "uploads").exists()
    with ServeStore(load_course(course_dir)) as store:
        assert store.items() == [] and store.allowance("Ana", "digits").used == 0
    with Gradebook(load_course(course_dir).gradebook_path) as book:
        assert book.latest() == []


def test_a_student_never_sees_another_students_run_and_errors_name_no_path(course_dir, start, tmp_path):
    server = start()
    tokens = issue(course_dir, "Ana", "Bruno")
    ana = api_submit(server, tokens["Ana"], write_notebook(tmp_path / "weak.ipynb", WEAK)).json()["id"]
    wait_for(server, tokens["Ana"], ana)
    absent = requests.get(f"{server.url}/api/runs/{ana + 1000}", headers=bearer(tokens["Bruno"]))
    others = requests.get(f"{server.url}/api/runs/{ana}", headers=bearer(tokens["Bruno"]))
    assert others.status_code == absent.status_code == 404 and others.json() == absent.json() == {"error": "Not found."}
    bruno, _ = signed_in(server, tokens["Bruno"])
    page = bruno.get(server.url + "/me").text
    assert "Ana" not in page and f'data-run="{ana}"' not in page
    no_report = bruno.get(server.url + "/report/")
    assert no_report.status_code == 404 and "No results yet" in no_report.text
    ana_session, _ = signed_in(server, tokens["Ana"])
    assert ana_session.get(server.url + "/report/").status_code == 200
    shown = [ana_session.get(server.url + path) for path in (
        "/report/..%2F..%2F..%2Fcourse.toml", "/report/%2e%2e/%2e%2e/gradebook.sqlite", "/nowhere", "/admin",
        "/board/../course.toml")]
    shown.append(requests.get(server.url + "/api/me", headers=bearer("wrong")))
    # A fault of the server's own (here the course's configuration, broken under it) gets a generic page; the
    # traceback, which names paths, goes to the server's log.
    (course_dir / "assignments" / "digits" / "assignment.toml").rename(course_dir / "elsewhere.toml")
    failed = ana_session.get(server.url + "/me")
    assert failed.status_code == 500 and error_of(failed.text).startswith("Something went wrong on the server")
    deadline = time.monotonic() + 10  # uvicorn logs it once the answer is sent
    while "Traceback" not in (tmp_path / "server.log").read_text():
        assert time.monotonic() < deadline, "the fault was not logged"
        time.sleep(0.1)
    for response in [*shown, failed]:
        assert response.status_code in (401, 404, 500)
        for secret in (str(course_dir), str(tmp_path), "Traceback", ".grader", "assignment.toml", tokens["Ana"]):
            assert secret not in response.text


def test_the_board_shows_the_public_half_until_the_reveal_and_the_private_half_after_under_the_same_pseudonyms(
        course_dir, start, tmp_path):
    server = start()
    tokens = issue(course_dir, "Ana", "Bruno")
    for name, cells in (("Ana", GOOD), ("Bruno", WEAK)):
        queue_id = api_submit(server, tokens[name], write_notebook(tmp_path / f"{name}.ipynb", cells)).json()["id"]
        wait_for(server, tokens[name], queue_id)
    course = load_course(course_dir)
    words, secret = pseudonym_words("en"), salt(course)
    with Gradebook(course.gradebook_path) as book:
        scores = {pseudonym(r["student"], secret, words): r["scores"] for r in book.runs()}

    def shown(split: str) -> dict[str, str]:
        return {who: f"{s[split]['accuracy']:.4f}" for who, s in scores.items()}

    assert board_rows(server) == shown("public") and shown("public") != shown("private")
    assert "Final ranking" not in requests.get(server.url + "/board/digits/index.html").text
    with ServeStore(course) as store:
        admin, csrf = signed_in(server, store.issue_instructor_token())
    page = admin.get(server.url + "/admin").text
    assert "not executed" in page and re.search(r"<td>w1</td><td>\d+</td>", page)
    revealed = admin.post(server.url + "/admin/reveal", data={"assignment": "digits", "csrf": csrf})
    assert revealed.status_code == 200 and "private half shown" in revealed.text
    assert board_rows(server) == shown("private")
    assert "Final ranking" in requests.get(server.url + "/board/digits/index.html").text
    hidden = subprocess.run([*GRADER, "serve", "reveal", "digits", "--hide", "--course", str(course_dir)],
                            capture_output=True, text=True)
    assert hidden.returncode == 0, hidden.stderr
    assert board_rows(server) == shown("public")
