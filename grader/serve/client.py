"""`grader submit`: hand a notebook in to `grader serve` from a terminal or a notebook cell, Colab included.

Python's standard library only (urllib, and a multipart body written out here), so that it runs wherever
Python does. Each request carries the student's token as a bearer token, never a cookie. While the run
waits and runs, it reports the server's own words for where it stands (the queue position, then the
running cell against the budget); a refusal is the server's message, in the course's language.
"""

from __future__ import annotations

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


class SubmitError(Exception):
    """The server refused the notebook, or could not be asked; the message says which and why."""


class Unreachable(SubmitError):
    """The server did not answer (down, restarting, or a wrong address)."""


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
        except Unreachable:
            lost_since = lost_since or time.monotonic()
            if time.monotonic() - lost_since > UNREACHABLE_S:
                raise


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
            return json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            message = json.load(exc).get("error")
        except ValueError:
            message = None
        if message is None and exc.code >= 500:
            raise Unreachable(f"{server}: the server failed ({exc.code}); try again later") from None
        raise SubmitError(message or f"{server}{path}: {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise Unreachable(f"{server}: no answer ({getattr(exc, 'reason', exc)})") from None
