"""The notebooks' environment, declared in course.toml: built apart from the grader's venv, run in the sandbox,
checked before a batch, built offline from wheels, and named in the hints students read."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from types import SimpleNamespace

import pytest
from typer.testing import CliRunner

from grader import envs, pipeline
from grader.check import check
from grader.cli import app
from grader.course import ConfigError, load_course
from grader.gradebook import Gradebook
from grader.hints import run_hint
from grader.i18n import translator
from grader.image import ImageBuildError, build_image, course_packages
from grader.runners import bwrap_runner
from tests.helpers.notebooks import CENTROID, LOAD, write_notebook

EN, ES = translator("en"), translator("es")
NUMPY_LOAD = LOAD.replace("import pandas as pd\n", "")  # the environment below holds numpy alone
NUMPY_WRITE = '''import sys
lines = ["id,label"] + [f"{i},{label}" for i, label in zip(test["id"], labels)]
Path(output_dir, "predictions.csv").write_text("\\n".join(lines) + "\\n")
Path(output_dir, "prefix.txt").write_text(sys.prefix)'''
NUMPY_GOOD = [NUMPY_LOAD, CENTROID, NUMPY_WRITE]


def declare(root: Path, packages: list[str], assignment: str | None = None) -> None:
    toml = root / ("course.toml" if assignment is None else f"assignments/{assignment}/assignment.toml")
    toml.write_text(toml.read_text() + f"\n[environment]\npackages = {json.dumps(packages)}\n")


@pytest.fixture(scope="module")
def env_course(prepared_course, tmp_path_factory) -> Path:
    """The digits course declaring numpy, its environment built once from the package index."""
    root = tmp_path_factory.mktemp("envs") / "course"
    shutil.copytree(prepared_course, root)
    declare(root, ["numpy"])
    envs.build(load_course(root))
    return root


def test_the_environment_is_a_venv_of_its_own_with_ipykernel_and_the_declared_packages(env_course):
    course = load_course(env_course)
    a = course.assignment("digits")
    env = envs.env_dir(course, a)
    assert env.parent == course.workdir / "envs" and envs.python(course, a) == str(env / "bin" / "python")
    assert envs.missing(course, a) == [] and {"numpy", "ipykernel"} <= envs.installed(env)
    assert not {"typer", "papermill", "pandas"} & envs.installed(env)  # nothing of the grader's
    config = (env / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in config
    assert f"home = {Path(sys.base_prefix) / 'bin'}" in config  # the grader's base Python, not its venv
    # The build's record lies beside the environment, never in what the sandbox shows.
    record = json.loads(envs.record_path(env).read_text())
    assert envs.record_path(env).parent == env.parent and not list(env.glob("grader-env*"))
    assert record["requirements"] == ["numpy"] and any(line.startswith("numpy==") for line in record["freeze"])
    assert not [p for p in env.parent.iterdir() if p.name.startswith(".")]  # no half-built folder beside it
    assert not (env / "bin" / "pip").exists()  # notebooks get no installer
    scripts = [p for p in (env / "bin").iterdir() if p.is_file() and not p.is_symlink()]
    assert all(str(env) in p.read_text(errors="replace") for p in scripts if p.name == "ipython")  # relocated

    done = CliRunner().invoke(app, ["env", "build", "--course", str(env_course)])  # built already: kept
    assert done.exit_code == 0 and str(env) in done.stdout
    assert json.loads(envs.record_path(env).read_text())["built_at"] == record["built_at"]


def test_hand_ins_run_in_the_sandbox_on_the_environment_and_never_see_the_grader(env_course, tmp_path):
    course = load_course(env_course)
    subs = tmp_path / "submissions" / "digits"
    # The grader's own venv is not even in the sandbox's file system.
    write_notebook(subs / "good.ipynb", [f"import os\nassert not os.path.exists({sys.prefix!r})", *NUMPY_GOOD])
    write_notebook(subs / "typer.ipynb", ["import typer", *NUMPY_GOOD])
    write_notebook(subs / "grader.ipynb", ["import grader", *NUMPY_GOOD])
    report = pipeline.run(course, subs.parent, runner="bwrap")
    rows = {row.student: row for row in report.rows}
    assert rows["good"].status == "ok" and rows["good"].primary_score > 0.7
    for module in ("typer", "grader"):
        assert rows[module].status == "failed", rows[module].message
        assert f"No module named '{module}'" in rows[module].message
        assert f"the course's environment has no package {module}: it has numpy" in rows[module].message
    with Gradebook(course.gradebook_path) as book:
        good = next(r for r in book.latest() if r["student"] == "good")
    env = envs.env_dir(course, course.assignment("digits"))
    assert (Path(good["artifacts"]) / "output" / "prefix.txt").read_text() == str(env)
    assert set(good["environment"]["packages"]) == {"numpy"}  # what the run itself recorded


def test_the_self_check_and_the_local_runner_use_the_environment_too(env_course, tmp_path):
    course = load_course(env_course)
    notebook = write_notebook(tmp_path / "mine.ipynb", NUMPY_GOOD)
    report = check(course, notebook, "digits")
    assert report.passed and report.assessment.status == "ok", [item.text for item in report.items]
    env = envs.env_dir(course, course.assignment("digits"))
    assert (report.run_dir / "output" / "prefix.txt").read_text() == str(env)


# A notebook that writes a .pth file into the environment: Python runs its import line in every later kernel.
POISON = '''import glob, os, sys
site = glob.glob(sys.prefix + "/lib/python3*/site-packages")[0]
try:
    with open(os.path.join(site, "zzz_poison.pth"), "w") as pth:
        pth.write("import builtins; builtins.POISONED = True\\n")
except OSError as exc:
    print("refused:", exc.strerror)'''


def test_a_notebook_the_course_checks_cannot_poison_the_environment_of_later_runs(env_course, tmp_path,
                                                                                  monkeypatch):
    course = load_course(env_course)
    a = course.assignment("digits")
    env = envs.env_dir(course, a)
    notebook = write_notebook(tmp_path / "mallory.ipynb", [POISON, *NUMPY_GOOD])
    report = check(course, notebook, "digits")  # in the sandbox, as `grader run`: the environment is read-only
    assert report.passed and not list(env.glob("lib/*/site-packages/zzz*"))

    with monkeypatch.context() as without_bwrap:  # the local runner, where bwrap cannot run: it writes there
        without_bwrap.setattr(bwrap_runner, "bwrap_fault", lambda: "bubblewrap is not installed")
        check(course, notebook, "digits")
        [pth] = env.glob("lib/*/site-packages/zzz_poison.pth")
        try:
            with pytest.raises(envs.EnvChanged, match="zzz_poison.pth: added"):
                check(course, notebook, "digits")  # nothing runs in it any more
        except BaseException:
            pth.unlink()
            raise
    try:
        subs = tmp_path / "submissions" / "digits"
        write_notebook(subs / "victim.ipynb", NUMPY_GOOD)
        with pytest.raises(envs.EnvChanged) as refused:
            pipeline.run(course, subs.parent, runner="bwrap")
        assert (f"the notebooks' environment {env} is not as `grader env build` left it (lib/python3."
                in str(refused.value))
        assert "zzz_poison.pth: added (a .pth file: Python runs its import lines at every start)" in str(refused.value)
        assert str(refused.value).endswith(f"Nothing was run. Build it again: grader env build --course "
                                           f"{env_course} --force")
        done = CliRunner().invoke(app, ["run", str(subs.parent), "--course", str(env_course), "--runner", "bwrap"])
        assert done.exit_code == 2 and "--force" in done.output
        with pytest.raises(envs.EnvChanged):  # a reference run too
            pipeline.refuse_missing_environment(course, SimpleNamespace(name="local"), [a])
        with Gradebook(course.gradebook_path) as book:
            assert not [r for r in book.runs() if r["student"] == "victim"]
    finally:
        pth.unlink()
    envs.verify(course, [a])  # as its build left it again


def test_the_sandbox_finds_where_the_environment_lives_without_running_its_python(tmp_path):
    env = tmp_path / "env"
    (env / "bin").mkdir(parents=True)
    ran = tmp_path / "ran"
    python = env / "bin" / "python"  # whatever a notebook left there runs with the grader's rights
    python.write_text(f"#!/bin/sh\ntouch {ran}\necho /\n")
    python.chmod(0o755)
    (env / "pyvenv.cfg").write_text(f"home = {Path(sys.base_prefix) / 'bin'}\ninclude-system-site-packages = false\n"
                                    f"version = {platform.python_version()}\n")
    assert bwrap_runner.python_prefixes(str(python)) == (str(env), sys.base_prefix)
    assert not ran.exists()
    base_site = Path(sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"])
    assert str(base_site) in bwrap_runner.masked_site_packages(str(python))


def test_the_base_installations_packages_are_out_of_reach_of_a_notebook(env_course, tmp_path):
    course = load_course(env_course)
    # The environment's base: the grader's. pip is in its site-packages, not in the environment.
    site = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_prefix})["purelib"]
    if not (Path(site) / "pip").is_dir():
        pytest.skip(f"no pip in the base installation's site-packages ({site})")
    probe = f'''import os, sys
sys.path.append({site!r})
Path(output_dir, "listing.txt").write_text(repr(os.listdir({site!r})))
try:
    import pip
    Path(output_dir, "pip.txt").write_text(pip.__file__)
except ImportError as exc:
    Path(output_dir, "pip.txt").write_text(type(exc).__name__)'''
    report = check(course, write_notebook(tmp_path / "eve.ipynb", [*NUMPY_GOOD, probe]), "digits")
    assert report.passed, [item.text for item in report.items]
    output = report.run_dir / "output"
    assert (output / "pip.txt").read_text() == "ModuleNotFoundError" and (output / "listing.txt").read_text() == "[]"


def test_a_changed_file_is_named_and_build_force_builds_the_environment_again(env_course):
    course = load_course(env_course)
    a = course.assignment("digits")
    env = envs.env_dir(course, a)
    [init] = env.glob("lib/*/site-packages/numpy/__init__.py")
    init.write_bytes(init.read_bytes())  # the same bytes, written again: its ctime tells
    with pytest.raises(envs.EnvChanged, match=r"numpy/__init__\.py: changed.*--force"):
        envs.verify(course, [a])
    done = CliRunner().invoke(app, ["env", "build", "--force", "--course", str(env_course)])
    assert done.exit_code == 0, done.output
    envs.verify(course, [a])
    assert envs.missing(course, a) == []


def test_a_requirement_with_credentials_in_its_url_is_refused_without_repeating_them(tmp_path):
    root = tmp_path / "course"
    (root / "assignments").mkdir(parents=True)
    (root / "course.toml").write_text('name = "T"\n[environment]\npackages = ["tomli-w @ https://deploy:glpat-S3CRET@'
                                      'git.example.org/tomli_w-1.2.0-py3-none-any.whl"]\n')
    with pytest.raises(ConfigError) as refused:
        envs.requirements(load_course(root))
    text = str(refused.value)
    assert text.startswith(f"{root / 'course.toml'}: key 'environment.packages': expected a requirement URL without "
                           "a user or token")
    assert "~/.netrc" in text and "PIP_INDEX_URL" in text and "***@git.example.org" in text
    assert "S3CRET" not in text and "deploy" not in text
    done = CliRunner().invoke(app, ["env", "build", "--course", str(root)])
    assert done.exit_code == 2 and "S3CRET" not in done.output


def test_run_refuses_before_running_anything_when_a_declared_package_is_missing(env_course, tmp_path):
    root = tmp_path / "course"
    shutil.copytree(env_course, root, ignore=shutil.ignore_patterns("envs", "runs", "gradebook.sqlite"))
    declare(root, ["numpy", "tomli-w"], assignment="digits")  # a set of its own, not built
    (root / "reference").mkdir()
    write_notebook(root / "reference" / "digits.ipynb", NUMPY_GOOD)
    subs = tmp_path / "submissions" / "digits"
    write_notebook(subs / "ana.ipynb", NUMPY_GOOD)
    course = load_course(root)
    with pytest.raises(envs.EnvMissing) as refused:
        pipeline.run(course, subs.parent, runner="bwrap")
    assert str(refused.value) == ("the notebooks' environment lacks what the assignments declare (digits needs "
                                  "numpy, tomli-w, ipykernel): nothing was run. Build it: "
                                  f"grader env build --course {root}")
    done = CliRunner().invoke(app, ["run", str(subs.parent), "--course", str(root), "--runner", "bwrap"])
    assert done.exit_code == 2
    text = " ".join(done.output.split())
    assert "tomli-w" in text and "grader env build" in text
    done = CliRunner().invoke(app, ["reference", "run", "digits", "--course", str(root), "--runner", "local"])
    assert done.exit_code == 2 and "digits needs numpy, tomli-w, ipykernel" in " ".join(done.output.split())
    assert not (course.workdir / "runs").exists()  # nothing ran: no hand-in failed for it
    with Gradebook(course.gradebook_path) as book:
        assert book.runs() == [] and book.reference_runs() == []
        # Nor is the hand-in recorded: no "not graded yet" row, no submission counted in the feedback.
        assert book.db.execute("SELECT COUNT(*) FROM submissions").fetchone()[0] == 0


def test_the_docker_image_is_checked_by_its_labels(env_course):
    course = load_course(env_course)
    a = course.assignment("digits")
    labels = envs.image_labels(course)
    assert labels[envs.IMAGE_SHA_LABEL] == envs.requirements_sha256(["NumPy"])  # one spelling per requirement
    assert envs.missing_from_image(course, a, labels) == []
    assert envs.missing_from_image(course, a, {}) == ["numpy"]  # built without the course: labels say nothing
    image = SimpleNamespace(name="docker", image="grader-exec:old", image_labels={})
    with pytest.raises(envs.EnvMissing, match=r"the image grader-exec:old lacks .*numpy.*grader image build "
                                              r".*--tag grader-exec:old"):
        pipeline.refuse_missing_environment(course, image, [a])
    pipeline.refuse_missing_environment(course, SimpleNamespace(name="docker", image="new", image_labels=labels), [a])


def test_the_image_is_built_from_the_declaration_and_labelled_with_it(tmp_path):
    root = tmp_path / "course"
    (root / "assignments" / "a").mkdir(parents=True)
    (root / "course.toml").write_text('name = "T"\n[environment]\npackages = ["numpy", "torch==2.14.1"]\n')
    (root / "assignments" / "a" / "assignment.toml").write_text(
        'title = "A"\ngrade_scale = [[0.5, 0.0], [1.0, 10.0]]\n[dataset]\nname = "digits"\n[metrics]\n'
        'primary = "accuracy"\n[environment]\npackages = ["scipy>=1.10"]\n')
    course = load_course(root)
    args, labels = course_packages(course)
    assert args == {"PACKAGES": "ipykernel numpy scipy>=1.10", "TORCH_PACKAGES": "torch==2.14.1"}
    assert json.loads(labels[envs.IMAGE_PACKAGES_LABEL]) == ["numpy", "torch==2.14.1", "scipy>=1.10"]
    with pytest.raises(ImageBuildError, match="--no-torch: the course declares torch==2.14.1"):
        course_packages(course, torch=False)

    sent = {}

    class Engine:  # what build_image asks of the Docker engine
        class api:
            @staticmethod
            def build(**options):
                sent.update(options)
                return iter([{"aux": {"ID": "sha256:built"}}])

        class images:
            @staticmethod
            def prune(**_):
                pass

    assert build_image("grader-exec:course", course=course, client=Engine) == "sha256:built"
    assert sent["labels"] == labels and sent["buildargs"]["PACKAGES"] == "ipykernel numpy scipy>=1.10"
    with pytest.raises(ImageBuildError, match="--build-arg PACKAGES: the course declares"):
        build_image("x", course=course, client=Engine, build_args={"PACKAGES": "numpy"})


def test_offline_build_from_a_folder_of_wheels_and_a_failed_build_leaves_nothing(tmp_path, monkeypatch):
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--only-binary=:all:", "-d", str(wheels),
                    "ipykernel", "numpy"], check=True, timeout=600, capture_output=True)
    # No package index, no pip configuration: only the folder.
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.delenv("PIP_FIND_LINKS", raising=False)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    root = tmp_path / "course"
    root.mkdir()
    (root / "course.toml").write_text('name = "T"\n[environment]\npackages = ["numpy"]\n')
    done = CliRunner().invoke(app, ["env", "build", "--wheels", str(wheels), "--course", str(root)])
    assert done.exit_code == 0, done.output
    course = load_course(root)
    env = envs.env_dir(course)
    assert envs.missing(course) == [] and json.loads(envs.record_path(env).read_text())["wheels"] == str(wheels)

    (root / "course.toml").write_text('name = "T"\n[environment]\npackages = ["numpy", "tomli-w"]\n')  # no wheel
    done = CliRunner().invoke(app, ["env", "build", "--wheels", str(wheels), "--course", str(root)])
    assert done.exit_code == 2
    text = " ".join(done.output.split())
    assert "exited with code" in text and "tomli-w" in text  # pip's own last lines
    assert sorted(p.name for p in env.parent.iterdir()) == [env.name, f"{env.name}.json"]  # nothing half made


def test_the_declaration_one_environment_per_distinct_set_and_precise_errors(tmp_path):
    root = tmp_path / "course"
    for name in ("a", "b", "c"):
        (root / "assignments" / name).mkdir(parents=True)
        (root / "assignments" / name / "assignment.toml").write_text(
            'title = "A"\ngrade_scale = [[0.5, 0.0], [1.0, 10.0]]\n[dataset]\nname = "digits"\n[metrics]\n'
            'primary = "accuracy"\n')
    (root / "requirements.txt").write_text("# the course's\npandas>=2  # tables\n\nNumPy\n")
    (root / "course.toml").write_text('name = "T"\n[environment]\npackages = ["numpy"]\n'
                                      'requirements = "requirements.txt"\n')
    declare(root, ["torch==2.14.1"], assignment="c")
    course = load_course(root)
    a, b, c = (course.assignment(n) for n in "abc")
    assert envs.requirements(course, a) == ("numpy", "pandas>=2")  # NumPy is numpy
    assert envs.requirements(course, c) == ("numpy", "pandas>=2", "torch==2.14.1")
    assert envs.env_dir(course, a) == envs.env_dir(course, b) != envs.env_dir(course, c)
    assert sorted(envs.requirement_sets(course).values()) == [("numpy", "pandas>=2"),
                                                               ("numpy", "pandas>=2", "torch==2.14.1")]
    assert envs.missing(course, c) == ["numpy", "pandas>=2", "torch==2.14.1", "ipykernel"]  # not built

    (root / "requirements.txt").write_text("numpy\n-r other.txt\n")
    with pytest.raises(ConfigError, match=r"requirements.txt: key 'line 2': expected a pip requirement"):
        envs.requirements(course)
    (root / "requirements.txt").write_text("numpy\n")
    declare(root, ["torch=2"], assignment="a")
    with pytest.raises(ConfigError, match=r"assignment.toml: key 'environment.packages'.*'torch=2'"):
        envs.requirements(course, load_course(root).assignment("a"))

    undeclared = tmp_path / "plain"
    undeclared.mkdir()
    (undeclared / "course.toml").write_text('name = "T"\n')
    plain = load_course(undeclared)
    assert envs.missing(plain) == [] and envs.python(plain) == sys.executable and envs.job_python(plain) == ""


def test_what_an_environment_holds_is_read_from_its_metadata_by_normalised_name(tmp_path):
    env = tmp_path / "env"
    for folder, name in (("scikit_learn-1.5.dist-info", "Scikit_Learn"), ("ipykernel-6.dist-info", "ipykernel")):
        (env / "lib" / "python3.11" / "site-packages" / folder).mkdir(parents=True)
        (env / "lib" / "python3.11" / "site-packages" / folder / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {name}\nVersion: 1\n\nName: not-a-header\n")
    assert envs.installed(env) == set()  # no record: not built (or built halfway)
    envs.record_path(env).write_text("{}")
    assert envs.installed(env) == {"scikit-learn", "ipykernel"}


@pytest.mark.parametrize("t, module, expected", [
    (EN, "tensorflow", "the course's environment has no package tensorflow: it has numpy, torch==2.14.1 (and what "
                       "they depend on). Use those, or remove the import."),
    (ES, "tensorflow", "el entorno del curso no tiene el paquete tensorflow: tiene numpy, torch==2.14.1"),
    (EN, "torch.nn", "the course's environment should have torch, but the grader could not import it: this is not "
                     "your notebook's fault; tell your instructor."),
    (ES, "sklearn", "el entorno del curso debería tener sklearn, pero el corrector no pudo importarlo: no es culpa "
                    "de tu notebook"),
])
def test_a_missing_module_hint_names_the_course_environment_and_never_blames_a_declared_one(t, module, expected):
    declared = ("numpy", "torch==2.14.1") if module != "sklearn" else ("scikit-learn",)
    hint = run_hint("ModuleNotFoundError", f"No module named '{module}'", t, {"numpy": "2.1"}, declared=declared)
    assert expected in hint and "the grader has no" not in hint
    # A course that declares no environment: what the run itself had, as before.
    assert "the grader has no package tensorflow; it offers numpy 2.1" in run_hint(
        "ModuleNotFoundError", "No module named 'tensorflow'", EN, {"numpy": "2.1"})
