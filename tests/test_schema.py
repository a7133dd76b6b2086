"""One description of the configuration: the models, the JSON Schema editors read, the reference people read
and the loader's errors all say the same thing."""

from __future__ import annotations

import json
import tomllib
from datetime import date, datetime, time

import jsonschema
import pytest
from typer.testing import CliRunner

from grader.course import ConfigError, load_course
from grader.schema import (ASSIGNMENT_SCHEMA_LINE, COURSE_SCHEMA_LINE, SCHEMA_FILES, json_schema, reference_markdown,
                           write_schemas)
from tests.helpers import REPO, make_course

COURSES = [REPO, REPO / "demo"]
FILES = [(root / "course.toml", "course", COURSE_SCHEMA_LINE) for root in COURSES] + [
    (path, "assignment", ASSIGNMENT_SCHEMA_LINE) for root in COURSES
    for path in sorted((root / "assignments").glob("*/assignment.toml"))]


def as_editors_see(value):
    """A TOML document as JSON, as Taplo validates it: dates and times become their ISO text."""
    if isinstance(value, dict):
        return {key: as_editors_see(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_editors_see(item) for item in value]
    return value.isoformat() if isinstance(value, (date, datetime, time)) else value


def schema_errors(kind: str, document: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(json_schema(kind))
    return [error.message for error in validator.iter_errors(as_editors_see(document))]


def test_the_configuration_reference_is_the_schemas_rendering():
    # docs/configuration.md is generated; after changing grader/schema.py run
    # `grader schema --reference docs/configuration.md` (and `grader schema`, `grader schema -C demo`).
    assert (REPO / "docs" / "configuration.md").read_text(encoding="utf-8") == reference_markdown()
    assert "|  |" not in reference_markdown()  # every key has a description


@pytest.mark.parametrize("root", COURSES, ids=["course", "demo"])
def test_the_checked_in_schemas_are_the_models(root):
    for kind, name in SCHEMA_FILES.items():
        assert json.loads((root / "schema" / name).read_text(encoding="utf-8")) == json_schema(kind), name


@pytest.mark.parametrize("path, kind, line", FILES, ids=[str(f[0].relative_to(REPO)) for f in FILES])
def test_every_bundled_file_names_its_schema_and_meets_it(path, kind, line):
    text = path.read_text(encoding="utf-8")
    assert text.splitlines()[0] == line
    assert (path.parent / line.removeprefix("#:schema ")).resolve().is_file()  # what an editor opens
    assert schema_errors(kind, tomllib.loads(text)) == []


def test_schema_and_loader_refuse_the_same_typo(tmp_path):
    root = make_course(tmp_path / "c")
    path = root / "assignments" / "digits" / "assignment.toml"
    path.write_text(path.read_text() + "memroy_mb = 100\n")  # under [resources], the file's last table
    assert any("memroy_mb" in message for message in schema_errors("assignment", tomllib.loads(path.read_text())))
    with pytest.raises(ConfigError) as info:
        load_course(root).assignment("digits")
    assert info.value.key == "resources.memroy_mb"
    assert info.value.expected == "a known key (typo?); did you mean 'memory_mb'?"
    course = tomllib.loads((root / "course.toml").read_text()) | {"langauge": "es"}
    assert any("langauge" in message for message in schema_errors("course", course))


@pytest.mark.parametrize("file, text, key, expected", [
    ("course", 'name = "c"\n[grader]\njobs = true\n', "grader.jobs", "a positive integer, got True"),
    ("course", 'name = "c"\n[grader.docker]\ngpu_slot = 2\n', "grader.docker.gpu_slot",
     "a known key (typo?); did you mean 'gpu_slots'?"),
    ("course", 'name = "c"\n[[policy.groups]]\nname = "g"\nassignments = ["a"]\nbets = 1\n', "policy.groups[0].bets",
     "a known key (typo?); did you mean 'best'?"),
    ("course", 'name = "c"\ntimezone = "Madrid"\n', "timezone", "an IANA time zone like Europe/Madrid"),
    ("course", 'name = "c"\n[[policy.groups]]\nname = "g"\nassignments = ["a", "a"]\n',
     "policy.groups[0].assignments", "a list of distinct assignment names"),
    ("course", 'name = "c"\n[environment]\npackages = ["torch", ""]\n', "environment.packages",
     'a list of pip requirements like "torch==2.14.1"'),
    ("assignment", "[dataset]\nname = 'digits'\nvalidation_fraction = 1.5\n", "dataset.validation_fraction",
     "a number between 0 and 1 (exclusive), got 1.5"),
    ("assignment", "[dataset]\nname = 'digits'\n[audit]\nsimilarity = false\n", "audit.similarity",
     "a positive number, got False"),
    ("assignment", "grade_scale = [[0, 0], [1]]\n[dataset]\nname = 'digits'\n", "grade_scale",
     "[metric, grade] pairs"),
    ("assignment", "[late]\nmode = 'penalty'\n", "dataset", "a table (required)"),
])
def test_an_error_names_the_file_the_key_and_the_expectation(tmp_path, file, text, key, expected):
    root = make_course(tmp_path / "c")
    path = root / "course.toml" if file == "course" else root / "assignments" / "digits" / "assignment.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_course(root).assignment("digits")
    assert str(info.value).startswith(f"{path}: key '{key}': expected ") and expected in str(info.value)


def test_grader_schema_writes_what_the_schema_line_names(tmp_path):
    from grader.cli import app
    root = make_course(tmp_path / "c")
    cli = CliRunner()
    written = cli.invoke(app, ["schema", "--course", str(root), "--reference", str(tmp_path / "reference.md")])
    assert written.exit_code == 0, written.output
    assert sorted(p.name for p in (root / "schema").iterdir()) == sorted(SCHEMA_FILES.values())
    assert (tmp_path / "reference.md").read_text(encoding="utf-8") == reference_markdown()
    elsewhere = cli.invoke(app, ["schema", "--out", str(tmp_path / "out")])
    assert elsewhere.exit_code == 0 and (tmp_path / "out" / "course.schema.json").is_file()
    refused = cli.invoke(app, ["schema", "--course", str(tmp_path)])
    assert refused.exit_code == 2 and "no course.toml" in refused.stderr
    assert write_schemas(root) == [root / "schema" / name for name in SCHEMA_FILES.values()]
