"""`python -m grader`: the same command as `grader`, for a Python whose scripts folder is not on PATH."""

from grader.cli import app

app(prog_name="grader")
