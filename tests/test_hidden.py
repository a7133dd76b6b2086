"""Hidden means hidden: the course secret, the bubblewrap sandbox, data that cannot change, screening.

Every run here is a real papermill kernel, in a real bubblewrap sandbox unless the test says
--unsandboxed. Each test plays a student who has read the grader's README and source.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import socket
import subprocess
import threading
import zlib
from pathlib import Path

import nbformat
import numpy as np
import pytest

from grader import pipeline
from grader.course import ScreeningLimits, load_course
from grader.data import DataError, layout, prepare, read_labels
from grader.gradebook import Gradebook
from grader.pipeline import SandboxRequired
from grader.screening import SCREENING_KINDS, screen
from tests.helpers import GRADER, REPO, TEXT_TOML, make_course
from tests.helpers.notebooks import CENTROID, GOOD, LOAD, PROBE, WRITE, notebook_of, write_notebook

SECRET_A, SECRET_B = "a1" * 32, "b2" * 32


def latest(course) -> dict[str, dict]:
    with Gradebook(course.gradebook_path) as book:
        return {row["student"]: row for row in book.latest()}


def prepared(root: Path, secret: str | None, monkeypatch) -> tuple:
    """A digits course prepared with this secret (None: a fresh random one, as on a student's clone)."""
    if secret is None:
        monkeypatch.delenv("GRADER_SECRET", raising=False)
    else:
        monkeypatch.setenv("GRADER_SECRET", secret)
    course = load_course(make_course(root))
    manifest = prepare(course, course.assignment("digits"))
    monkeypatch.delenv("GRADER_SECRET", raising=False)
    return course, layout(course, course.assignment("digits")), manifest


def test_the_secret_decides_the_hidden_split_and_nothing_students_reproduce(tmp_path, monkeypatch):
    _, a1, m1 = prepared(tmp_path / "a1", SECRET_A, monkeypatch)
    _, a2, m2 = prepared(tmp_path / "a2", SECRET_A, monkeypatch)
    _, b, mb = prepared(tmp_path / "b", SECRET_B, monkeypatch)
    assert m1["outputs"] == m2["outputs"] and m1["sha256"] == m2["sha256"]  # same secret: identical files
    t1, tb = np.load(a1.test_dir / "test.npz"), np.load(b.test_dir / "test.npz")
    assert not set(t1["id"].tolist()) & set(tb["id"].tolist())  # other ids
    assert not np.array_equal(t1["x"], tb["x"])  # another order
    halves_1 = {tuple(t1["x"][i].ravel()) for i, (_, s) in enumerate(read_labels(a1.labels).values()) if s == "public"}
    halves_b = {tuple(tb["x"][i].ravel()) for i, (_, s) in enumerate(read_labels(b.labels).values()) if s == "public"}
    assert halves_1 != halves_b  # other public and private halves
    # The test file's order does not tell the halves apart: the public items are not its first rows.
    public_rows = [i for i, (_, split) in enumerate(read_labels(a1.labels).values()) if split == "public"]
    assert public_rows != list(range(len(public_rows))) and 0.3 < len(public_rows) / len(t1["id"]) < 0.7
    # digits has no test split: which examples are hidden is the secret's too (else whoever holds the source knows),
    # so the public files differ; their sizes and the classes are the seed's.
    assert m1["outputs"]["public/classes.txt"] == mb["outputs"]["public/classes.txt"]
    assert m1["outputs"]["public/train.npz"] != mb["outputs"]["public/train.npz"]
    assert [m1["counts"][k] for k in ("train", "valid")] == [mb["counts"][k] for k in ("train", "valid")]
    assert m1["secret"] != mb["secret"] and SECRET_A not in json.dumps(m1)


def test_first_prepare_makes_a_private_secret_file(tmp_path, monkeypatch):
    course, _, manifest = prepared(tmp_path / "c", None, monkeypatch)
    secret = course.workdir / "secret"
    assert secret.stat().st_mode & 0o777 == 0o600 and len(bytes.fromhex(secret.read_text().strip())) == 32
    again = prepare(course, course.assignment("digits"))  # the same secret from the file: the same data
    assert again["sha256"] == manifest["sha256"]
    # Whatever folder the workdir is, git leaves it out: the secret never reaches a repository.
    repo = course.root
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    listed = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
                            capture_output=True, text=True, check=True).stdout
    assert "course.toml" in listed and "secret" not in listed and ".grader" not in listed


def test_labels_carried_from_a_students_own_prepare_score_at_chance_and_are_flagged(tmp_path, monkeypatch):
    course, instructor, _ = prepared(tmp_path / "course", SECRET_A, monkeypatch)
    # The student's clone: `grader data prepare` there makes another secret, hence another split.
    _, student, _ = prepared(tmp_path / "clone", None, monkeypatch)
    # Their whole labels.csv in one compressed string, as in the attack this guards against.
    blob = base64.b64encode(zlib.compress(student.labels.read_bytes(), 9)).decode()
    cheat = ("import base64, csv, io, zlib\n"
             f"rows = list(csv.DictReader(io.StringIO(zlib.decompress(base64.b64decode('{blob}')).decode())))\n"
             "by_id = {r['id']: int(r['label']) for r in rows}\n"
             "# their ids are not the grader's: fall back on the order of their test.npz (another size too)\n"
             "labels = np.array([by_id.get(i, int(rows[k % len(rows)]['label'])) for k, i in enumerate(test['id'])])\n"
             "proba = np.eye(len(classes))[labels]")
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "cheat.ipynb", [LOAD, cheat, WRITE])
    write_notebook(subs / "honest.ipynb", GOOD)
    pipeline.run(course, subs.parent)
    rows = latest(course)
    assert rows["cheat"]["status"] == "ok" and rows["cheat"]["primary_score"] < 0.3  # chance is 0.1
    assert rows["honest"]["primary_score"] > 0.8
    (flag,) = [f for f in rows["cheat"]["flags"] if f["kind"] in SCREENING_KINDS and f["cell"]]
    assert flag["kind"] == "long_literal" and flag["form"] == "base64" and flag["cell"] == 3
    assert "compressed_literals" in {f["kind"] for f in rows["cheat"]["flags"]}  # and the notebook's whole
    assert not [f for f in rows["honest"]["flags"] if f["kind"] in SCREENING_KINDS]
    # The flag is evidence for the instructor: status, show, the instructor's export and the report...
    env = os.environ | {"GRADER_COURSE": str(course.root)}
    status = subprocess.run([*GRADER, "status", "--format", "csv"], capture_output=True, text=True, env=env)
    assert "cell 3: a base64-like string literal of" in status.stdout
    show = subprocess.run([*GRADER, "show", "cheat"], capture_output=True, text=True, env=env)
    assert "flag" in show.stdout and "base64-like" in show.stdout
    export = subprocess.run([*GRADER, "grades", "export", "--format", "csv"], capture_output=True, text=True, env=env)
    (row,) = [r for r in csv.DictReader(export.stdout.splitlines()) if r["student"] == "cheat"]
    assert "base64-like string literal" in row["digits_flags"]
    report = subprocess.run([*GRADER, "report", "cheat", "--format", "json"], capture_output=True, text=True, env=env)
    page = Path(json.loads(report.stdout)["report"]).read_text()
    assert "Flagged for the instructor" in page and "base64-like" in page
    # ...and never on the public leaderboard.
    site = tmp_path / "site"
    subprocess.run([*GRADER, "leaderboard", "publish", "--out", str(site)], check=True, capture_output=True, env=env)
    published = [p for p in site.rglob("*") if p.is_file()]
    assert published and not any(b"base64" in p.read_bytes() or b"flag" in p.read_bytes().lower() for p in published)


def test_the_bubblewrap_sandbox_contains_hostile_notebooks_and_grades_the_next_one(course, tmp_path):
    data = layout(course, course.assignment("digits"))
    server = socket.create_server(("127.0.0.1", 0))  # a service on the grader's own loopback
    port = server.getsockname()[1]
    threading.Thread(target=lambda: server.accept(), daemon=True).start()
    subs = tmp_path / "subs" / "digits"
    writer = ("import os\nopen(os.path.join(data_dir, 'train.npz'), 'wb').write(b'gone')")
    reader = ("import os\nfrom pathlib import Path\n"
              "Path(output_dir, 'read.json').write_text(json.dumps({p: os.path.exists(p) for p in [\n"
              f"    os.path.join(data_dir, '..', 'private', 'labels.csv'), {str(data.labels)!r},\n"
              f"    {str(course.workdir / 'secret')!r}, {str(course.gradebook_path)!r}, {str(REPO / 'reference')!r},\n"
              f"    {str(REPO.parent / 'shared')!r}, os.path.expanduser('~/.cache')]}}))")
    network = ("import socket\nfrom pathlib import Path\nresults = {}\n"
               f"for host, port in [('127.0.0.1', {port}), ('1.1.1.1', 53)]:\n"
               "    try:\n        socket.create_connection((host, port), timeout=3); results[host] = 'connected'\n"
               "    except OSError as exc:\n        results[host] = exc.errno\n"
               "Path(output_dir, 'net.json').write_text(json.dumps(results))")
    write_notebook(subs / "a_writer.ipynb", [LOAD, writer, CENTROID, WRITE])
    write_notebook(subs / "b_reader.ipynb", ["import json", reader, *GOOD])
    write_notebook(subs / "c_network.ipynb", ["import json", network, *GOOD])
    write_notebook(subs / "d_probe.ipynb", [PROBE.format(labels=str(data.labels)), *GOOD])
    write_notebook(subs / "z_good.ipynb", GOOD)
    report = pipeline.run(course, subs.parent, jobs=1, timeout=60)
    server.close()
    assert not report.stopped
    rows = latest(course)
    runs = {s: Path(r["artifacts"]) for s, r in rows.items()}
    assert rows["a_writer"]["status"] == "failed" and "Read-only file system" in rows["a_writer"]["message"]
    assert not any(json.loads((runs["b_reader"] / "output" / "read.json").read_text()).values())
    net = json.loads((runs["c_network"] / "output" / "net.json").read_text())
    assert "connected" not in net.values()
    probe = json.loads((runs["d_probe"] / "output" / "probe.json").read_text())
    assert probe["ifaces"] == ["lo"] and probe["found"] == [] and set(probe["labels"].values()) == {"ENOENT"}
    assert {p for p, result in probe["writes"].items() if result == "allowed"} == {"/tmp/x", "/grader/run/output/x"}
    assert probe["uid"] != 0 and int(probe["cap_eff"], 16) == 0 and probe["no_new_privs"] == "1"
    # The shared data is intact and the hand-in graded after them gets its usual score.
    assert {s: r["status"] for s, r in rows.items() if s != "a_writer"} == dict.fromkeys(
        ["b_reader", "c_network", "d_probe", "z_good"], "ok")
    unsandboxed = tmp_path / "plain"
    shutil.copytree(course.root, unsandboxed, ignore=shutil.ignore_patterns("gradebook.sqlite*", "runs"))
    write_notebook(tmp_path / "again" / "digits" / "z_good.ipynb", GOOD)
    pipeline.run(load_course(unsandboxed), tmp_path / "again", unsandboxed=True)
    assert rows["z_good"]["primary_score"] == latest(load_course(unsandboxed))["z_good"]["primary_score"] > 0.8


def test_data_changed_from_outside_between_two_runs_stops_the_batch(course, tmp_path):
    subs = tmp_path / "subs" / "digits"
    for name in ("s1", "s2", "s3"):
        write_notebook(subs / f"{name}.ipynb", GOOD)
    train = layout(course, course.assignment("digits")).data_dir / "train.npz"

    def tamper(row):  # after the first result, someone changes the data (an editor, a script, a disk)
        if row.student == "s1":
            data = np.load(train)
            np.savez(train, x=data["x"][::-1], y=data["y"])

    report = pipeline.run(course, subs.parent, jobs=1, on_result=tamper)
    assert "public/train.npz" in report.stopped and "grader data prepare digits" in report.stopped
    rows = latest(course)
    assert rows["s1"]["status"] == "ok"  # finished and checked before the change: kept
    assert rows["s2"]["status"] == "error" and rows["s2"]["primary_score"] is None  # ran on changed data
    assert rows["s3"]["status"] is None  # never ran
    # A new batch refuses to start on the changed data...
    again = pipeline.run(course, subs.parent)
    assert again.stopped and again.rows == []
    # ...restored by prepare (same secret, same files), the runs it touched are graded, none lost.
    prepare(course, course.assignment("digits"))
    restored = pipeline.run(course, subs.parent)
    assert sorted(r.student for r in restored.rows) == ["s2", "s3"] and restored.skipped == 1
    assert {r["status"] for r in latest(course).values()} == {"ok"}


def test_an_unsandboxed_notebook_that_writes_the_data_stops_the_batch(course, tmp_path):
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "a_vandal.ipynb", [LOAD, "open(Path(data_dir) / 'train.npz', 'wb').write(b'gone')",
                                             CENTROID, WRITE])
    write_notebook(subs / "b_next.ipynb", GOOD)
    report = pipeline.run(course, subs.parent, unsandboxed=True)
    assert "public/train.npz" in report.stopped
    rows = latest(course)
    assert rows["a_vandal"]["status"] == "error" and "changed" in rows["a_vandal"]["message"]
    assert rows["b_next"]["status"] is None  # not run on the damaged data


def test_without_a_sandbox_grader_run_refuses_and_names_the_way_out(course_dir, tmp_path):
    write_notebook(tmp_path / "subs" / "digits" / "ana.ipynb", GOOD)
    (course_dir / "course.toml").write_text('name = "No sandbox here"\nlanguage = "en"\n')  # runner: auto
    no_sandbox = os.environ | {"PATH": str(tmp_path), "DOCKER_HOST": "unix:///nonexistent.sock"}
    cmd = [*GRADER, "run", str(tmp_path / "subs"), "--course", str(course_dir), "--format", "json"]
    refused = subprocess.run(cmd, capture_output=True, text=True, env=no_sandbox)
    assert refused.returncode == 2
    assert "bubblewrap" in refused.stderr and "Docker" in refused.stderr and "--unsandboxed" in refused.stderr
    assert not (course_dir / ".grader" / "runs").exists()  # nothing ran
    explicit = subprocess.run([*cmd, "--unsandboxed"], capture_output=True, text=True, env=no_sandbox)
    assert explicit.returncode == 0, explicit.stderr
    assert json.loads(explicit.stdout)[0]["status"] == "ok"
    # The local runner named in course.toml is not an explicit choice of the instructor's either.
    course = load_course(course_dir)
    with pytest.raises(SandboxRequired, match="--unsandboxed"):
        pipeline.run(course, tmp_path / "subs", runner="local", force=True)


def test_data_prepared_without_a_secret_is_not_graded(course, tmp_path):
    data = layout(course, course.assignment("digits"))
    manifest = json.loads(data.manifest_path.read_text())
    del manifest["secret"]  # as an earlier grader wrote it
    data.manifest_path.write_text(json.dumps(manifest))
    write_notebook(tmp_path / "subs" / "digits" / "ana.ipynb", GOOD)
    report = pipeline.run(course, tmp_path / "subs")
    assert report.rows == [] and "without a course secret" in report.warnings[-1]


def test_a_private_hidden_set_replaces_the_public_test_split(tmp_path, monkeypatch):
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    private = tmp_path / "private-photos"
    rng = np.random.default_rng(7)
    for i in range(60):  # "new photos": noisy, larger copies, as PNG files in class folders
        image = np.kron(digits.images[i] * 15, np.ones((4, 4))) + rng.normal(0, 8, (32, 32))
        folder = private / str(digits.target[i])
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image.clip(0, 255).astype(np.uint8)).save(folder / f"photo{i}.png")
    course = load_course(make_course(tmp_path / "c"))
    (course.root / "assignments" / "digits" / "assignment.toml").write_text(
        (course.root / "assignments" / "digits" / "assignment.toml").read_text().replace(
            "[dataset]\n", "[dataset]\nhidden_from = \"../private-photos\"\n"))
    course = load_course(course.root)
    manifest = prepare(course, course.assignment("digits"))
    data = layout(course, course.assignment("digits"))
    test = np.load(data.test_dir / "test.npz")
    assert test["x"].shape == (60, 8, 8) and test["x"].dtype == np.uint8
    assert manifest["hidden"]["public"] is False and manifest["counts"]["train"] + manifest["counts"]["valid"] == 1797
    assert sorted(label for label, _ in read_labels(data.labels).values()) == sorted(digits.target[:60])
    (private / "seven").mkdir()
    Image.new("L", (8, 8)).save(private / "seven" / "x.png")
    with pytest.raises(DataError, match="seven.*not classes"):
        prepare(course, course.assignment("digits"))


def test_a_private_hidden_text_must_use_the_corpus_characters(tmp_path):
    root = make_course(tmp_path / "c")
    (root / "assignments" / "text").mkdir()
    (root / "assignments" / "text" / "assignment.toml").write_text(TEXT_TOML)
    course = load_course(root)
    corpus = tmp_path / "corpus.txt"
    text = "to be or not to be, that is the question.\n" * 60
    corpus.write_text(text, encoding="utf-8")
    hidden = tmp_path / "new-play.txt"
    hidden.write_text(text[:600][::-1])  # the corpus's characters, in an order not in the corpus
    manifest = prepare(course, course.assignment("text"), corpus, verify=False, hidden_from=hidden)
    data = layout(course, course.assignment("text"))
    assert manifest["hidden"]["public"] is False
    train = (data.data_dir / "train.txt").read_text() + (data.data_dir / "valid.txt").read_text()
    assert train == text  # the whole public corpus is for training
    prompts = json.loads((data.test_dir / "prompts.json").read_text())
    assert prompts and all(p["prompt"] in hidden.read_text() for p in prompts)
    hidden.write_text("€" * 500)
    with pytest.raises(DataError, match="not in the public corpus"):
        prepare(course, course.assignment("text"), corpus, verify=False, hidden_from=hidden)


@pytest.mark.parametrize("source, kind, form", [
    ("labels = '" + "ab12" * 1000 + "'", "long_literal", "hex"),
    ("labels = b'" + "x" * 3000 + "'", "long_literal", "bytes"),
    ("labels = [" + ", ".join(str(i % 10) for i in range(600)) + "]", "literal_list", "list"),
    ("labels = {" + ", ".join(f"'id{i}': {i % 10}" for i in range(300)) + "}", "literal_list", "dict"),
    ("%matplotlib inline\nlabels = ('" + "QUJD" * 700 + "')", "long_literal", "base64"),
    ("x = 1\n" * 9000, "cell_size", ""),
])
def test_screening_finds_each_way_of_carrying_data(source, kind, form):
    (flag,) = [f for f in screen(notebook_of(["import numpy as np", source]), ScreeningLimits()) if f.kind == kind]
    assert flag.cell == 2 and flag.form == form and flag.size > flag.limit


def test_screening_reads_text_cells_counts_all_literals_and_follows_assignment_limits():
    hidden_in_markdown = notebook_of(["print(1)"], markdown="x" * 60_000)  # a run can read its own notebook
    assert [f.kind for f in screen(hidden_in_markdown, ScreeningLimits())] == ["markdown_size"]
    split_up = notebook_of([f"part{i} = '{'y' * 1500}'" for i in range(20)])  # under each limit, not in all
    assert [f.kind for f in screen(split_up, ScreeningLimits())] == ["literal_total"]
    assert screen(split_up, ScreeningLimits(total_literal_chars=40_000)) == []
    broken = notebook_of(["def (:\n" + "z" * 100])  # a cell that does not parse is not an error
    assert screen(broken, ScreeningLimits()) == []


def test_grader_check_tells_a_student_what_would_be_flagged(course, tmp_path):
    from grader.check import check

    nb = write_notebook(tmp_path / "mine.ipynb", [LOAD, "labels = [" + ", ".join(["1"] * 700) + "]", CENTROID, WRITE])
    report = check(course, nb, "digits")
    (item,) = [i for i in report.items if "flag" in i.text]
    assert item.passed is None and "cell 3: a literal list of 700 constants" in item.text  # a warning, not a fault
    assert report.passed


def test_no_starter_reference_or_demo_notebook_is_flagged():
    honest = [*REPO.glob("assignments/*/starter.ipynb"), *REPO.glob("reference/*.ipynb"),
              *REPO.glob("demo/**/*.ipynb")]
    assert len(honest) >= 15
    for path in honest:
        assert screen(nbformat.read(path, as_version=4), ScreeningLimits()) == [], path
