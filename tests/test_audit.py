"""`grader audit`: every hand-in with its evidence. Real notebooks, run by real kernels in the sandbox."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from grader import pipeline
from grader.audit import audit, write_site
from grader.audit.claims import best, claims
from grader.audit.evidence import run_flags
from grader.course import load_course
from grader.gradebook import Gradebook
from grader.runners.base import FAILED
from tests.helpers import GRADER
from tests.helpers.browser import CHROMIUM_ARGS, chromium_page
from tests.helpers.notebooks import GOOD, LOAD, WRITE, write_notebook
from tests.helpers.policy import hand_in, policy_course


# A solution with code of its own, in three cells: nearest centroid on standardised, pooled features.
STANDARDISE = '''def standardise(train_x, other_x):
    mean = train_x.mean(axis=0)
    spread = train_x.std(axis=0) + 1e-6
    return (train_x - mean) / spread, (other_x - mean) / spread'''
POOL = '''def pool(images, size=2):
    count, side = images.shape[0], int(np.sqrt(images.shape[1]))
    grid = images.reshape(count, side // size, size, side // size, size)
    return grid.mean(axis=(2, 4)).reshape(count, -1)'''
MODEL = '''features, test_features = standardise(np.hstack([X, pool(X)]), np.hstack([X_test, pool(X_test)]))
centres = np.stack([features[y == label].mean(axis=0) for label in range(len(classes))])
gaps = ((test_features[:, None, :] - centres[None]) ** 2).sum(-1)
labels = gaps.argmin(axis=1)
weights = np.exp(-(gaps - gaps.min(axis=1, keepdims=True)) / 10)
proba = weights / weights.sum(axis=1, keepdims=True)'''
OWN_MODEL = [STANDARDISE, POOL, MODEL]
RENAMES = {"standardise": "normalizar", "train_x": "xs", "other_x": "otros", "spread": "escala", "pool": "agrupar",
           "images": "imgs", "grid": "rejilla", "features": "caracteristicas", "centres": "centros",
           "gaps": "distancias", "weights": "pesos"}


def renamed(source: str) -> str:
    for old, new in RENAMES.items():
        source = source.replace(old, new)
    return source


# The same code with other names, other comments and its two function cells swapped.
RENAMED = ["# agrupa píxeles vecinos\n" + renamed(POOL), renamed(STANDARDISE) + "  # media 0, varianza 1",
           "# el modelo: centroides\n" + renamed(MODEL)]

# k nearest neighbours: another algorithm, written by another student.
KNN = '''squared = (X_test ** 2).sum(1)[:, None] - 2 * X_test @ X.T + (X ** 2).sum(1)[None, :]
nearest = np.argsort(squared, axis=1)[:, :5]
votes = np.zeros((len(X_test), len(classes)))
for k in range(5):
    votes[np.arange(len(X_test)), y[nearest[:, k]]] += 1
proba = (votes + 0.1) / (votes + 0.1).sum(axis=1, keepdims=True)
labels = proba.argmax(axis=1)'''

# Another student's solution from the same starter: a softmax regression trained by gradient descent.
SOFTMAX = '''rng = np.random.default_rng(seed)
W = np.zeros((X.shape[1], len(classes)))
onehot = np.eye(len(classes))[y]
for step in range(300):
    logits = X @ W
    logits -= logits.max(axis=1, keepdims=True)
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    W -= 0.5 * X.T @ (probs - onehot) / len(X)
scores = X_test @ W
scores -= scores.max(axis=1, keepdims=True)
proba = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
labels = proba.argmax(axis=1)'''

# What the course hands every student: loading, a helper every solution calls, writing predictions.
STARTER_HELPER = '''def describe(name, values):
    """Print a short summary of an array (shape, range, mean) while exploring the data."""
    print(f"{name}: shape {values.shape}, min {values.min():.3f}, max {values.max():.3f}, "
          f"mean {values.mean():.3f}, dtype {values.dtype}")
describe("X", X)
describe("X_test", X_test)
print("classes:", classes, "counts:", np.bincount(y, minlength=len(classes)))'''


def latest(course) -> dict[str, dict]:
    with Gradebook(course.gradebook_path) as book:
        return {row["student"]: row for row in book.latest()}


def executed(path: Path, cells: list[str], printed: dict[int, str]) -> Path:
    """A notebook handed in as the student ran it: `printed` maps a cell to what it printed."""
    write_notebook(path, cells)
    nb = nbformat.read(path, as_version=4)
    for i, cell in enumerate(nb.cells):
        cell.execution_count = i + 1
        if i in printed:
            cell.outputs = [nbformat.v4.new_output("stream", text=printed[i])]
    nbformat.write(nb, path)
    return path


def test_claims_are_read_in_the_forms_people_print_them():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("train()")
    cell.outputs = [nbformat.v4.new_output("stream", text=text) for text in (
        "Test accuracy: 98.1 %\n", "acc=0.951\n", "precisión en validación 0,93\n",
        "Epoch 3/5 - loss: 0.2 - accuracy: 0.999 - val_loss: 0.3 - val_accuracy: 0.9400\n")]
    cell.outputs.append(nbformat.v4.new_output("execute_result", execution_count=1, data={
        "text/plain": "   epoch  loss  accuracy\n0      1  0.50     0.800\n1      2  0.30     0.960"}))
    nb.cells = [cell]
    found = claims(nb, "accuracy")
    assert {round(c.value, 3) for c in found} >= {0.981, 0.951, 0.93, 0.94, 0.999, 0.8, 0.96}
    assert best(found, lower_is_better=False).value == pytest.approx(0.981)  # never the training 0.999
    assert best(found, False, "validation").value == pytest.approx(0.94)
    text = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x")])
    text.cells[0].outputs = [nbformat.v4.new_output("stream", text="valid bits per char: 1.93, bpc 2.05\n")]
    assert best(claims(text, "bits_per_char"), lower_is_better=True).value == pytest.approx(1.93)


def test_odd_runs_are_flagged_from_their_scores(course):
    a = course.assignment("digits")  # grade scale 0.5 -> 0, 1.0 -> 10
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("fit()")])
    nb.cells[0].execution_count = 1
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="val_accuracy: 0.52\n")]
    scores = {"all": {"accuracy": 0.98}, "public": {"accuracy": 0.99}, "private": {"accuracy": 0.85}}
    flags = {f["kind"]: f for f in run_flags(nb, a, scores, grade=9.6, duration_s=3.0)}
    assert set(flags) == {"above_validation", "fast_top", "split_gap"}  # a validation score claims no result
    assert flags["above_validation"]["validation"] == 0.52 and flags["fast_top"]["seconds"] == 3.0
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="val_accuracy: 0.97\ntest accuracy: 0.52\n")]
    flags = {f["kind"]: f for f in run_flags(nb, a, scores, grade=9.6, duration_s=3.0)}
    assert flags["claim_mismatch"]["claimed"] == 0.52 and "above_validation" not in flags
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="val_accuracy: 0.52\n")]
    calm = {"all": {"accuracy": 0.53}, "public": {"accuracy": 0.54}, "private": {"accuracy": 0.52}}
    assert run_flags(nb, a, calm, grade=0.6, duration_s=300.0) == []  # a claim within 3 points, nothing odd
    # A validation score within validation_gap of the re-run is no claim; far above it, it is one.
    for printed, flagged in (("validation accuracy: 0.8000", False), ("validation accuracy: 0.99", True),
                             ("test accuracy value: 0.99", True)):  # "value" is no validation
        nb.cells[0].outputs = [nbformat.v4.new_output("stream", text=printed + "\n")]
        kinds = {f["kind"] for f in run_flags(nb, a, {"all": {"accuracy": 0.7556}}, grade=5.0, duration_s=300.0)}
        assert ("claim_mismatch" in kinds) is flagged, printed


def test_claims_odd_runs_and_unexecuted_hand_ins_are_flagged(course, tmp_path):
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "honest_first.ipynb", GOOD)
    pipeline.run(course, subs.parent)
    score = latest(course)["honest_first"]["primary_score"]
    # The same model, executed, printing what it really scores: no claim flag.
    executed(subs / "honest.ipynb", GOOD, {3: f"Test accuracy: {score * 100:.1f} %\n"})
    # A weak model (half the labels shifted) whose outputs claim 0.99.
    boast = [*GOOD[:2], "labels = np.where(np.arange(len(labels)) % 2 == 0, (labels + 1) % 10, labels)", GOOD[2]]
    executed(subs / "boast.ipynb", boast, {4: "accuracy: 0.99\n"})
    pipeline.run(course, subs.parent)
    rows = latest(course)
    kinds = {s: sorted(f["kind"] for f in r["flags"]) for s, r in rows.items()}
    assert rows["boast"]["primary_score"] < 0.65
    (claim,) = [f for f in rows["boast"]["flags"] if f["kind"] == "claim_mismatch"]
    assert claim["claimed"] == 0.99 and claim["score"] < 0.65 and "accuracy: 0.99" in claim["line"]
    assert "claim_mismatch" not in kinds["honest"] and "not_executed" not in kinds["honest"]
    assert "not_executed" in kinds["honest_first"]  # handed in without outputs
    for row in rows.values():  # a flag is evidence: the grade is the scale's, whatever the flags say
        assert row["grade"] == course.assignment("digits").scale.grade(row["primary_score"])


def test_similar_hand_ins_are_flagged_and_independent_ones_from_one_starter_are_not(course, tmp_path):
    assignment = course.assignment("digits").path
    write_notebook(assignment / "starter.ipynb", [LOAD, STARTER_HELPER, WRITE])
    subs = tmp_path / "subs" / "digits"
    executed(subs / "ana.ipynb", [LOAD, STARTER_HELPER, *OWN_MODEL, WRITE], {})
    executed(subs / "bea.ipynb", [LOAD, STARTER_HELPER, *RENAMED, WRITE], {})  # renamed, reordered
    executed(subs / "carlos.ipynb", [LOAD, STARTER_HELPER, SOFTMAX, WRITE], {})
    executed(subs / "dani.ipynb", [LOAD, STARTER_HELPER, KNN, WRITE], {})
    report = pipeline.run(course, subs.parent)
    assert {r.status for r in report.rows} == {"ok"}
    result = audit(course, "digits")
    assert [(p.first, p.second) for p in result.pairs] in ([("ana", "bea")], [("bea", "ana")])
    assert result.pairs[0].similarity >= 0.6
    rows = {r.student: r for r in result.rows}
    assert [r.student for r in result.rows][:2] in (["ana", "bea"], ["bea", "ana"])  # worst first
    similar = [f for f in rows["ana"].flags if f["kind"] == "similar"]
    assert similar and similar[0]["other"] == "bea"
    assert not any(f["kind"] == "similar" for s in ("carlos", "dani") for f in rows[s].flags)
    # An archive of earlier years: a renamed copy of an old notebook is found there too.
    archive = tmp_path / "2025"
    write_notebook(archive / "old" / "knn.ipynb", [LOAD, KNN.replace("votes", "votos").replace("nearest", "cerca"),
                                                   WRITE])
    with_archive = {r.student: r for r in audit(course, "digits", archive=archive).rows}
    (old,) = [f for f in with_archive["dani"].flags if f["kind"] == "similar_archive"]
    assert old["other"] == "old/knn.ipynb" and old["similarity"] >= 0.6
    assert not any(f["kind"] == "similar_archive" for f in with_archive["carlos"].flags)
    # The flag is stored: grader show and the instructor's export have it.
    env = {"GRADER_COURSE": str(course.root), "PATH": "/usr/bin:/bin"}
    show = subprocess.run([*GRADER, "show", "ana"], capture_output=True, text=True, env=env)
    assert "also in bea's hand-in" in show.stdout
    export = subprocess.run([*GRADER, "grades", "export", "--format", "csv"], capture_output=True, text=True, env=env)
    (ana,) = [r for r in csv.DictReader(io.StringIO(export.stdout)) if r["student"] == "ana"]
    assert "bea" in ana["digits_flags"]
    # The student's copy of the report never names another student; the instructor's does.
    for flag, shown in (([], False), (["--instructor"], True)):
        out = subprocess.run([*GRADER, "report", "ana", "--format", "json", *flag], capture_output=True, text=True,
                             env=env)
        assert ("bea" in Path(json.loads(out.stdout)["report"]).read_text()) is shown


def test_the_environment_is_recorded_for_the_local_and_bwrap_runners(course, tmp_path):
    write_notebook(tmp_path / "subs" / "digits" / "ana.ipynb", GOOD)
    pipeline.run(course, tmp_path / "subs")
    pipeline.run(course, tmp_path / "subs", unsandboxed=True, force=True)
    with Gradebook(course.gradebook_path) as book:
        runs = book.runs(student="ana")
    assert [r["runner"] for r in runs] == ["bwrap", "local"]
    for run in runs:
        env = run["environment"]
        assert env["python"] == sys.version.split()[0] and env["numpy"] and env["runner"] == run["runner"]
        assert env["seed"] == 0 and env["grader"].startswith("0.") and env["cpu"]
        assert "gpus" in env and "cuda" in env and "torch" in env
    show = subprocess.run([*GRADER, "show", "ana"], capture_output=True, text=True,
                          env={"GRADER_COURSE": str(course.root), "PATH": "/usr/bin:/bin"})
    assert show.stdout.count("ran on     python") == 2


def test_verify_flags_a_score_that_depends_on_an_unseeded_draw(course, tmp_path):
    toml = course.assignment("digits").path / "assignment.toml"
    toml.write_text(toml.read_text() + "[audit]\nverify_tolerance = 0.0001\n")
    course = load_course(course.root)
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "steady.ipynb", GOOD)
    lucky = "share = np.random.rand()  # unseeded\nlabels = np.where(np.random.rand(len(labels)) < share, 0, labels)"
    write_notebook(subs / "lucky.ipynb", [*GOOD[:2], lucky, GOOD[2]])
    pipeline.run(course, subs.parent)
    graded = latest(course)
    report = pipeline.run(course, subs.parent, verify=5)
    assert sorted(r.student for r in report.rows) == ["lucky", "steady"]
    after = latest(course)
    for student in ("steady", "lucky"):  # the grade stays the first run's
        assert after[student]["run_id"] == graded[student]["run_id"]
        assert after[student]["grade"] == graded[student]["grade"]
    assert "non_deterministic" in [f["kind"] for f in after["lucky"]["flags"]]
    assert "non_deterministic" not in [f["kind"] for f in after["steady"]["flags"]]
    with Gradebook(course.gradebook_path) as book:
        reruns = [r for r in book.runs(student="lucky") if r["verifies"]]
    assert len(reruns) == 1 and reruns[0]["verifies"] == graded["lucky"]["run_id"]
    one = subprocess.run([*GRADER, "run", str(subs.parent), "--verify-student", "steady", "--format", "json"],
                         capture_output=True, text=True, env={"GRADER_COURSE": str(course.root), "PATH": "/usr/bin:/bin"})
    assert [r["student"] for r in json.loads(one.stdout)] == ["steady"], one.stderr


def test_the_audit_page_opens_in_chromium_with_a_row_per_hand_in_and_no_notebook_script(course, tmp_path):
    chromium, sync_playwright = chromium_page()
    subs = tmp_path / "subs" / "digits"
    hostile = MODEL + "\nnote = '<script>window.pwned = 1</script><img src=x onerror=\"window.pwned=2\">'"
    executed(subs / "ana.ipynb", [LOAD, STANDARDISE, POOL, hostile, WRITE], {1: "<script>window.pwned = 3</script>\n"})
    executed(subs / "bea.ipynb", [LOAD, *RENAMED, WRITE], {})
    write_notebook(subs / "carlos.ipynb", [LOAD, SOFTMAX, WRITE])
    pipeline.run(course, subs.parent)
    out = tmp_path / "audit"
    done = subprocess.run([*GRADER, "audit", "digits", "--out", str(out)], capture_output=True, text=True,
                          env={"GRADER_COURSE": str(course.root), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    as_csv = subprocess.run([*GRADER, "audit", "digits", "--format", "csv"], capture_output=True, text=True,
                            env={"GRADER_COURSE": str(course.root), "PATH": "/usr/bin:/bin"})
    assert len(list(csv.DictReader(io.StringIO(as_csv.stdout)))) == 3
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto((out / "index.html").as_uri())
        assert page.locator("#hand-ins tbody tr").count() == 3
        assert page.evaluate("document.scripts.length") == 0 and page.evaluate("window.pwned") is None
        page.click("text=also in bea's hand-in")
        page.wait_for_load_state("load")
        sides = page.locator("pre.code")
        assert sides.count() == 2 and page.locator("mark").count() >= 2
        assert "<script>window.pwned = 1</script>" in sides.nth(0).inner_text() + sides.nth(1).inner_text()
        assert page.evaluate("document.scripts.length") == 0 and page.evaluate("window.pwned") is None
        browser.close()
    write_site(audit(course, "digits"), tmp_path / "again")  # the API writes the same site
    assert (tmp_path / "again" / "pair-1.html").is_file()


def test_the_audit_page_shows_why_a_run_failed_and_local_times(tmp_path):
    course = policy_course(tmp_path / "course")  # Europe/Madrid
    message = "cell 3: ZeroDivisionError: division by zero"
    hand_in(course, "ana", "mnist", None, when="2027-01-15T22:58:00+00:00", status=FAILED, message=message)
    hand_in(course, "bea", "mnist", 8.0, when="2027-01-15T10:00:00+00:00")
    page = write_site(audit(course, "mnist"), tmp_path / "audit").read_text(encoding="utf-8")
    (failed,) = [row for row in page.split("<tr")[1:] if ">ana<" in row]
    assert message in failed and "2027-01-15 23:58 CET" in failed  # the instructor reads Madrid's time
    assert "22:58" not in page
