"""The dask runner on a real distributed.LocalCluster (worker processes): same results, worker deaths."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from typer.testing import CliRunner

from grader import pipeline
from grader.cli import app
from grader.course import load_course
from grader.gradebook import Gradebook
from grader.runners.dask_runner import DaskRunner
from grader.runners.dask_runner import ClusterError
from tests.helpers.notebooks import GOOD, LOAD, WEAK, predictions_cells, write_notebook


@pytest.fixture(scope="module")
def cluster():
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, resources={"GPU": 1},
                      dashboard_address=":0") as local:
        yield local


def batch(root):
    subs = root / "digits"
    write_notebook(subs / "good.ipynb", GOOD)
    write_notebook(subs / "weak.ipynb", WEAK)
    write_notebook(subs / "crash.ipynb", [LOAD, "raise RuntimeError('boom')"])
    write_notebook(subs / "no_predictions.ipynb", [LOAD])
    write_notebook(subs / "bad_ids.ipynb", predictions_cells("'id,label\\nnope,1\\n'"))
    write_notebook(subs / "symlink.ipynb", [LOAD, "import os\nos.symlink('/etc/passwd', Path(output_dir) / "
                                            "'predictions.csv')"])
    write_notebook(subs / "dead.ipynb", ["import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"])
    return root


def outcome(course) -> dict[str, tuple]:
    with Gradebook(course.gradebook_path) as book:
        return {r["student"]: (r["status"], r["primary_score"], r["grade"], r["message"]) for r in book.latest()}


def copy_course(prepared_course, target):
    shutil.copytree(prepared_course, target)
    return load_course(target)


@pytest.mark.parametrize("transfer", ["shared", "task"])
def test_dask_batch_gives_the_same_results_as_the_local_runner(prepared_course, tmp_path, cluster, transfer):
    subs = batch(tmp_path / "submissions")
    local = copy_course(prepared_course, tmp_path / "local")
    pipeline.run(local, subs, jobs=2, timeout=60)
    dask = copy_course(prepared_course, tmp_path / "dask")
    report = pipeline.run(dask, subs, runner=DaskRunner(cluster.scheduler_address, transfer=transfer), timeout=60)
    assert len(report.rows) == 7
    assert outcome(dask) == outcome(local)
    assert outcome(dask)["good"][0] == "ok" and outcome(dask)["symlink"][0] == "invalid_predictions"
    with Gradebook(dask.gradebook_path) as book:
        good = next(r for r in book.latest() if r["student"] == "good")
    # The artifacts are the grader's, whichever way they travelled, and so is the record of what ran them.
    assert (tmp_path / "dask" / ".grader") in Path(good["artifacts"]).parents
    assert good["environment"]["runner"] == "dask" and good["environment"]["worker_runner"] == "bwrap"
    assert good["environment"]["python"] and good["environment"]["cpu"]
    assert (Path(good["artifacts"]) / "executed.ipynb").is_file()


def test_a_worker_killed_mid_job_and_every_submission_is_graded_once(prepared_course, tmp_path, cluster):
    subs = tmp_path / "submissions" / "digits"
    for i in range(4):
        write_notebook(subs / f"slow{i}.ipynb", ["import time\ntime.sleep(6)", *GOOD])
    course = copy_course(prepared_course, tmp_path / "course")
    client = Client(cluster.scheduler_address)
    killed = []

    def kill_a_busy_worker():
        deadline = time.time() + 60
        while time.time() < deadline and not killed:
            busy = [worker for worker, tasks in client.processing().items() if tasks]
            if busy:
                time.sleep(2)  # the notebook is running on it now
                pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
                os.kill(pid, signal.SIGKILL)  # a real kill: no clean-up, no goodbye to the scheduler
                killed.append(pid)
            time.sleep(0.2)

    killer = threading.Thread(target=kill_a_busy_worker)
    killer.start()
    report = pipeline.run(course, subs.parent, runner=DaskRunner(client=client), timeout=120)
    killer.join()
    assert killed, "no worker was killed"
    assert sorted(r.status for r in report.rows) == ["ok"] * 4
    with Gradebook(course.gradebook_path) as book:
        runs = book.runs()
    assert sorted(r["student"] for r in runs) == [f"slow{i}" for i in range(4)]  # each graded exactly once
    client.close()


def test_gpu_jobs_take_the_gpu_resource_and_a_cluster_without_it_is_refused(prepared_course, tmp_path, cluster):
    course_dir = tmp_path / "course"
    course = copy_course(prepared_course, course_dir)
    toml = course_dir / "assignments" / "digits" / "assignment.toml"
    toml.write_text(toml.read_text().replace("[resources]\n", "[resources]\ngpu = true\n"))
    course = load_course(course_dir)
    subs = tmp_path / "submissions" / "digits"
    write_notebook(subs / "good.ipynb", GOOD)
    (row,) = pipeline.run(course, subs.parent, runner=DaskRunner(cluster.scheduler_address)).rows
    assert row.status == "ok"

    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0") as plain:
        with pytest.raises(ClusterError, match="resources GPU=1"):
            pipeline.run(course, subs.parent, runner=DaskRunner(plain.scheduler_address), force=True)


def test_cluster_local_command_then_grader_run_with_cluster(course_dir, tmp_path):
    subs = tmp_path / "submissions" / "digits"
    write_notebook(subs / "good.ipynb", GOOD)
    started = subprocess.Popen([str(Path(sys.executable).parent / "grader"), "cluster", "local", "--workers", "2",
                                "--port", "0", "--dashboard", ":0"], stdout=subprocess.PIPE, text=True)
    try:
        address = None
        for line in started.stdout:
            if line.startswith("scheduler"):
                address = line.split()[1]
            if line.startswith("grade with"):
                break
        assert address and address.startswith("tcp://")
        result = CliRunner().invoke(app, ["run", str(subs.parent), "--course", str(course_dir), "--cluster", address,
                                          "--format", "json"])
        assert result.exit_code == 0, result.output
        assert "Dask dashboard: http" in result.stderr
        assert '"status": "ok"' in result.stdout
    finally:
        started.send_signal(signal.SIGINT)
        started.wait(timeout=30)


def test_unreachable_scheduler_is_one_clear_error(course_dir, tmp_path):
    result = CliRunner().invoke(app, ["run", str(tmp_path), "--course", str(course_dir), "--cluster",
                                      "tcp://127.0.0.1:9"])
    assert result.exit_code == 2 and "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in result.stderr


def test_grader_serve_with_a_cluster_sends_each_hand_in_to_the_dask_workers(prepared_course, tmp_path, cluster):
    """`grader serve --cluster`: the service's worker processes hand their runs to the cluster, as `grader run` does."""
    from grader.serve.intake import accept
    from grader.serve.store import DONE, ServeStore
    from grader.serve.workers import Supervisor

    course = copy_course(prepared_course, tmp_path / "course")
    with ServeStore(course) as store:
        items = [accept(course, store, student, "digits", "nb.ipynb", write_notebook(tmp_path / f"{student}.ipynb",
                                                                                     cells).read_bytes())
                 for student, cells in (("ana", GOOD), ("bruno", WEAK))]
        supervisor = Supervisor(course, 2, cluster=cluster.scheduler_address)
        supervisor.start()
        try:
            stop = time.monotonic() + 240
            while any(store.item(i.id).state != DONE for i in items) and time.monotonic() < stop:
                time.sleep(0.5)
        finally:
            supervisor.stop()
        assert [store.item(i.id).status for i in items] == ["ok", "ok"]
    with Gradebook(course.gradebook_path) as book:
        assert {r["student"]: r["runner"] for r in book.latest()} == {"ana": "dask", "bruno": "dask"}
