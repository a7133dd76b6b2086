"""The docker runner on a real Docker engine: hostile notebooks in real containers.

scripts/docker.sh installs and starts the engine and builds the test image (grader-test:latest).
Without an engine these tests skip; with GRADER_REQUIRE_DOCKER=1 (CI) a missing engine or image fails.
The GPU request is checked on what is built, with a stand-in client: it only runs on a GPU host.
"""

from __future__ import annotations

import json
import ctypes
import os
import platform
import socket
import subprocess
import threading
from types import SimpleNamespace
from pathlib import Path

import pytest

from grader import jobs, pipeline
from grader.course import load_course
from grader.data import layout
from grader.gradebook import Gradebook
from grader.image import ImageBuildError, build_image, dockerfile_defaults, project_dockerfile
from grader.runners.base import Job, RunResult
from grader.runners.kernels import LINK_TARGET, MAX_DEPTH, MAX_ENTRIES, copy_out
from grader.runners.local import LocalRunner
from grader.runners.dask_runner import ClusterError, DaskRunner
from grader.runners.docker_runner import (OWNER_LABEL, RUNNER_LABEL, DockerRunner, DockerUnavailable, GpuSlots,
                                          connect, owner_id, parse_gpus)
from tests.helpers import GRADER, TEST_IMAGE
from tests.helpers.notebooks import GOOD, LOAD, PROBE, WEAK, write_notebook

REQUIRED = os.environ.get("GRADER_REQUIRE_DOCKER") == "1"
TIME_LIMIT = 20  # seconds, for every notebook of the hostile batch
MEMORY_MB = 1500  # the test course's memory_mb


@pytest.fixture(scope="session")
def engine():
    """A client of a running engine that has the test image; skip (or fail in CI) otherwise."""
    try:
        client = connect()
        client.images.get(TEST_IMAGE)
    except Exception as exc:  # engine down, SDK error, image missing
        message = f"no Docker engine with the image {TEST_IMAGE} ({exc}); scripts/docker.sh sets one up"
        if REQUIRED:
            pytest.fail(message)
        pytest.skip(message)
    return client


def grader_containers(client) -> list:
    return client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={owner_id()}"})


def latest(course) -> dict[str, dict]:
    with Gradebook(course.gradebook_path) as book:
        return {row["student"]: row for row in book.latest()}


# Forks until the pids limit says no, then cleans up and hands in good predictions.
FORKS = '''import errno, os, time
from pathlib import Path
children, refusal = [], None
try:
    for _ in range(5000):
        pid = os.fork()
        if pid == 0:
            time.sleep(120)
            os._exit(0)
        children.append(pid)
except OSError as exc:
    refusal = errno.errorcode.get(exc.errno)
for pid in children:
    os.kill(pid, 9)
    os.waitpid(pid, 0)
Path(output_dir, "forks.txt").write_text(f"{len(children)} {refusal}")'''


@pytest.fixture
def hostile_batch(course_dir, tmp_path):
    course = load_course(course_dir)
    labels = layout(course, course.assignment("digits")).labels
    subs = tmp_path / "submissions" / "digits"
    write_notebook(subs / "good.ipynb", GOOD)
    write_notebook(subs / "weak.ipynb", WEAK)
    write_notebook(subs / "probe.ipynb", [PROBE.format(labels=str(labels)), *GOOD])
    write_notebook(subs / "loop.ipynb", [LOAD, "while True:\n    pass"])
    write_notebook(subs / "memory.ipynb", ["blocks = []\nwhile True:\n    blocks.append(b'x' * (64 << 20))"])
    write_notebook(subs / "forks.ipynb", [FORKS, *GOOD])  # forked before numpy: each child is small
    write_notebook(subs / "fork_bomb.ipynb", ["import os\nwhile True:\n    try:\n        os.fork()\n"
                                              "    except OSError:\n        pass"])
    write_notebook(subs / "symlink.ipynb", [LOAD, "import os\nos.symlink('/etc/passwd', Path(output_dir) / "
                                                  "'predictions.csv')"])
    write_notebook(subs / "chatty.ipynb", ["import os\nline = 'x' * ((1 << 20) - 1)\nfor _ in range(200):\n"
                                           "    print(line)\nfor _ in range(100):\n"
                                           "    os.write(1, (line + '\\n').encode())", *GOOD])
    write_notebook(subs / "dead.ipynb", ["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
    return course, subs.parent, labels


EXPECTED = {"good": "ok", "weak": "ok", "probe": "ok", "loop": "timeout", "memory": "oom", "forks": "ok",
            "symlink": "invalid_predictions", "chatty": "ok", "dead": "dead_kernel"}


@pytest.mark.slow
def test_hostile_batch_is_contained_and_every_other_submission_graded(engine, hostile_batch):
    course, submissions, labels = hostile_batch
    runner = DockerRunner(image=TEST_IMAGE)
    report = pipeline.run(course, submissions, runner=runner, jobs=2, timeout=TIME_LIMIT)
    rows = latest(course)
    bomb = rows.pop("fork_bomb")  # its copies fill the pids or the memory limit first: either ends it
    assert bomb["status"] in ("timeout", "oom") and bomb["duration_s"] <= TIME_LIMIT + 15
    assert {s: r["status"] for s, r in rows.items()} == EXPECTED, {s: r["message"] for s, r in rows.items()}
    assert len(report.rows) == len(EXPECTED) + 1
    assert rows["good"]["primary_score"] > 0.8 and rows["good"]["grade"] > rows["weak"]["grade"]
    environment = rows["good"]["environment"]  # what ran it: the image by id, the container's own Python
    assert environment["runner"] == "docker" and environment["image"] == TEST_IMAGE
    assert environment["image_id"] == engine.images.get(TEST_IMAGE).id and environment["python"]
    assert grader_containers(engine) == []  # every container removed

    run_dir = {s: Path(r["artifacts"]) for s, r in rows.items()}
    probe = json.loads((run_dir["probe"] / "output" / "probe.json").read_text())
    assert probe["ifaces"] == ["lo"]
    assert probe["connect_internet"] != "allowed" and probe["connect_host"] != "allowed"
    assert probe["resolve"] != "allowed"
    assert set(probe["labels"].values()) == {"ENOENT"} and probe["found"] == []
    writes = probe["writes"]
    assert {path: result for path, result in writes.items() if result == "allowed"} == {
        "/tmp/x": "allowed", "/grader/run/output/x": "allowed"}
    assert writes["/grader/data/x"] == writes["/grader/test/x"] == writes["/etc/x"] == "EROFS"
    assert probe["uid"] != 0 and int(probe["cap_eff"], 16) == 0 and probe["no_new_privs"] == "1"
    assert labels.is_file()  # the labels were there on the host all along

    loop = rows["loop"]
    assert TIME_LIMIT <= loop["duration_s"] <= TIME_LIMIT + 5
    assert "20" in loop["message"]
    assert str(MEMORY_MB) in rows["memory"]["message"] and rows["memory"]["cell"] == 2  # the kernel died in cell 2
    forked, refusal = (run_dir["forks"] / "output" / "forks.txt").read_text().split()
    assert refusal == "EAGAIN" and 0 < int(forked) < 512
    assert "symbolic link" in rows["symlink"]["message"]
    chatty = run_dir["chatty"]
    assert chatty.joinpath("executed.ipynb").stat().st_size < 4 << 20
    assert chatty.joinpath("run.log").stat().st_size < 3 << 20
    assert (run_dir["good"] / "output" / "predictions.csv").is_file()
    assert engine.volumes.list(filters={"label": f"{OWNER_LABEL}={owner_id()}"}) == []  # and every volume


def test_cli_grades_in_docker_and_says_which_runner(engine, course_dir, tmp_path):
    write_notebook(tmp_path / "subs" / "digits" / "ana.ipynb", GOOD)
    done = subprocess.run([*GRADER, "run", str(tmp_path / "subs"), "--course", str(course_dir), "--runner", "docker",
                           "--image", TEST_IMAGE, "--gpus", "none", "--format", "json"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    [row] = json.loads(done.stdout)
    assert row["status"] == "ok" and row["grade"] > 5
    shown = subprocess.run([*GRADER, "show", "ana", "--course", str(course_dir)], capture_output=True, text=True)
    assert "docker runner" in shown.stdout


def test_missing_image_is_one_clear_error_before_the_batch(engine, course_dir, tmp_path):
    write_notebook(tmp_path / "subs" / "digits" / "ana.ipynb", GOOD)
    done = subprocess.run([*GRADER, "run", str(tmp_path / "subs"), "--course", str(course_dir), "--runner", "docker",
                           "--image", "grader-missing:none"], capture_output=True, text=True)
    assert done.returncode == 2
    assert "grader-missing:none" in done.stderr and "grader image build" in done.stderr
    assert done.stderr.count("error") == 1
    assert not (course_dir / ".grader" / "runs").exists()


def test_leftovers_of_a_dead_grader_are_removed_and_live_ones_kept(engine):
    labels = {RUNNER_LABEL: "docker"}
    dead = engine.containers.create(TEST_IMAGE, ["sleep", "300"], labels={**labels, OWNER_LABEL: "nohost:1:0"})
    gone = engine.containers.create(TEST_IMAGE, ["sleep", "300"],
                                    labels={**labels, OWNER_LABEL: f"{socket.gethostname()}:999999999:0"})
    live = engine.containers.create(TEST_IMAGE, ["sleep", "300"], labels={**labels, OWNER_LABEL: owner_id()})
    try:
        gone.start()
        runner = DockerRunner(image=TEST_IMAGE)
        remaining = {c.id for c in engine.containers.list(all=True, filters={"label": RUNNER_LABEL})}
        assert gone.id not in remaining
        assert {dead.id, live.id} <= remaining  # another host's, and this live process's
        assert runner.leftovers_removed >= 1
    finally:
        for container in (dead, live):
            container.remove(force=True)


def test_gvisor_runtime_runs_the_notebook_under_its_own_kernel(engine, course_dir, tmp_path):
    if "runsc" not in engine.info().get("Runtimes", {}):
        pytest.skip("gVisor (runsc) is not registered with this engine")
    course = load_course(course_dir)
    data = layout(course, course.assignment("digits"))
    write_notebook(tmp_path / "probe.ipynb", [PROBE.format(labels=str(data.labels)), *GOOD])
    job = jobs.make_job(course.assignment("digits"), data, "probe", tmp_path / "probe.ipynb", tmp_path / "run",
                        smoke=False, time_limit=60)
    job.run_dir.mkdir()
    result = DockerRunner(image=TEST_IMAGE, runtime="runsc").run(job)
    assert result.status == "ok", result.detail
    probe = json.loads((job.output_dir / "probe.json").read_text())
    assert probe["release"] != platform.release()  # gVisor's kernel answers, not the host's
    assert probe["ifaces"] == ["lo"] and probe["found"] == []


def test_unknown_runtime_or_malformed_image_name_is_a_clear_error(engine):
    with pytest.raises(DockerUnavailable, match="runtime 'nope'"):
        DockerRunner(image=TEST_IMAGE, runtime="nope")
    with pytest.raises(DockerUnavailable, match="the image 'Not An Image'"):
        DockerRunner(image="Not An Image")


# --- Without an engine: what the runner asks the engine for ------------------------------------

class StandInClient:
    """Answers the questions DockerRunner asks at start; isolates option building."""

    class images:
        @staticmethod
        def get(name):
            return SimpleNamespace(id=f"sha256:{name}", attrs={"RepoDigests": []})

    class containers:
        @staticmethod
        def list(**_):
            return []

    volumes = containers

    @staticmethod
    def info():
        return {"Runtimes": {"runc": {}}}


def make_job(tmp_path, gpu=False) -> Job:
    notebook = write_notebook(tmp_path / "nb.ipynb", GOOD)
    (tmp_path / "run").mkdir()
    return Job("7", notebook, tmp_path / "run", tmp_path / "public", tmp_path / "test", {"seed": 1},
               time_limit_s=60, cell_timeout_s=60, memory_mb=3000, cpus=2, gpu=gpu, pids_limit=300, tmp_mb=256,
               shm_mb=128, output_mb=64)


def test_each_gpu_job_gets_its_own_gpu_and_cuda(tmp_path):
    runner = DockerRunner(image="x", gpus="0,1", gpu_slots=2, client=StandInClient())
    assert runner.gpus.size == 4
    job = make_job(tmp_path, gpu=True)
    runner._gpu_of[job.key] = "1"
    runner.command(job)
    spec = json.loads((job.run_dir / "job.json").read_text())
    assert spec["kernel"]["gpu"] == "1"
    assert spec["parameters"]["device"] == "cuda" and spec["parameters"]["seed"] == 1
    runner._gpu_of[job.key] = None
    kernel, paths = runner.kernel(job)
    assert kernel["gpu"] is None and paths["device"] == "cpu"


def test_sandbox_options_come_from_the_assignment_resources(tmp_path):
    kernel, _ = DockerRunner(image="x", gpus="none", client=StandInClient()).kernel(make_job(tmp_path))
    options = kernel["container"]
    assert options["network_mode"] == "none" and options["read_only"] is True
    assert options["cap_drop"] == ["ALL"] and options["security_opt"] == ["no-new-privileges"]
    assert options["mem_limit"] == options["memswap_limit"] == "3000m"
    assert options["nano_cpus"] == 2_000_000_000 and options["pids_limit"] == 300
    assert options["tmpfs"]["/tmp"].startswith("rw,nosuid,nodev,size=256m") and options["shm_size"] == "128m"
    assert not options["user"].startswith("0:")
    # The only host folders are the inputs, read-only; output_dir is a tmpfs volume of output_mb.
    assert kernel["binds"] == [["/grader/data", str(tmp_path / "public")], ["/grader/test", str(tmp_path / "test")]]
    assert kernel["output_mb"] == 64


def test_an_engine_folder_the_grader_cannot_enter_is_a_clear_error(tmp_path):
    class Unreachable(StandInClient):
        @staticmethod
        def info():
            return {"Runtimes": {"runc": {}}, "DockerRootDir": str(tmp_path / "not-here")}

    with pytest.raises(DockerUnavailable, match="run the grader as root"):
        DockerRunner(image="x", gpus="none", client=Unreachable())


def test_gpu_list_parsing():
    assert parse_gpus("0, 1") == ["0", "1"] and parse_gpus("none") == []
    with pytest.raises(ValueError, match="0,1"):
        parse_gpus("first")
    with pytest.raises(ValueError):
        parse_gpus("1,1")


def test_jobs_wait_for_a_free_gpu_slot():
    slots = GpuSlots(["0"], per_gpu=1)
    taken, second_in = threading.Event(), threading.Event()
    release = threading.Event()

    def first():
        with slots.take():
            taken.set()
            release.wait(10)

    def second():
        with slots.take():
            second_in.set()

    threading.Thread(target=first).start()
    taken.wait(10)
    waiter = threading.Thread(target=second)
    waiter.start()
    assert not second_in.wait(0.3)  # the only slot is busy
    release.set()
    assert second_in.wait(10)
    waiter.join(10)


def test_what_a_sandbox_left_is_copied_out_bounded_and_links_lead_nowhere(tmp_path):
    left = tmp_path / "left"
    (left / "plots").mkdir(parents=True)
    (left / "predictions.csv").symlink_to("/etc/passwd")
    (left / "etc").symlink_to("/etc")
    (left / "plots" / "a.png").write_bytes(b"p" * 1000)
    (left / "big.bin").write_bytes(b"b" * 5000)
    out = tmp_path / "out"
    copied = copy_out(left, out, 3000)
    assert copied == 3000
    assert os.readlink(out / "predictions.csv") == LINK_TARGET and os.readlink(out / "etc") == LINK_TARGET
    sizes = {p.name: p.stat().st_size for p in out.rglob("*") if p.is_file() and not p.is_symlink()}
    assert sum(sizes.values()) == 3000 and set(sizes) <= {"a.png", "big.bin"}


def test_copying_out_follows_no_link_swapped_in_while_it_reads(tmp_path):
    """The notebook keeps exchanging folders with links to /etc while the executor copies them out."""
    left = tmp_path / "left"
    left.mkdir()
    for i in range(20):
        (left / f"d{i}").mkdir()
        (left / f"d{i}" / "placeholder").write_text("x")
        (left / f"s{i}").symlink_to("/etc")
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    stop = threading.Event()

    def swap():
        while not stop.is_set():
            for i in range(20):
                libc.renameat2(-100, str(left / f"d{i}").encode(), -100, str(left / f"s{i}").encode(), 2)

    swapper = threading.Thread(target=swap)
    swapper.start()
    try:
        for attempt in range(30):
            copy_out(left, tmp_path / f"out{attempt}", 1 << 20)
    finally:
        stop.set()
        swapper.join()
    copied = {p.name for p in tmp_path.glob("out*/**/*") if p.is_file() and not p.is_symlink()}
    assert copied <= {"placeholder"}, copied


def test_copying_out_is_bounded_in_entries_and_depth(tmp_path):
    wide, deep = tmp_path / "wide", tmp_path / "deep"
    for i in range(MAX_ENTRIES + 50):
        (wide / f"{i:05d}").mkdir(parents=True)
    deep.joinpath(*["a"] * (MAX_DEPTH + 10)).mkdir(parents=True)
    copy_out(wide, tmp_path / "wide-out", 1 << 20)
    copy_out(deep, tmp_path / "deep-out", 1 << 20)
    assert sum(1 for _ in (tmp_path / "wide-out").iterdir()) == MAX_ENTRIES
    out = tmp_path / "deep-out"
    assert max(len(p.relative_to(out).parts) for p in out.rglob("*")) == MAX_DEPTH


def test_engine_down_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    with pytest.raises(DockerUnavailable, match="cannot reach the Docker engine at unix:///nonexistent"):
        connect()


def test_the_dockerfile_lists_the_execution_packages_once():
    defaults = dockerfile_defaults(project_dockerfile())
    assert "cuda" in defaults["BASE_IMAGE"]
    assert set(defaults["PACKAGES"].split()) == {"ipykernel", "numpy", "pandas", "scikit-learn",
                                                 "matplotlib"}
    assert defaults["TORCH_PACKAGES"].split() == ["torch", "torchvision"]


def test_a_failing_image_build_says_which_step_failed(engine, tmp_path):
    base = os.environ.get("GRADER_TEST_BASE_IMAGE", "grader-base:bookworm")
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"FROM {base}\nLABEL grader.stage=build\nARG CODE=0\nRUN echo preparing && exit $CODE\n")
    with pytest.raises(ImageBuildError, match="grader-broken:test.*returned a non-zero code: 3"):
        build_image("grader-broken:test", dockerfile=dockerfile, build_args={"CODE": "3"}, client=engine)
    assert engine.images.list(filters={"dangling": True, "label": "grader.stage=build"}) == []


def test_dask_workers_run_their_jobs_in_docker_and_a_missing_image_stops_the_batch(engine, course_dir, tmp_path):
    from distributed import Client, LocalCluster

    course = load_course(course_dir)
    for name in ("ana", "bea"):
        write_notebook(tmp_path / "subs" / "digits" / f"{name}.ipynb", GOOD)
    with LocalCluster(n_workers=1, threads_per_worker=2, processes=True, dashboard_address=":0") as cluster, \
            Client(cluster) as client:
        missing = DaskRunner(client=client, worker_runner="docker", worker_options={"image": "grader-missing:none"})
        with pytest.raises(ClusterError, match="docker runner cannot start on 1 of 1 workers.*grader-missing:none"):
            pipeline.run(course, tmp_path / "subs", runner=missing)
        assert {r["run_id"] for r in latest(course).values()} == {None}  # nothing ran
        runner = DaskRunner(client=client, worker_runner="docker", worker_options={"image": TEST_IMAGE, "gpus": "none"})
        report = pipeline.run(course, tmp_path / "subs", runner=runner)
    assert [row.status for row in report.rows] == ["ok", "ok"]
    rows = latest(course)
    assert {r["runner"] for r in rows.values()} == {"dask"}
    assert all((Path(r["artifacts"]) / "output" / "predictions.csv").is_file() for r in rows.values())
    assert grader_containers(engine) == [] and engine.containers.list(
        all=True, filters={"label": f"{RUNNER_LABEL}=docker"}) == []


def test_gpu_jobs_run_one_per_slot_at_once_even_with_jobs_1(tmp_path, monkeypatch):
    runner = DockerRunner(image="x", gpus="0,1", gpu_slots=2, client=StandInClient())
    together = threading.Barrier(4, timeout=10)  # passes only if all four jobs hold a slot at once
    taken = []

    def fake_run(self, job):  # the executor's part: the GPU slot is already held
        taken.append(self._gpu_of[job.key])
        together.wait()
        return RunResult(job.key, "ok", job.run_dir)

    monkeypatch.setattr(LocalRunner, "run", fake_run)
    jobs = []
    for i in range(4):
        (tmp_path / str(i)).mkdir()
        jobs.append(make_job(tmp_path / str(i), gpu=True))
    results = list(runner.run_many(jobs, parallel=1))
    assert [r.status for r in results] == ["ok"] * 4
    assert sorted(taken) == ["0", "0", "1", "1"]


def test_a_forged_or_missing_result_is_an_error_row_not_a_verdict(tmp_path):
    job = make_job(tmp_path)
    job.log_path.write_text("x" * 10_000 + "last words")
    missing = RunResult.read(job, 3, "2026-11-23T00:00:00+00:00", 1.0)
    assert missing.status == "error" and "exited with code 3" in missing.evalue
    assert missing.detail.endswith("last words") and len(missing.detail) == 4000
    job.result_path.write_text(json.dumps({"key": "7", "status": "grade_10", "run_dir": "/grader/run"}))
    forged = RunResult.read(job, 0, "2026-11-23T00:00:00+00:00", 1.0)
    assert forged.status == "error" and "unknown status 'grade_10'" in forged.evalue
