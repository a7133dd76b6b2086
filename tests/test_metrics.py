"""One place per concept: every registered metric scores known predictions right and is what the schema,
the claims and the doctor know; every runner the schema accepts builds or says why not; the scaffold
writes the schema's resource defaults."""

from __future__ import annotations

import math
import re
import tomllib

import nbformat
import numpy as np
import pytest

from grader import pipeline
from grader.audit.claims import claims
from grader.course import ConfigError, load_course
from grader.metrics import METRICS, register
from grader.runners import RUNNERS, Runner, get_runner
from grader.runners.bwrap_runner import SandboxUnavailable
from grader.runners.docker_runner import DockerUnavailable
from grader.scaffold import init_course
from grader.schema import LimitsTable, Resources, json_schema
from grader.schema import RUNNERS as RUNNER_NAMES
from grader.scoring import Predictions
from tests.helpers import make_course

# Ten classes, ten items of each: item i is of class i % 10, and the j-th of its class is i // 10.
N = 10
Y = np.arange(100) % N
J = np.arange(100) // N
ROWS = np.arange(100)


def ranked(labels: np.ndarray, weights: list[float]) -> np.ndarray:
    """Probabilities that rank the classes from each row's label on: weights[r] to label + r (mod 10)."""
    return np.array([[weights[(c - label) % N] for c in range(N)] for label in labels])


def perfect() -> Predictions:
    return Predictions([str(i) for i in ROWS], Y.copy(), np.eye(N)[Y])


def chance() -> Predictions:
    """Each class guessed ten times, right once; probabilities all but uniform, ranking from the guess."""
    labels = (Y + J) % N
    return Predictions([str(i) for i in ROWS], labels, ranked(labels, [0.1 + 1e-6 * (4.5 - r) for r in range(N)]))


WRONG_WEIGHTS = [0.9, 0.02, 0.015, 0.013, 0.012, 0.011, 0.01, 0.009, 0.008, 0.002]


def wrong() -> Predictions:
    """Always the next class, surely; the true one ranked last."""
    labels = (Y + 1) % N
    return Predictions([str(i) for i in ROWS], labels, ranked(labels, WRONG_WEIGHTS))


# What each metric scores on chance() and wrong(): a metric registered without its values here fails below.
CHANCE = {"accuracy": 0.1, "macro_f1": 0.1, "top3": 0.3, "top5": 0.5, "log_loss": math.log(N),
          "bits_per_char": math.log2(N)}
WRONG = {"accuracy": 0.0, "macro_f1": 0.0, "top3": 0.0, "top5": 0.0, "log_loss": -math.log(WRONG_WEIGHTS[-1]),
         "bits_per_char": -math.log2(WRONG_WEIGHTS[-1])}
# How a notebook prints each metric, and the value it means.
PRINTED = {"accuracy": ("Test accuracy: 91.5 %", 0.915), "macro_f1": ("macro-F1 0,82", 0.82),
           "top3": ("top-3 accuracy = 0.97", 0.97), "top5": ("top5_acc: 99 %", 0.99),
           "log_loss": ("test cross-entropy: 0.41", 0.41), "bits_per_char": ("valid bpc 1.93", 1.93)}


def test_every_registered_metric_has_known_values_here():
    assert set(CHANCE) == set(WRONG) == set(PRINTED) == set(METRICS)


@pytest.mark.parametrize("name", list(METRICS))
def test_a_metric_scores_perfect_chance_and_wrong_predictions_right(name):
    metric = METRICS[name]
    best = metric.value(Y, perfect(), ROWS)
    assert best == pytest.approx(metric.best, abs=1e-12)  # a perfect prediction scores the range's better end
    assert metric.value(Y, chance(), ROWS) == pytest.approx(CHANCE[name], rel=1e-6)
    worst = metric.value(Y, wrong(), ROWS)
    assert worst == pytest.approx(WRONG[name])
    low, high = metric.range
    assert low <= min(best, worst) and max(best, worst) <= high
    # Its direction is its function's: wrong scores worse than chance, chance worse than perfect.
    order = [best, CHANCE[name], worst]
    assert order == (sorted(order) if metric.lower_is_better else sorted(order, reverse=True))


@pytest.mark.parametrize("name", list(METRICS))
def test_without_probabilities_only_the_metrics_that_need_them_have_no_value(name):
    metric, given = METRICS[name], perfect()
    labels_only = Predictions(given.ids, given.labels, None)
    assert (metric.value(Y, labels_only, ROWS) is None) == metric.needs_probabilities
    if not metric.needs_probabilities:
        assert metric.value(Y, labels_only, ROWS) == metric.value(Y, given, ROWS)


def test_shares_are_the_metrics_between_0_and_1():
    assert {m.name for m in METRICS.values() if m.is_share} == {"accuracy", "macro_f1", "top3", "top5"}
    assert all(m.lower_is_better and m.range == (0, math.inf) for m in METRICS.values() if not m.is_share)


def test_a_metric_is_registered_once():
    with pytest.raises(ValueError, match="'accuracy' is registered twice"):
        register("accuracy", "accuracy", claims="acc")(lambda y, pred, rows: 0.0)
    assert METRICS["accuracy"].title == "accuracy"


def test_the_schema_accepts_exactly_the_registered_metrics(tmp_path):
    properties = json_schema("assignment")["$defs"]["MetricsTable"]["properties"]
    assert properties["primary"]["enum"] == properties["report"]["items"]["enum"] == list(METRICS)
    root = make_course(tmp_path)
    toml = root / "assignments" / "digits" / "assignment.toml"
    text = toml.read_text()
    for name in METRICS:
        toml.write_text(text.replace('primary = "accuracy"', f'primary = "{name}"'))
        assert load_course(root).assignment("digits").primary_metric == name
    toml.write_text(text.replace('primary = "accuracy"', 'primary = "f1_score"'))
    with pytest.raises(ConfigError, match="metrics.primary.*one of " + re.escape(", ".join(METRICS))):
        load_course(root).assignment("digits")


@pytest.mark.parametrize("name", list(METRICS))
def test_the_audit_reads_each_metric_as_notebooks_print_it(name):
    line, value = PRINTED[name]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("fit()")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text=line + "\n")]
    assert [c.value for c in claims(nb, name)] == [pytest.approx(value)]


def test_the_registry_names_the_runners_classes_and_their_sandboxes():
    assert RUNNER_NAMES == ("auto", *RUNNERS)
    for name, entry in RUNNERS.items():
        cls = getattr(__import__(entry.module, fromlist=[entry.cls]), entry.cls)
        assert issubclass(cls, Runner) and cls.name == name
    assert get_runner("local").sandboxed is False
    with pytest.raises(ValueError, match=r"unknown runner 'bwarp' \(known: bwrap, docker, local, dask\)"):
        get_runner("bwarp")


# A runner that cannot start on this machine says what it lacks.
CANNOT_START = {"auto": (pipeline.SandboxRequired, "no sandbox to run student hand-ins in"),
                "bwrap": (SandboxUnavailable, "bubblewrap"), "docker": (DockerUnavailable, "Docker engine|image"),
                "local": ((), ""), "dask": (ValueError, "the dask runner needs the scheduler's address")}


@pytest.mark.parametrize("name", RUNNER_NAMES)
def test_every_runner_the_schema_accepts_builds_or_says_what_it_lacks(name, tmp_path):
    assert set(CANNOT_START) == set(RUNNER_NAMES)
    course = load_course(make_course(tmp_path))
    error, words = CANNOT_START[name]
    try:
        runner = pipeline.make_runner(course, name)
    except error as exc:
        assert re.search(words, str(exc)), exc
        return
    assert runner.name == name or name == "auto" and runner.sandboxed
    assert runner.sandboxed == RUNNERS[runner.name].sandboxed
    runner.close()


def shown(text: str, table: str) -> dict:
    """A table of a TOML file as written, its commented keys (which show their defaults) included."""
    lines = text.split(f"\n[{table}]\n", 1)[1].split("\n\n", 1)[0]
    return tomllib.loads(re.sub(r"(?m)^# (\w+ = )", r"\1", lines))


def test_a_new_assignment_shows_the_schemas_limits_and_resources(tmp_path):
    init_course(tmp_path / "course", language="en")
    text = (tmp_path / "course" / "assignments" / "digits" / "assignment.toml").read_text(encoding="utf-8")
    assert shown(text, "limits") == {"time_limit_s": LimitsTable().time_limit_s,
                                     "cell_timeout_s": LimitsTable().time_limit_s}  # its default: time_limit_s
    assert shown(text, "resources") == {name: getattr(Resources(), name) for name in Resources.__pydantic_fields__}
