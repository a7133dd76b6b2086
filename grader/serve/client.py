"""`grader submit`: hand a notebook in to `grader serve` from a terminal or a notebook cell, Colab included.

Python's standard library only (urllib, and a multipart body written out here), so that it runs wherever
Python does. Each request carries the student's token as a bearer token, never a cookie. While the run
waits and runs, it reports the server's own words for where it stands (the queue position, then the
running cell against the budget); a refusal is the server's message, in the course's language.
"""

from __future__ import annotations

import http.client
import json
import secrets
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

POLL_S = 2.0  # between two questions about a waiting run
UNREACHABLE_S = 300.0  # how long a wait outlasts a server that went away (a restart keeps the run)
TIMEOUT_S = 60.0  # one request
ANSWER_LIMIT = 1 << 20  # the most of an answer read: the service's JSON answers are a few kB
WHERE = "check --server (the address your README gives, like https://grader.example.org)"


class SubmitError(Exception):
    """The server refused the notebook, or could not be asked; the message says which and why."""


class Unreachable(SubmitError):
    """The server did not answer (down, restarting, or a wrong address); `reason` says how."""

    def __init__(self, message: str, reason: str = ""):
        super().__init__(message)
        self.reason = reason or message


def submit(notebook: Path, server: str, token: str, assignment: str | None = None, wait: bool = True,
           on_progress: Callable[[dict], None] | None = None) -> dict:
    """Hand `notebook` in; the run as the server shows it (with `wait`: once it is done). `assignment` may be
    left out when the course has one. `on_progress` hears the run each time where it stands changes."""
    server = server.rstrip("/")
    notebook = Path(notebook)
    if assignment is None:
        names = [a["name"] for a in _call(server, "/api/me", token)["assignments"]]
        if len(names) != 1:
            raise SubmitError(f"name the assignment with --assignment: one of {', '.join(names)}")
        assignment = names[0]
    try:
        content = notebook.read_bytes()
    except OSError as exc:
        raise SubmitError(f"{notebook}: {exc.strerror or exc}") from None
    body, content_type = multipart({"assignment": assignment}, "notebook", notebook.name, content)
    run = _call(server, "/api/submit", token, body, content_type)
    shown, lost_since = None, None
    while True:
        if on_progress is not None and run["summary"] != shown:
            on_progress(run)
            shown = run["summary"]
        if not wait or run["state"] == "done":
            return run
        time.sleep(POLL_S)
        try:
            run, lost_since = _call(server, f"/api/runs/{run['id']}", token), None
        except Unreachable as exc:
            lost_since = lost_since or time.monotonic()
            if time.monotonic() - lost_since > UNREACHABLE_S:
                raise Unreachable(f"{server} stopped answering while your hand-in waited ({exc.reason}); it was "
                                  f"received, and its result will be on your page at {server}/me") from None


def multipart(fields: dict[str, str], file_field: str, filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body of text fields and one file, and its Content-Type."""
    boundary = secrets.token_hex(16)
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
             for name, value in fields.items()]
    quoted = filename.replace("\\", "\\\\").replace('"', "\\\"").replace("\r", "").replace("\n", "")
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{file_field}"; filename="{quoted}"\r\n'
                  f"Content-Type: application/x-ipynb+json\r\n\r\n".encode() + content + b"\r\n")
    return b"".join(parts) + f"--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def _call(server: str, path: str, token: str, body: bytes | None = None, content_type: str | None = None) -> dict:
    """One request to the service's JSON API; its answer, or SubmitError with the server's message."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    if content_type:
        headers["Content-Type"] = content_type
    request = urllib.request.Request(server + path, data=body, headers=headers, method="POST" if body else "GET")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            answer = _json(response)
    except urllib.error.HTTPError as exc:
        message = (_json(exc) or {}).get("error")
        if message is None and exc.code >= 500:
            raise Unreachable(f"{server}: the server failed ({exc.code}); try again later",
                              f"{exc.code} {exc.reason}") from None
        if message is None and exc.code in (404, 405) and path in ("/api/me", "/api/submit"):
            raise SubmitError(f"no grader service at {server} ({path}: {exc.code} {exc.reason}): {WHERE}") from None
        raise SubmitError(message or f"{server}{path}: {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = str(getattr(exc, "reason", exc))
        raise Unreachable(f"no grader service answers at {server} ({reason}): {WHERE}", reason) from None
    if answer is None:  # a web server, but not this service (a page, not its JSON)
        raise SubmitError(f"no grader service at {server} ({path} is not the service's JSON): {WHERE}")
    return answer


def _json(response) -> dict | None:
    """An answer's JSON object, read up to ANSWER_LIMIT; None when it is not one (or is larger)."""
    try:
        data = response.read(ANSWER_LIMIT + 1)
    except (OSError, http.client.HTTPException):
        return None
    if len(data) > ANSWER_LIMIT:
        return None
    try:
        value = json.loads(data)
    except ValueError:  # UnicodeDecodeError included
        return None
    return value if isinstance(value, dict) else None
