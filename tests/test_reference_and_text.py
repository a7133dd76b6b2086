"""Grade scales relative to a measured baseline or reference, text scoring, text samples."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from grader.assess import assess
from grader.cli import app
from grader.course import ConfigError, load_course
from grader.data import layout, prepare, read_labels
from grader.gradebook import Gradebook
from grader.i18n import translator
from grader.leaderboard import board
from grader.metrics import bits_per_char
from grader.pipeline import run
from grader.reference import run_references
from grader.report import report
from grader.runners.base import OK, RunResult
from grader.scoring import Predictions
from tests.helpers import TEXT_TOML, make_course
from tests.helpers.notebooks import GOOD, WEAK, write_notebook

RELATIVE_SCALE = '''grade_relative_to = "baseline"
grade_scale = [[-1.0, 0.0], [0.0, 5.0], [1.0, 10.0]]
'''


def relative_course(root: Path) -> Path:
    make_course(root)
    toml = root / "assignments" / "digits" / "assignment.toml"
    toml.write_text(RELATIVE_SCALE + toml.read_text().replace("grade_scale = [[0.5, 0.0], [1.0, 10.0]]\n", "")
                    + '[reference]\nbaseline = "baseline.ipynb"\n')
    write_notebook(root / "baseline.ipynb", WEAK)
    write_notebook(root / "reference" / "digits.ipynb", GOOD)
    return root


def test_relative_scale_needs_its_baseline_measured_then_grades_the_improvement(tmp_path):
    course = load_course(relative_course(tmp_path / "course"))
    prepare(course, course.assignment("digits"))
    write_notebook(tmp_path / "subs" / "digits" / "ana.ipynb", GOOD)

    waiting = run(course, tmp_path / "subs")
    assert waiting.rows == [] and "grader reference run digits" in waiting.warnings[0]

    smoke = run_references(course, ["digits"], smoke=True)
    assert [r.role for r in smoke] == ["baseline", "reference"] and all(r.ok for r in smoke)
    assert run(course, tmp_path / "subs").rows == []  # a smoke baseline never anchors grades

    full = run_references(course, ["digits"])
    baseline, reference = full
    assert baseline.primary_score == pytest.approx(0.1, abs=0.05)  # the weak notebook: one class for all
    # The reference itself is graded against the baseline measured in the same batch.
    assert reference.grade == pytest.approx(5 + 5 * (reference.primary_score - baseline.primary_score), abs=1e-6)

    with Gradebook(course.gradebook_path) as book:  # the leaderboard marks both, on its split
        marks = board(course, book, "digits", reveal=True)
    assert marks.baseline == pytest.approx(baseline.scores["private"]["accuracy"])
    assert marks.reference == pytest.approx(reference.scores["private"]["accuracy"])

    graded = run(course, tmp_path / "subs")
    (row,) = graded.rows
    assert row.status == OK
    assert row.grade == pytest.approx(5 + 5 * (row.primary_score - baseline.primary_score), abs=1e-6)

    # A new baseline measurement changes the assignment's version: the submission is graded again.
    run_references(course, ["digits"])
    with Gradebook(course.gradebook_path) as book:
        book.db.execute("UPDATE reference_runs SET primary_score = 0.5 WHERE id = (SELECT MAX(id) FROM reference_runs"
                        " WHERE role = 'baseline')")
    (again,) = run(course, tmp_path / "subs").rows
    assert again.grade == pytest.approx(5 + 5 * (again.primary_score - 0.5), abs=1e-6)


def test_relative_scale_without_that_notebook_is_a_config_error(tmp_path):
    root = make_course(tmp_path / "course")
    toml = root / "assignments" / "digits" / "assignment.toml"
    toml.write_text('grade_relative_to = "reference"\n' + toml.read_text())
    with pytest.raises(ConfigError, match="grade_relative_to"):
        load_course(root).assignment("digits")


def test_bits_per_char_is_the_mean_negative_log2_probability_of_the_true_character():
    probabilities = np.array([[0.5, 0.25, 0.25], [0.125, 0.75, 0.125]])
    pred = Predictions(["a", "b"], np.array([0, 1]), probabilities)
    y = np.array([1, 1])
    expected = (2 + -math.log2(0.75)) / 2  # -log2(0.25) = 2 bits, -log2(0.75) = 0.415 bits
    assert bits_per_char(y, pred, np.arange(2)) == pytest.approx(expected)


@pytest.fixture
def text_course(tmp_path):
    root = tmp_path / "course"
    (root / "assignments" / "text").mkdir(parents=True)
    (root / "course.toml").write_text('name = "T"\nlanguage = "en"\n')
    (root / "assignments" / "text" / "assignment.toml").write_text(TEXT_TOML)
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("to be or not to be, that is the question.\n" * 60, encoding="utf-8")
    course = load_course(root)
    prepare(course, course.assignment("text"), corpus, verify=False)
    return course


def _text_result(course, tmp_path, predictions: str | None, sample: str | None) -> RunResult:
    run_dir = tmp_path / "run"
    (run_dir / "output").mkdir(parents=True)
    if predictions is not None:
        (run_dir / "output" / "predictions.csv").write_text(predictions)
    if sample is not None:
        (run_dir / "output" / "sample.txt").write_text(sample)
    return RunResult("k", OK, run_dir, "", "")


def test_text_scoring_needs_probabilities_and_a_sample(text_course, tmp_path):
    data = layout(text_course, text_course.assignment("text"))
    ids = [r["id"] for r in csv.DictReader(open(data.labels))]
    n = len(data.classes)
    t = translator("en")
    a = text_course.assignment("text")

    labels_only = "id,label\n" + "".join(f"{i},0\n" for i in ids)
    outcome = assess(_text_result(text_course, tmp_path / "1", labels_only, "hi"), a, data.labels, data.classes, t)
    assert outcome.status == "invalid_predictions" and f"p_0 ... p_{n - 1}" in outcome.message

    uniform = "id,label," + ",".join(f"p_{k}" for k in range(n)) + "\n" + "".join(
        f"{i},0," + ",".join([f"{1 / n:.8f}"] * n) + "\n" for i in ids)
    outcome = assess(_text_result(text_course, tmp_path / "2", uniform, None), a, data.labels, data.classes, t)
    assert outcome.status == "invalid_predictions" and "sample.txt" in outcome.message

    outcome = assess(_text_result(text_course, tmp_path / "3", uniform, "to be or"), a, data.labels, data.classes, t)
    assert outcome.status == OK and outcome.sample == "to be or"
    assert outcome.primary_score == pytest.approx(math.log2(n), abs=1e-4)  # uniform: log2 of the vocabulary


UNIGRAM = [
    '''import json
from pathlib import Path
import numpy as np
import pandas as pd
vocab = json.loads(Path(data_dir, "vocab.json").read_text())
text = Path(data_dir, "train.txt").read_text()
counts = np.array([text.count(c) for c in vocab], dtype=float) + 1
p = counts / counts.sum()
prompts = json.loads(Path(test_dir, "prompts.json").read_text())
table = pd.DataFrame(np.tile(p, (len(prompts), 1)), columns=[f"p_{i}" for i in range(len(vocab))])
table.insert(0, "label", int(p.argmax()))
table.insert(0, "id", [q["id"] for q in prompts])
table.to_csv(Path(output_dir, "predictions.csv"), index=False)
Path(output_dir, "sample.txt").write_text("to be <b>or</b> not")''']


def test_text_run_keeps_its_sample_for_show_and_the_report(text_course, tmp_path):
    write_notebook(tmp_path / "subs" / "text" / "Ana.ipynb", UNIGRAM)
    (row,) = run(text_course, tmp_path / "subs").rows
    # The score is the unigram's bits per character on every hidden answer, computed here independently.
    data = layout(text_course, text_course.assignment("text"))
    vocab = json.loads((data.data_dir / "vocab.json").read_text(encoding="utf-8"))
    train = (data.data_dir / "train.txt").read_text(encoding="utf-8")
    counts = np.array([train.count(c) for c in vocab], dtype=float) + 1
    answers = [label for label, _ in read_labels(data.labels).values()]
    expected = float(np.mean(-np.log2(counts[answers] / counts.sum())))
    assert row.status == OK and row.primary_score == pytest.approx(expected, abs=1e-6)
    shown = CliRunner().invoke(app, ["show", "Ana", "--course", str(text_course.root)])
    assert "to be <b>or</b> not" in shown.stdout
    page = report(text_course, "Ana").index.read_text(encoding="utf-8")
    assert '<pre class="sample">to be &lt;b&gt;or&lt;/b&gt; not</pre>' in page  # escaped, not markup
