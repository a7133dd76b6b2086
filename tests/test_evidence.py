"""Evidence the notebook cannot touch: the kernel alone in the sandbox, what comes back bounded.

Each hostile notebook here is one a student wrote after reading the grader's README and source.
The batch runs in bubblewrap and, where the engine and the test image are there, in docker: the
same notebooks, the same verdicts.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import nbformat
import pytest

from grader import pipeline
from grader.course import load_course
from grader.gradebook import Gradebook
from grader.runners.base import EXECUTOR_MEMORY_MB
from tests.helpers import TEST_IMAGE
from tests.helpers.notebooks import GOOD, PARAMETERS, write_notebook

OUTPUT_MB = 16
CANARY_VARIABLE = "GRADER_TEST_CANARY"

# Plants a result and an executed notebook wherever a run's records could be, then crashes.
FORGER = '''import json, os
forged = {"key": "x", "status": "ok", "run_dir": "/grader/run", "environment": {"gpus": ["NVIDIA H100"]}}
planted = {}
for folder in ["/grader/run", "/grader", os.path.join(output_dir, ".."), output_dir, "/tmp"]:
    for name in ["result.json", "result.tmp", "executed.ipynb"]:
        path = os.path.join(folder, name)
        try:
            with open(path, "w") as f:
                json.dump(forged, f)
            planted[path] = "written"
        except OSError as exc:
            planted[path] = exc.strerror
print(json.dumps(planted))
raise ValueError("crashed on purpose")'''

# Looks for the grader's environment in every process it can see.
CANARY = '''import os
from pathlib import Path
found = []
for pid in os.listdir("/proc"):
    if pid.isdigit():
        for part in ("environ", "cmdline"):
            try:
                if b"{canary}" in Path("/proc", pid, part).read_bytes():
                    found.append(pid + "/" + part)
            except OSError:
                pass
seen = sorted(p for p in os.listdir("/proc") if p.isdigit())
Path(output_dir, "canary.txt").write_text(" ".join(found) + "|" + " ".join(seen))'''

# Searches the sandbox for its own notebook: its markdown and metadata carry a marker.
MARKER = "notebook-marker-6f1c"
OWN_NOTEBOOK = f'''import os
from pathlib import Path
marker = "{MARKER[:9]}" + "{MARKER[9:]}"  # split: the code itself reaches the kernel (and its history)
hits = []
for top in ["/grader", "/tmp", "/proc/self"]:
    for folder, dirs, files in os.walk(top):
        if folder.startswith(("/grader/data", "/grader/test", "/proc/self/task", "/proc/self/fd", "/proc/self/map")):
            dirs[:] = []
            continue
        for name in files:
            try:
                if marker.encode() in Path(folder, name).read_bytes()[:1 << 20]:
                    hits.append(os.path.join(folder, name))
            except OSError:
                pass
Path(output_dir, "hits.txt").write_text(" ".join(hits) + "|" + " ".join(sorted(os.listdir("/grader"))))'''

FILL_OUTPUT = f'''from pathlib import Path
with open(Path(output_dir) / "checkpoint.pt", "wb") as f:
    for _ in range({OUTPUT_MB * 4}):
        f.write(b"w" * (1 << 20))'''

# What DataLoader workers do: five processes read one 400 MB shared buffer. RSS summed: 2 GB.
SHARED_MEMORY = '''import mmap, os, time
size = 400 << 20
buffer = mmap.mmap(-1, size)
for offset in range(0, size, 4096):
    buffer[offset] = 1
children = []
for _ in range(4):
    pid = os.fork()
    if pid == 0:
        total = sum(buffer[offset] for offset in range(0, size, 4096))
        time.sleep(3)
        os._exit(0)
    children.append(pid)
for pid in children:
    os.waitpid(pid, 0)'''

FLOOD = '''from IPython.display import display
handle = display("small", display_id=True)
for _ in range(20):
    handle.update("u" * (3 << 20))
from ipykernel.comm import Comm
for i in range(20):
    Comm(target_name="jupyter.widget", data={"state": {"blob": "c" * (3 << 20)}})
for _ in range(6):  # metadata counts as output too
    display({"text/plain": "x"}, metadata={"text/plain": {"blob": "m" * (20 << 20)}}, raw=True)
print("p" * (40 << 20))
for _ in range(200):
    print("q" * (64 << 10))'''


# One message of 60 frames of 30 MB (one buffer, so the kernel stays small): ZMQ takes it whole.
MULTIPART = '''kernel = get_ipython().kernel
frame = memoryview(bytearray(30 << 20))
kernel.session.send(kernel.iopub_socket, "display_data", {"data": {"text/plain": "x"}, "metadata": {}},
                    parent=kernel.get_parent("shell"), buffers=[frame] * 60)
import time
time.sleep(30)'''


def latest(course) -> dict[str, dict]:
    with Gradebook(course.gradebook_path) as book:
        return {row["student"]: row for row in book.latest()}


def runner_for(name: str):
    if name == "bwrap":
        return None
    from grader.runners.docker_runner import DockerRunner, connect

    try:
        connect().images.get(TEST_IMAGE)
    except Exception as exc:
        if os.environ.get("GRADER_REQUIRE_DOCKER") == "1":
            pytest.fail(f"no Docker engine with {TEST_IMAGE}: {exc}")
        pytest.skip(f"no Docker engine with {TEST_IMAGE}: {exc}")
    return DockerRunner(image=TEST_IMAGE)


def hostile_batch(root: Path, canary: str) -> Path:
    subs = root / "digits"
    write_notebook(subs / "forger.ipynb", [FORGER])
    write_notebook(subs / "canary.ipynb", [CANARY.replace("{canary}", canary), *GOOD])
    own = write_notebook(subs / "own_notebook.ipynb", [OWN_NOTEBOOK, *GOOD])
    nb = nbformat.read(own, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(f"# {MARKER}"))
    nb.metadata["language_info"] = {"name": "python", "stash": MARKER}
    nb.cells[2].metadata["tags"] = [MARKER]
    nbformat.write(nb, own)
    write_notebook(subs / "quota.ipynb", [FILL_OUTPUT, *GOOD])
    write_notebook(subs / "shared_memory.ipynb", [SHARED_MEMORY, *GOOD])
    write_notebook(subs / "flood.ipynb", [FLOOD, *GOOD])
    write_notebook(subs / "multipart.ipynb", [MULTIPART, *GOOD])
    injected = write_notebook(subs / "injected.ipynb", [
        "from pathlib import Path\nPath(output_dir, 'seed.txt').write_text(str(seed))", *GOOD], parameters=False)
    nb = nbformat.read(injected, as_version=4)
    nb.cells[:0] = [nbformat.v4.new_code_cell(PARAMETERS.replace("seed = 0", "seed = 999"),
                                              metadata={"tags": ["injected-parameters"]}),
                    nbformat.v4.new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]})]
    nbformat.write(nb, injected)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("runner_name", ["bwrap", "docker"])
def test_the_run_record_is_the_graders_and_the_notebook_reaches_nothing_of_it(course_dir, tmp_path, monkeypatch,
                                                                              runner_name):
    settings = course_dir / "assignments" / "digits" / "assignment.toml"
    settings.write_text(settings.read_text() + f"output_mb = {OUTPUT_MB}\n")  # [resources] is the last table
    course = load_course(course_dir)
    assert course.assignment("digits").resources.output_mb == OUTPUT_MB
    runner = runner_for(runner_name)
    canary = f"canary-{uuid.uuid4().hex}"
    monkeypatch.setenv(CANARY_VARIABLE, canary)  # as a Moodle token in the instructor's shell would be
    pipeline.run(course, hostile_batch(tmp_path / "subs", canary), runner=runner, jobs=2, timeout=60)
    rows = latest(course)
    runs = {s: Path(r["artifacts"]) for s, r in rows.items()}

    # Forged records: the crash is recorded as a crash, with the environment the grader read.
    forger = rows["forger"]
    assert forger["status"] == "failed" and "crashed on purpose" in forger["message"]
    assert forger["environment"]["gpus"] == [] and forger["environment"]["python"]
    executed = nbformat.read(runs["forger"] / "executed.ipynb", as_version=4)
    assert "crashed on purpose" in json.dumps(executed.cells[-1].outputs)
    planted = json.loads(executed.cells[-1].outputs[0]["text"])
    assert {path for path, outcome in planted.items() if outcome == "written"} <= {
        f"{folder}/{name}" for folder in ("/grader/run/output", "/tmp")
        for name in ("result.json", "result.tmp", "executed.ipynb")}

    # Nothing of the grader's environment in any process the notebook can see.
    found, seen = (runs["canary"] / "output" / "canary.txt").read_text().split("|")
    assert found == "" and seen, seen

    # The notebook file never entered the sandbox: its markdown, tags and metadata are nowhere there.
    hits, listing = (runs["own_notebook"] / "output" / "hits.txt").read_text().split("|")
    assert hits == "" and "input" not in listing.split()

    # Output quota: writes past output_mb fail in the notebook; the host got at most the quota.
    quota = rows["quota"]
    assert quota["status"] == "failed" and f"{OUTPUT_MB} MB" in quota["message"], quota["message"]
    kept = sum(p.stat().st_size for p in (runs["quota"] / "output").rglob("*") if p.is_file())
    assert kept <= OUTPUT_MB << 20

    # Memory as the kernel counts it: shared pages once, not once per reader.
    assert rows["shared_memory"]["status"] == "ok", rows["shared_memory"]["message"]

    # Outputs bounded: updates, widgets and one oversized message included.
    assert rows["flood"]["status"] == "ok", rows["flood"]["message"]
    assert (runs["flood"] / "executed.ipynb").stat().st_size < 4 << 20
    multipart = rows["multipart"]  # the executor past its own memory bound: the run stops, the grader's verdict
    assert multipart["status"] == "failed" and f"{EXECUTOR_MEMORY_MB} MB" in multipart["message"], multipart

    # Only the parameters cell is honoured.
    assert rows["injected"]["status"] == "ok"
    assert (runs["injected"] / "output" / "seed.txt").read_text() == str(course.assignment("digits").seed)


def test_grader_check_fails_a_notebook_that_outgrows_output_dir(course_dir, tmp_path):
    """The self-check says what the graded run would meet: in the sandbox (the course side, where bubblewrap
    works) the write fails at the quota, unsandboxed (a student's kit) output_dir is measured after the run."""
    from grader.check import check

    settings = course_dir / "assignments" / "digits" / "assignment.toml"
    settings.write_text(settings.read_text() + "output_mb = 1\n")
    nb = write_notebook(tmp_path / "mine.ipynb", [
        "from pathlib import Path\nPath(output_dir, 'model.bin').write_bytes(b'w' * (2 << 20))", *GOOD])
    report = check(load_course(course_dir), nb, "digits")
    assert not report.passed
    (item,) = [i for i in report.items if "output_dir" in i.text and "at most 1 MB" in i.text]
    assert item.passed is False
