"""Fixtures: a small course with the digits assignment prepared once, copied for each test that grades it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from grader.course import load_course
from grader.data import prepare
from tests.helpers import make_course


@pytest.fixture(scope="session")
def prepared_course(tmp_path_factory) -> Path:
    """A course with the digits assignment prepared once; tests copy it."""
    root = make_course(tmp_path_factory.mktemp("template") / "course")
    course = load_course(root)
    prepare(course, course.assignment("digits"))
    return root


@pytest.fixture
def course_dir(prepared_course, tmp_path) -> Path:
    target = tmp_path / "course"
    shutil.copytree(prepared_course, target)
    return target


@pytest.fixture
def course(course_dir):
    return load_course(course_dir)
