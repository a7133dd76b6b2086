"""Build student notebooks of every kind for the tests (good, weak, crashing, hostile...)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

PARAMETERS = '''data_dir = "data"
test_dir = "test"
output_dir = "."
device = "cpu"
seed = 0
smoke = False
time_budget_s = 60'''

LOAD = '''from pathlib import Path
import numpy as np
import pandas as pd
train = np.load(Path(data_dir) / "train.npz")
test = np.load(Path(test_dir) / "test.npz")
classes = (Path(data_dir) / "classes.txt").read_text().split()
X = train["x"].reshape(len(train["x"]), -1) / 255.0
y = train["y"]
X_test = test["x"].reshape(len(test["x"]), -1) / 255.0'''

# Nearest centroid: numpy only, a second to fit, decent on digits.
CENTROID = '''centroids = np.stack([X[y == c].mean(axis=0) for c in range(len(classes))])
distances = ((X_test[:, None, :] - centroids[None]) ** 2).sum(-1)
labels = distances.argmin(axis=1)
scores = np.exp(-(distances - distances.min(axis=1, keepdims=True)))
proba = scores / scores.sum(axis=1, keepdims=True)'''

WRITE = '''out = pd.DataFrame({"id": test["id"], "label": labels})
for i, name in enumerate(classes):
    out[f"p_{name}"] = proba[:, i]
out.to_csv(Path(output_dir) / "predictions.csv", index=False)'''

GOOD = [LOAD, CENTROID, WRITE]
WEAK = [LOAD, "labels = np.zeros(len(X_test), dtype=int)\nproba = np.full((len(X_test), len(classes)), 1 / len(classes))", WRITE]


def write_notebook(path: Path, cells: list[str], parameters: bool = True) -> Path:
    nb = new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if parameters:
        nb.cells.append(new_code_cell(PARAMETERS, metadata={"tags": ["parameters"]}))
    nb.cells.extend(new_code_cell(source) for source in cells)
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


def predictions_cells(csv_text_expr: str) -> list[str]:
    """A notebook that writes predictions.csv from a Python expression building its text."""
    return [LOAD, CENTROID, f"Path(output_dir, 'predictions.csv').write_text({csv_text_expr})"]


# Everything a sandbox should forbid, tried from inside and written to probe.json (docker and bwrap
# runners). `labels` is the host path of the hidden labels, put in the source as an attacker who
# guessed it would.
PROBE = '''import errno, json, os, platform, socket
report = {{"ifaces": sorted(name for _, name in socket.if_nameindex()), "uid": os.getuid(),
          "release": platform.release()}}
def attempt(fn):
    try:
        fn()
        return "allowed"
    except OSError as exc:
        return errno.errorcode.get(exc.errno, str(exc))
def connect(host, port):
    with socket.create_connection((host, port), timeout=3):
        pass
report["connect_internet"] = attempt(lambda: connect("1.1.1.1", 53))
report["connect_host"] = attempt(lambda: connect("172.17.0.1", 22))
report["resolve"] = attempt(lambda: socket.getaddrinfo("pypi.org", 443))
report["labels"] = {{path: attempt(lambda: open(path).read()) for path in
                    [{labels!r}, "/grader/data/../private/labels.csv", "/grader/private/labels.csv"]}}
found = []
for top in ["/grader", "/opt", "/tmp", "/home", "/root", "/mnt", "/srv", "/var", "/etc"]:
    for folder, _, files in os.walk(top):
        found += [os.path.join(folder, f) for f in files if f in ("labels.csv", "gradebook.sqlite")]
report["found"] = found
def write(path):
    with open(path, "w") as f:
        f.write("x")
report["writes"] = {{path: attempt(lambda: write(path)) for path in
                    ["/grader/data/x", "/grader/test/x", "/grader/x", "/grader/kernel.json",
                     "/etc/x", "/usr/x", "/tmp/x", os.path.join(output_dir, "x")]}}
status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\\t" in line)
report["cap_eff"], report["no_new_privs"] = status["CapEff"].strip(), status.get("NoNewPrivs", "").strip()
with open(os.path.join(output_dir, "probe.json"), "w") as f:
    json.dump(report, f)'''


def notebook_of(cells: list[str], markdown: str = "") -> nbformat.NotebookNode:
    """A notebook in memory (for the screening, which reads a hand-in before any run): these code cells,
    then a markdown cell when given."""
    nb = new_notebook()
    nb.cells = [new_code_cell(c) for c in cells]
    if markdown:
        nb.cells.append(new_markdown_cell(markdown))
    return nb
