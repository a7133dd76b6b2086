"""Hints for the faults students really make: each fault keeps its message and gains a sentence."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from grader.cli import app
from grader.course import Resources
from grader.hints import predictions_hints, run_hint
from grader.runners.environment import describe
from grader.i18n import translator
from grader.scoring import InvalidPredictions, read_predictions
from tests.helpers.notebooks import GOOD, LOAD, write_notebook

EN, ES = translator("en"), translator("es")
CLASSES = ["tench", "english_springer", "cassette_player"]


@pytest.mark.parametrize("ename, evalue, expected", [
    ("ModuleNotFoundError", "No module named 'google'", "google.colab (drive.mount) only exists in Colab"),
    ("ModuleNotFoundError", "No module named 'tensorflow'", "no package tensorflow; it offers numpy"),
    ("RuntimeError", "Found no NVIDIA driver on your system.", "use the device parameter the grader passes"),
    ("AssertionError", "Torch not compiled with CUDA enabled", "use the device parameter the grader passes"),
    ("URLError", "<urlopen error [Errno -3] Temporary failure in name resolution>", "no download=True"),
    ("FileNotFoundError", "[Errno 2] No such file or directory: '/content/drive/MyDrive/mnist/train.npz'",
     "paths of your computer or of Colab"),
    ("FileNotFoundError", "[Errno 2] No such file or directory: 'C:\\\\Users\\\\ana\\\\train.npz'",
     "paths of your computer or of Colab"),
    ("OSError", "[Errno 30] Read-only file system: '/grader/data/model.pt'", "write only to output_dir"),
])
def test_each_run_fault_gets_its_hint(ename, evalue, expected):
    assert expected in run_hint(ename, evalue, EN)


@pytest.mark.parametrize("evalue", ["[Errno 28] No space left on device", "655360 requested and 131056 written"])
def test_a_full_disk_names_both_sizes_the_grader_gives(evalue):
    hint = run_hint("OSError", evalue, ES, resources=Resources(output_mb=16, tmp_mb=64))
    assert "output_dir como mucho 16 MB" in hint and "/tmp como mucho 64 MB" in hint


def test_faults_without_a_known_cause_get_no_hint():
    assert run_hint("ZeroDivisionError", "division by zero", EN) == ""
    assert run_hint("FileNotFoundError", "[Errno 2] No such file or directory: '/grader/data/missing.npz'", EN) == ""
    # A "module" no package is named like: the notebook's own text (hidden inputs in hex, say), never quoted back.
    assert run_hint("ModuleNotFoundError", "No module named 'x" + "0f" * 1000 + "'", EN) == ""


def refused(tmp_path, text: str, ids=("a1", "b2")) -> InvalidPredictions:
    path = tmp_path / "predictions.csv"
    path.write_text(text)
    with pytest.raises(InvalidPredictions) as info:
        read_predictions(path, list(ids), CLASSES, EN)
    return info.value


@pytest.mark.parametrize("text, expected", [
    ("ImageId,Label\na1,0\nb2,1\n", "must be id,label (and p_<class> columns), not ImageId,Label"),
    ("id,label\na1.jpg,0\nb2.jpg,1\n", "without their file extension"),
    ("id,label\n0,0\n1,1\n", "the ids look like row numbers"),
    ("id,label\na1,tenca\nb2,springer inglés\n", "0-2 or one of these names, exactly as in classes.txt: tench, "
                                                 "english_springer, cassette_player"),
])
def test_each_predictions_fault_gets_its_hint_and_keeps_its_message(tmp_path, text, expected):
    exc = refused(tmp_path, text)
    (hint,) = predictions_hints(exc.kinds, exc.header, exc.unknown_ids, CLASSES, EN)
    assert expected in hint and exc.faults  # the fault's own words are still there


def test_a_missing_package_hint_lists_what_the_run_itself_had():
    # The docker image may hold other libraries than the grader's own environment: the run's record decides.
    image = {"numpy": "2.1.0", "torch": "2.9.0"}
    hint = run_hint("ModuleNotFoundError", "No module named 'tensorflow'", EN, image)
    assert "it offers numpy 2.1.0, torch 2.9.0." in hint and "pandas" not in hint
    recorded = describe()["packages"]  # what execute.py records inside every run
    assert {"numpy", "pandas", "torch"} <= set(recorded) and all(recorded.values())


def test_hints_reach_the_student_in_grader_check_in_the_course_language(course_dir, tmp_path):
    toml = course_dir / "course.toml"
    toml.write_text(toml.read_text().replace('language = "en"', 'language = "es"'))
    colab = write_notebook(tmp_path / "colab.ipynb", ["from google.colab import drive\ndrive.mount('/content/drive')",
                                                      *GOOD])
    result = CliRunner().invoke(app, ["check", str(colab), "-a", "digits", "--course", str(course_dir)])
    assert result.exit_code == 1
    text = " ".join(result.stdout.split())
    assert "ModuleNotFoundError: No module named 'google'" in text  # the fault, then the hint
    assert "Pista: google.colab (drive.mount) solo existe en Colab" in text
    kaggle = write_notebook(tmp_path / "kaggle.ipynb", [LOAD, "import pandas as pd\npd.DataFrame({'ImageId': "
                                                        "test['id'], 'Label': 0}).to_csv(Path(output_dir, "
                                                        "'predictions.csv'), index=False)"])
    result = CliRunner().invoke(app, ["check", str(kaggle), "-a", "digits", "--course", str(course_dir)])
    assert "no ImageId,Label: este no es el formato de Kaggle" in " ".join(result.stdout.split())
