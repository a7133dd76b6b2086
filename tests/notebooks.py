"""Build student notebooks of every kind for the tests (good, weak, crashing, hostile...)."""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_notebook

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
