"""`grader doctor`: each check fires on a course broken on purpose, names the file and the fix; the demo is
clean; run, kit and grades export stop on the errors that concern them before doing any work."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from grader import envs
from grader.cli import app
from grader.course import load_course
from grader.doctor import ERROR, WARNING, diagnose
from grader.secret import load_secret
from tests.helpers import REPO



@pytest.fixture
def built(monkeypatch):
    """As on a machine where `grader env build` ran: the notebooks' environment lacks nothing."""
    monkeypatch.setattr(envs, "missing", lambda course, assignment=None: [])


@pytest.fixture
def root(tmp_path, monkeypatch, built) -> Path:
    """A copy of the demo course, without its work folder and hand-ins."""
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    target = tmp_path / "course"
    shutil.copytree(REPO / "demo", target, ignore=shutil.ignore_patterns(".grader", "submissions"))
    return target


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{path} has no {old!r}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def errors(root: Path) -> list:
    return [f for f in diagnose(load_course(root)) if f.level == ERROR]


def only(findings: list, where: str):
    (found,) = [f for f in findings if f.where == where]
    return found


def test_the_bundled_demo_course_has_no_errors(built):
    assert errors(REPO / "demo") == []


def test_an_assignment_in_no_group_never_counts(root):
    (root / "course.toml").write_text((root / "course.toml").read_text() + '\n[[policy.groups]]\nname = "practicas"\n'
                                      'assignments = ["final-project"]\n')
    found = only(errors(root), "course.toml: policy.groups")
    assert "'digits' is in no [[policy.groups]]" in found.message and "Moodle" in found.message
    assert 'add "digits" to the assignments of a group (practicas)' in found.fix


def test_an_extension_for_an_assignment_the_course_lacks_never_applies(root):
    (root / "course.toml").write_text((root / "course.toml").read_text() + '\n[[policy.extensions]]\n'
                                      'student = "A001"\nassignment = "digit"\nuntil = "2027-01-20"\n')
    found = only(errors(root), "course.toml: policy.extensions[0].assignment")
    assert "'digit', which is not an assignment" in found.message and found.fix == "write one of digits"


def test_a_grade_scale_written_in_percent_for_accuracy_is_an_error(root):
    toml = root / "assignments" / "digits" / "assignment.toml"
    edit(toml, "grade_scale = [[0.80, 0.0], [0.98, 10.0]]", "grade_scale = [[90, 0.0], [99, 10.0]]")
    found = only(errors(root), "assignments/digits/assignment.toml: grade_scale")
    assert "every point (90, 99) lies outside what accuracy can be, [0, 1]: every student gets 0" in found.message
    assert "[0.9, 0], [0.99, 10]" in found.fix
    edit(root / "assignments" / "digits" / "assignment.toml", "[[90, 0.0], [99, 10.0]]", "[[0.5, 0.0], [95, 10.0]]")
    found = only(errors(root), "assignments/digits/assignment.toml: grade_scale")
    assert "percentage" not in found.fix  # 0.5 is no percentage: dividing it by 100 would be wrong


@pytest.mark.parametrize("scale, relative, expected", [
    ("[[-0.1, 0.0], [1.2, 10.0]]", False, "its top grade 10 needs accuracy outside [0, 1]: the best possible run "
                                          "gets 8.46154"),
    ("[[0.5, 0.0], [1.0, 20.0]]", False, "its top grade 20 is above the course's max_grade 10"),
    ("[[0.0, 5.0], [2.0, 10.0]]", True, "needs accuracy minus the baseline's outside [-1, 1]"),
])
def test_a_scale_that_cannot_reach_its_top_is_an_error(root, scale, relative, expected):
    toml = root / "assignments" / "digits" / "assignment.toml"
    edit(toml, "grade_scale = [[0.80, 0.0], [0.98, 10.0]]", f"grade_scale = {scale}" + (
        '\ngrade_relative_to = "baseline"\n[reference]\nbaseline = "assignments/digits/starter.ipynb"' if relative
        else ""))
    found = only(errors(root), "assignments/digits/assignment.toml: grade_scale")
    assert expected in found.message


def test_a_loss_scale_and_a_relative_scale_in_range_are_fine(root):
    toml = root / "assignments" / "digits" / "assignment.toml"
    edit(toml, 'grade_scale = [[0.80, 0.0], [0.98, 10.0]]', 'grade_scale = [[0.1, 10.0], [2.5, 0.0]]')
    edit(toml, 'primary = "accuracy"', 'primary = "log_loss"')
    assert not [f for f in errors(root) if "grade_scale" in f.where]
    edit(toml, 'grade_scale = [[0.1, 10.0], [2.5, 0.0]]', 'grade_scale = [[-0.3, 10.0], [0.5, 0.0]]\n'
         'grade_relative_to = "baseline"\n[reference]\nbaseline = "assignments/digits/starter.ipynb"')
    assert not [f for f in errors(root) if "grade_scale" in f.where]


def test_a_starter_copied_from_another_assignment_is_an_error(root):
    starter = root / "assignments" / "digits" / "starter.ipynb"
    edit(starter, 'KIT = \\"digits-kit\\"', 'KIT = \\"mnist-kit\\"')
    edit(starter, '"seed = 0\\n"', '"seed = 1\\n"')
    edit(starter, '"time_budget_s = 300"', '"time_budget_s = 1800"')
    findings = errors(root)
    kit = only(findings, "assignments/digits/starter.ipynb: KIT")
    assert 'KIT = "mnist-kit"' in kit.message and kit.fix == 'write KIT = "digits-kit" in the starter'
    parameters = only(findings, "assignments/digits/starter.ipynb: parameters")
    assert parameters.message == ("the parameters cell has seed = 1, time_budget_s = 1800; assignment.toml gives "
                                  "seed = 0, time_budget_s = 300")
    assert parameters.fix == "write in the starter's parameters cell: seed = 0, time_budget_s = 300"


def test_an_assignment_without_readme_or_starter_is_an_error(root):
    folder = root / "assignments" / "digits"
    for name in ("README.md", "README.md.j2", "starter.ipynb"):
        (folder / name).unlink()
    findings = errors(root)
    assert "no README in the course language (es)" in only(findings, "assignments/digits/README.md").message
    assert "grader readme digits" in only(findings, "assignments/digits/README.md").fix
    assert "no starter.ipynb" in only(findings, "assignments/digits/starter.ipynb").message
    refused = CliRunner().invoke(app, ["kit", "digits", "--course", str(root)])
    assert refused.exit_code == 2 and "no README in the course language" in refused.stderr
    assert "has no starter.ipynb" in refused.stderr and not list(root.glob("*kit*"))


def test_a_starter_without_a_parameters_cell_is_an_error(root):
    starter = root / "assignments" / "digits" / "starter.ipynb"
    edit(starter, '"parameters"', '"defaults"')
    found = only(errors(root), "assignments/digits/starter.ipynb")
    assert found.message.startswith("no cell tagged 'parameters'") and "seed = 0\nsmoke = False\ntime_budget_s = 300" in found.fix


def test_a_built_kit_without_readme_or_starter_is_an_error(root):
    kit = root / "digits-kit"  # where `grader kit digits` writes it, run in the course folder
    kit.mkdir()
    (kit / "kit.json").write_text("{}")
    findings = [f for f in errors(root) if f.where == "digits-kit"]
    assert [f.message for f in findings] == ["the kit has no README.md", "the kit has no starter.ipynb"]
    assert "grader kit digits --out digits-kit" in findings[0].fix
    shutil.rmtree(kit)
    with zipfile.ZipFile(root / "digits-kit.zip", "w") as archive:
        archive.writestr("digits-kit/kit.json", "{}")
        archive.writestr("digits-kit/README.md", "# Digits")
        archive.writestr("digits-kit/data/starter.ipynb", "{}")  # not where students look
    (found,) = [f for f in errors(root) if f.where == "digits-kit.zip"]
    assert found.message == "the kit has no starter.ipynb"


def test_readmes_naming_classes_that_are_not_the_datas_are_an_error(root):
    course = load_course(root)
    manifest = course.workdir / "data" / "digits" / "manifest.json"  # prepared from the instructor's own data
    manifest.parent.mkdir(parents=True)
    manifest.write_text(json.dumps({"classes": ["cat", "dog", "fox"]}))
    found = only(errors(root), "assignments/digits/README.md")
    assert found.message == ("the READMEs name the classes 0, 1, 2, 3, 4, 5, ... (10); the prepared data's "
                             "classes.txt has cat, dog, fox")
    assert found.fix.startswith('list the data\'s classes in assignment.toml, [dataset] classes = ["cat", "dog", "fox"]')


def test_a_readme_that_disagrees_with_its_assignment_is_an_error(root):
    edit(root / "assignments" / "digits" / "assignment.toml", 'deadline = "2026-12-15T23:59"',
         'deadline = "2026-12-20T23:59"')
    findings = errors(root)
    assert {f.where for f in findings} == {"assignments/digits/README.md", "assignments/digits/README.en.md"}
    assert all(f.fix.startswith("run `grader readme digits`") for f in findings)


def test_a_broken_assignment_toml_is_a_finding_not_a_crash(root):
    edit(root / "assignments" / "digits" / "assignment.toml", "seed = 0", 'seed = "zero"')
    (found,) = errors(root)
    assert found.where == "assignments/digits/assignment.toml: dataset.seed"
    assert found.message == "expected an integer, got 'zero'" and "correct 'dataset.seed'" in found.fix


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_labelled_data_in_the_course_folder_that_git_would_commit_is_an_error(root, tmp_path):
    """The hidden rows are carved out of the table: committed with the course, it is the answer key."""
    (root / "tables").mkdir()
    (root / "tables" / "iris.csv").write_text("length,label\n" + "".join(f"{i % 7},{'ab'[i % 2]}\n" for i in range(60)))
    edit(root / "assignments" / "digits" / "assignment.toml", 'name = "digits"',
         'name = "table"\npath = "tables/iris.csv"')
    where = "assignments/digits/assignment.toml: dataset.path"
    assert not [f for f in errors(root) if f.where == where]  # no git work tree: nothing to check

    git(root, "init", "-q")
    found = only(errors(root), where)
    assert found.message == ("tables/iris.csv (the data the hidden test is drawn from, with its labels) lies in the "
                             "course folder and git does not ignore it: committed and published with the course, it "
                             "gives the hidden labels away")
    assert found.fix == ("add /tables/iris.csv to .gitignore (in the course folder), or move the data outside the "
                         "course folder")
    course = load_course(root)
    assert all(where in {f.where for f in diagnose(course, command)} for command in ("run", "kit"))
    assert where not in {f.where for f in diagnose(course, "export")}

    (root / ".gitignore").write_text("/tables/iris.csv\n")
    assert not [f for f in errors(root) if f.where == where]
    git(root, "add", "-f", "tables/iris.csv")  # ignored, yet committed already
    found = only(errors(root), where)
    assert "git holds it" in found.message and "`git rm -r --cached tables/iris.csv`" in found.fix

    # A private hidden set is the answer key itself, whatever the source.
    (root / "private").mkdir()
    (root / "private" / "new.csv").write_text("length,label\n1,a\n")
    (tmp_path / "iris.csv").write_text((root / "tables" / "iris.csv").read_text())
    edit(root / "assignments" / "digits" / "assignment.toml", 'path = "tables/iris.csv"',
         f'path = "{tmp_path / "iris.csv"}"\nhidden_from = "private/new.csv"')
    found = only(errors(root), "assignments/digits/assignment.toml: dataset.hidden_from")
    assert found.message.startswith("private/new.csv (the private hidden set, with its labels) lies in the course")
    assert not [f for f in errors(root) if f.where == where]


def test_an_environment_that_lacks_a_declared_package_is_an_error(root, monkeypatch):
    monkeypatch.setattr(envs, "missing", lambda course, assignment=None: ["scikit-learn", "ipykernel"])
    found = only(errors(root), "course.toml: environment")
    assert "the notebooks' environment of digits lacks scikit-learn, ipykernel" in found.message
    assert found.fix.startswith("run `grader env build --course ")
    edit(root / "course.toml", 'runner = "auto"', 'runner = "docker"')  # the image's labels are run's to check
    assert errors(root) == []


def test_a_course_without_environment_is_warned(root):
    edit(root / "course.toml", "[environment]", "[other]")
    edit(root / "course.toml", "[other]\npackages", "# packages")
    (warning,) = [f for f in diagnose(load_course(root)) if f.level == WARNING]
    assert warning.where == "course.toml" and "the grader's own Python" in warning.message
    assert "grader env build" in warning.fix
    # An assignment's own packages, with no environment to add them to, are never installed.
    edit(root / "assignments" / "digits" / "assignment.toml", "[metrics]",
         '[environment]\npackages = ["torch"]\n\n[metrics]')
    found = only(errors(root), "assignments/digits/assignment.toml: environment.packages")
    assert "never installed" in found.message and "add an [environment] table to course.toml" in found.fix


def test_a_secret_without_a_noted_backup_is_warned_until_backed_up(root, tmp_path):
    course = load_course(root)
    load_secret(course.workdir, create=True)

    def secret_warnings() -> list:
        return [f for f in diagnose(load_course(root)) if f.where == ".grader/secret"]

    (warning,) = secret_warnings()
    assert warning.level == WARNING and "grader secret backup --to PATH" in warning.fix
    cli = CliRunner()
    inside = cli.invoke(app, ["secret", "backup", "--to", str(root / "copy"), "--course", str(root)])
    assert inside.exit_code == 1 and "a backup belongs off this folder" in inside.stderr
    (tmp_path / "usb").mkdir()  # a folder: the copy is named `secret` in it
    done = cli.invoke(app, ["secret", "backup", "--to", str(tmp_path / "usb"), "--course", str(root)])
    assert done.exit_code == 0, done.output
    copy = tmp_path / "usb" / "secret"
    assert copy.read_text() == (course.workdir / "secret").read_text()
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert secret_warnings() == []
    # A new secret (the old one deleted): the noted backup is of another secret.
    (course.workdir / "secret").unlink()
    load_secret(course.workdir, create=True)
    assert len(secret_warnings()) == 1


def test_the_doctor_command_lists_findings_in_80_columns_and_as_json(root):
    edit(root / "assignments" / "digits" / "assignment.toml", "grade_scale = [[0.80, 0.0], [0.98, 10.0]]",
         "grade_scale = [[90, 0.0], [99, 10.0]]")
    cli = CliRunner()
    table = cli.invoke(app, ["doctor", "--course", str(root)], env={"COLUMNS": "80"})
    assert table.exit_code == 1
    assert max(len(line.rstrip()) for line in table.stdout.splitlines()) <= 80
    assert "assignments/digits/assignment.toml: grade_scale" in table.stdout and "3 error(s), 0 warning(s)" in table.stdout
    listed = cli.invoke(app, ["doctor", "--format", "json", "--course", str(root)])
    assert listed.exit_code == 1
    assert [(f["level"], f["where"]) for f in json.loads(listed.stdout)] == [
        ("error", "assignments/digits/assignment.toml: grade_scale"), ("error", "assignments/digits/README.md"),
        ("error", "assignments/digits/README.en.md")]  # the scale the READMEs state changed too
    assert cli.invoke(app, ["doctor", "--course", str(REPO / "demo")]).exit_code == 0


def test_run_kit_and_export_stop_before_any_work_on_the_errors_that_concern_them(root, tmp_path):
    course = load_course(root)
    toml = root / "assignments" / "digits" / "assignment.toml"
    edit(toml, "grade_scale = [[0.80, 0.0], [0.98, 10.0]]", "grade_scale = [[90, 0.0], [99, 10.0]]")
    hand_ins = tmp_path / "submissions" / "digits"
    hand_ins.mkdir(parents=True)
    shutil.copy(REPO / "demo" / "submissions" / "digits" / "carla.ipynb", hand_ins)
    cli = CliRunner()
    for args in (["run", str(hand_ins.parent)], ["kit", "digits", "--out", str(tmp_path / "kit")],
                 ["grades", "export"]):
        refused = cli.invoke(app, [*args, "--course", str(root)])
        assert refused.exit_code == 2, (args, refused.output)
        assert "error: assignments/digits/assignment.toml: grade_scale: every point" in refused.stderr
        assert "fix: write grade_scale's metric values within [0, 1]" in refused.stderr
        assert "stopped before any work" in refused.stderr
    assert not course.gradebook_path.exists() and not (tmp_path / "kit").exists()  # nothing ran, nothing written
    # A README that has not caught up with assignment.toml does not stop the grading, and only
    # the assignments handed in matter to `grader run`.
    edit(toml, "grade_scale = [[90, 0.0], [99, 10.0]]", "grade_scale = [[0.80, 0.0], [0.98, 10.0]]")
    edit(toml, 'deadline = "2026-12-15T23:59"', 'deadline = "2026-12-20T23:59"')
    other = root / "assignments" / "other"
    other.mkdir()
    (other / "assignment.toml").write_text('grade_scale = [[50, 0.0], [99, 10.0]]\n[dataset]\nname = "digits"\n')
    run_env = {k: v for k, v in os.environ.items() if k != "GRADER_COURSE"}
    assert diagnose(load_course(root), "run", ["digits"]) == []
    exported = cli.invoke(app, ["grades", "export", "--course", str(root)], env=run_env)
    assert exported.exit_code == 2 and "assignments/other/assignment.toml: grade_scale" in exported.stderr



def test_a_group_naming_a_removed_assignment_is_an_error(root):
    (root / "course.toml").write_text((root / "course.toml").read_text() + '\n[[policy.groups]]\nname = "practicas"\n'
                                      'assignments = ["digits", "placeholder"]\n')
    found = only(errors(root), "course.toml: policy.groups[0].assignments")
    assert "placeholder" in found.message and "placeholder" in found.fix
