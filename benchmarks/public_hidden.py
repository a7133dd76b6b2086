"""Public hidden sets defended (grader.data.public_hidden): what the transform costs, what is caught.

    .venv/bin/python benchmarks/public_hidden.py [--mnist ../shared/datasets/mnist]

On MNIST prepared as the course prepares it, with a fixed secret:
1. accuracy of honest models (nearest centroid, logistic regression, a small CNN like the
   reference's) on the hidden items before and after the transform, and on the canaries;
2. the screening: each channel that carries the public labels (tests/test_public_hidden.py builds
   them) against the honest notebooks (starters, references, demo, the tests' student notebooks);
3. the `lookup` flag: simulated prediction files of honest models at many accuracies (the same on
   both kinds of item), the real honest models' predictions, and lookups with a fallback model.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # the grader and its tests.helpers
os.environ["GRADER_SECRET"] = "5e" * 32

import nbformat  # noqa: E402

from grader.audit.evidence import lookup_flag  # noqa: E402
from grader.course import AuditSettings, ScreeningLimits, load_course  # noqa: E402
from grader.data import layout, prepare, read_labels  # noqa: E402
from grader.data.public_hidden import read_canaries, transform_images  # noqa: E402
from grader.data.sources import read_idx  # noqa: E402
from grader.scoring import Predictions, canary_counts  # noqa: E402
from grader.screening import screen  # noqa: E402
from tests.helpers import make_course  # noqa: E402
from tests.helpers.notebooks import GOOD, LOAD, WEAK, notebook_of  # noqa: E402
from tests.test_public_hidden import hostile, public_table  # noqa: E402


def centroid(x, y):
    centroids = np.stack([x[y == c].mean(0) for c in range(10)])
    return lambda q: ((q @ centroids.T) * 2 - (centroids ** 2).sum(1)).argmax(1)


def logistic(x, y):
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=200).fit(x[:20000], y[:20000])
    return model.predict


def small_cnn(x, y):
    """Two conv layers and a linear one, one epoch: the reference notebook's model, shortened for 2 cores."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    torch.set_num_threads(2)
    net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1),
                        nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(32 * 7 * 7, 10))
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    images, labels = torch.tensor(x, dtype=torch.float32).view(-1, 1, 28, 28), torch.tensor(y)
    for i in range(0, len(images), 128):
        opt.zero_grad()
        nn.functional.cross_entropy(net(images[i:i + 128]), labels[i:i + 128]).backward()
        opt.step()

    def predict(q):
        with torch.no_grad():
            return net(torch.tensor(q, dtype=torch.float32).view(-1, 1, 28, 28)).argmax(1).numpy()
    return predict


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mnist", type=Path, default=REPO.parent / "shared" / "datasets" / "mnist")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp()) / "course"
    make_course(root)
    (root / "assignments" / "mnist").mkdir()
    (root / "assignments" / "mnist" / "assignment.toml").write_text((REPO / "assignments" / "mnist" /
                                                                     "assignment.toml").read_text())
    course = load_course(root)
    manifest = prepare(course, course.assignment("mnist"), args.mnist)
    data = layout(course, course.assignment("mnist"))
    print(f"MNIST prepared: {manifest['counts']}")
    train, hidden = np.load(data.data_dir / "train.npz"), np.load(data.test_dir / "test.npz")
    truth, canaries = read_labels(data.labels), read_canaries(data.labels)
    y_hidden = np.array([truth[pid][0] for pid in hidden["id"]])
    is_canary = np.array([pid in canaries for pid in hidden["id"]])
    public_x = read_idx(args.mnist / "t10k-images-idx3-ubyte.gz")
    public_y = read_idx(args.mnist / "t10k-labels-idx1-ubyte.gz").astype(np.int64)
    x = train["x"].reshape(len(train["x"]), -1) / 255.0
    moved = transform_images(public_x, np.random.default_rng(1)).reshape(len(public_x), -1) / 255.0

    print("\n1. accuracy: public test images untransformed / transformed (same 10,000 items, paired); "
          "on the prepared hidden set: ordinary items / canaries")
    settings = AuditSettings()
    honest_counts = []
    for name, fit in (("nearest centroid", centroid), ("logistic regression", logistic), ("small CNN", small_cnn)):
        start = time.perf_counter()
        predict = fit(x, train["y"])
        before = predict(public_x.reshape(len(public_x), -1) / 255.0) == public_y
        after = predict(moved) == public_y
        right = predict(hidden["x"].reshape(len(hidden["x"]), -1) / 255.0) == y_hidden
        counts = canary_counts(Predictions(list(hidden["id"]), np.where(right, y_hidden, (y_hidden + 1) % 10), None),
                               truth, canaries)
        honest_counts.append(counts)
        flagged = lookup_flag(counts, settings) is not None
        print(f"  {name:20s} {before.mean():.4f} / {after.mean():.4f} (changed on {int((before != after).sum())} "
              f"items)   hidden {right[~is_canary].mean():.4f} / canaries {right[is_canary].mean():.4f}   "
              f"lookup flag: {flagged}   ({time.perf_counter() - start:.0f} s)")

    print("\n2. screening")
    table = public_table(public_x, public_y)
    for channel in ("comment", "strings", "hex_integer", "floats"):
        flags = screen(notebook_of([LOAD, hostile(table, channel)]), ScreeningLimits())
        print(f"  carried in {channel:12s}: {'flagged' if flags else 'MISSED'} ({', '.join(sorted({f.kind for f in flags}))})")
    honest = [*REPO.glob("assignments/*/starter.ipynb"), *REPO.glob("reference/*.ipynb"), *REPO.glob("demo/**/*.ipynb")]
    notebooks = [nbformat.read(p, as_version=4) for p in honest] + [notebook_of(GOOD), notebook_of(WEAK)]
    flagged = sum(bool(screen(nb, ScreeningLimits())) for nb in notebooks)
    print(f"  honest notebooks flagged: {flagged} of {len(notebooks)}")

    print("\n3. lookup flag (canaries)")
    rng = np.random.default_rng(0)
    n, m = int((~is_canary).sum()), int(is_canary.sum())
    false_positives = 0
    runs = 0
    for accuracy in np.linspace(0.3, 0.995, 15):
        for _ in range(10):
            counts = {"items": [int(rng.binomial(n, accuracy)), n], "canaries": [int(rng.binomial(m, accuracy)), m]}
            false_positives += lookup_flag(counts, settings) is not None
            runs += 1
    false_positives += sum(lookup_flag(c, settings) is not None for c in honest_counts)
    runs += len(honest_counts)
    print(f"  honest runs flagged: {false_positives} of {runs} (simulated at accuracies 0.30-0.995, and the 3 models)")
    for fallback in (0.5, 0.8, 0.9, 0.95, 0.97):
        detected = sum(lookup_flag({"items": [n, n], "canaries": [int(rng.binomial(m, fallback)), m]}, settings)
                       is not None for _ in range(20))
        print(f"  lookup of the public table, fallback model at {fallback:.2f} on the rest: flagged {detected} of 20")


if __name__ == "__main__":
    main()
