"""Public hidden sets defended: the public copy of a dataset does not work as a lookup table.

A hostile student downloads MNIST's test set with its labels, sorts the labels by a hash of each
image and carries the table in a notebook. These tests build that table from the public copy in
the test fixtures (../shared/datasets, or a small generated copy) and check each layer: the
hidden inputs match no public item, every channel that carries the table is screened, and a
prediction file that looks its items up is told from an honest one by the canaries.
"""

from __future__ import annotations

import hashlib
import json
import shutil

import nbformat
import numpy as np
import pytest

from tests.helpers import REPO, make_course
from tests.helpers.datasets import dataset_for
from grader.audit.evidence import lookup_flag, run_flags
from grader.course import AuditSettings, ScreeningLimits, load_assignment, load_course
from grader.data import layout, prepare, read_labels
from grader.data.public_hidden import SHIFT, read_canaries, transform_images
from grader.data.sources import read_idx
from grader.i18n import translator
from grader.scoring import Predictions, canary_counts
from grader.screening import describe, screen
from tests.helpers.notebooks import GOOD, LOAD, WEAK, notebook_of

MNIST_TEST = 10_000


@pytest.fixture(scope="module")
def mnist(tmp_path_factory):
    """(course, data layout, public test images, public test labels) with MNIST prepared."""
    root = tmp_path_factory.mktemp("public") / "course"
    make_course(root)
    shutil.copytree(REPO / "assignments" / "mnist", root / "assignments" / "mnist")
    source, verify = dataset_for("mnist", tmp_path_factory.mktemp("datasets"))
    course = load_course(root)
    prepare(course, course.assignment("mnist"), source, verify=verify)
    return (course, layout(course, course.assignment("mnist")), read_idx(source / "t10k-images-idx3-ubyte.gz"),
            read_idx(source / "t10k-labels-idx1-ubyte.gz").astype(np.int64))


def _digest(image: np.ndarray) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def public_table(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The attack: the public labels in the order of their images' hashes, two labels a byte, as many as
    MNIST's test set holds (a small generated copy is repeated to that size)."""
    ordered = labels[np.argsort([_digest(x) for x in images])]
    ordered = np.resize(ordered, MNIST_TEST)
    return bytes((ordered[0::2] << 4 | ordered[1::2]).astype(np.uint8).tolist())


def test_hidden_inputs_match_no_public_item_and_keep_their_labels(mnist):
    _, data, public_x, public_y = mnist
    hidden = np.load(data.test_dir / "test.npz")
    assert not {_digest(x) for x in hidden["x"]} & {_digest(x) for x in public_x}
    assert not {_digest(x[:14]) for x in hidden["x"]} & {_digest(x[:14]) for x in public_x}  # nor half of one
    # A secret subset of the test split plus canaries: no size or order the public files give.
    canaries = read_canaries(data.labels)
    assert len(hidden["x"]) != len(public_x) and 0 < len(canaries) < 0.25 * len(hidden["x"])
    # Each hidden input still shows its own public image: the nearest one, whose label it carries.
    truth = read_labels(data.labels)
    ordinary = [i for i, pid in enumerate(hidden["id"]) if pid not in canaries][:300]
    flat = public_x.reshape(len(public_x), -1).astype(np.float32)
    for i in ordinary:
        nearest = np.argmin(((flat - hidden["x"][i].reshape(-1)) ** 2).sum(1))
        assert public_y[nearest] == truth[hidden["id"][i]][0]
        # faint: a shift of at most SHIFT[1] pixel along each axis, and one unit of rounding
        assert np.abs(public_x[nearest].astype(int) - hidden["x"][i]).max() <= 2 * SHIFT[1] * 255 + 1


def test_the_transform_leaves_a_simple_models_accuracy_within_noise(mnist):
    course, data, public_x, public_y = mnist
    train = np.load(data.data_dir / "train.npz")
    x = train["x"].reshape(len(train["x"]), -1) / 255.0
    centroids = np.stack([x[train["y"] == c].mean(0) for c in range(10)])  # the most shift-sensitive model

    def accuracy(images):
        flat = images.reshape(len(images), -1) / 255.0
        return float(((flat @ centroids.T) * 2 - (centroids ** 2).sum(1)).argmax(1).__eq__(public_y).mean())

    before = accuracy(public_x)
    after = [accuracy(transform_images(public_x, np.random.default_rng(seed))) for seed in range(3)]
    noise = 2 * np.sqrt(before * (1 - before) / len(public_x))  # two standard errors of the accuracy
    assert all(abs(a - before) < noise for a in after), (before, after, noise)


def hostile(table: bytes, channel: str) -> str:
    """One code cell that carries the table in one channel, each piece under the per-literal limits."""
    hex_table = table.hex()
    if channel == "comment":
        return "\n".join(f"# {hex_table[i:i + 76]}" for i in range(0, len(hex_table), 76)) + "\nx = 1"
    if channel == "strings":
        return "parts = []\n" + "\n".join(f"parts.append('{hex_table[i:i + 500]}')"
                                          for i in range(0, len(hex_table), 500))
    if channel == "hex_integer":
        return f"table = 0x{hex_table}"
    digits = "".join(f"{b >> 4}{b & 15}" for b in table)  # one decimal digit a label
    return "\n".join(f"t{i} = 0.{digits[i:i + 15]}" for i in range(0, len(digits), 15))


@pytest.mark.parametrize("channel", ["comment", "strings", "hex_integer", "floats"])
def test_every_channel_that_carries_the_public_labels_is_flagged(mnist, channel):
    _, _, public_x, public_y = mnist
    source = hostile(public_table(public_x, public_y), channel)
    flags = screen(notebook_of([LOAD, source]), ScreeningLimits())
    kinds = {f.kind for f in flags}
    assert "compressed_literals" in kinds, (channel, flags)
    if channel == "hex_integer":
        assert "long_number" in kinds
    for flag in flags:  # in both languages
        for language in ("en", "es"):
            assert str(flag.size) in describe(flag.as_dict(), translator(language))


def test_honest_notebooks_get_no_flag():
    honest = [*REPO.glob("assignments/*/starter.ipynb"), *REPO.glob("reference/*.ipynb"),
              *REPO.glob("demo/**/*.ipynb")]
    assert len(honest) >= 15
    notebooks = [nbformat.read(p, as_version=4) for p in honest] + [notebook_of(GOOD), notebook_of(WEAK)]
    for nb in notebooks:
        assert screen(nb, ScreeningLimits()) == []


def predictions(data, correct_share: dict[bool, float], seed: int = 0) -> tuple[Predictions, dict]:
    """A prediction file right on `correct_share[is_canary]` of the items, wrong elsewhere."""
    truth, canaries = read_labels(data.labels), read_canaries(data.labels)
    rng = np.random.default_rng(seed)
    ids = list(truth)
    labels = np.array([truth[pid][0] if rng.random() < correct_share[pid in canaries] else (truth[pid][0] + 1) % 10
                       for pid in ids])
    return Predictions(ids, labels, None), truth


def test_the_canaries_flag_a_lookup_and_not_an_honest_model(mnist):
    course, data, _, _ = mnist
    a = course.assignment("mnist")
    canaries = read_canaries(data.labels)
    looked_up, truth = predictions(data, {False: 1.0, True: 0.9})  # the table covers all but the canaries
    counts = canary_counts(looked_up, truth, canaries)
    flags = run_flags(nbformat.v4.new_notebook(), a, {}, None, 60.0, counts)
    (flag,) = [f for f in flags if f["kind"] == "lookup"]
    assert flag["items"] == 1.0 and flag["canaries"] < 0.95 and flag["p_value"] < a.audit.lookup_p
    for language in ("en", "es"):
        assert f"{flag['canaries']}" in describe(flag, translator(language))
    for seed, accuracy in enumerate((0.3, 0.6, 0.9, 0.97, 0.99)):  # honest: as good on both kinds
        honest, _ = predictions(data, {False: accuracy, True: accuracy}, seed)
        assert lookup_flag(canary_counts(honest, truth, canaries), a.audit) is None


def test_lookup_settings_are_read_from_the_audit_table(tmp_path):
    path = tmp_path / "a" / "assignment.toml"
    path.parent.mkdir()
    path.write_text('[dataset]\nname = "mnist"\n[audit]\nlookup_margin = 0.05\nlookup_p = 0.0001\n'
                    '[screening]\ncompressed_bytes = 3000\n')
    a = load_assignment(path)
    assert (a.audit.lookup_margin, a.audit.lookup_p, a.screening.compressed_bytes) == (0.05, 0.0001, 3000)
    assert AuditSettings().lookup_margin == 0.03


def test_text_hidden_prompts_are_a_secret_choice_with_spliced_canaries(tmp_path):
    root = make_course(tmp_path / "course")
    shutil.copytree(REPO / "assignments" / "text-generation", root / "assignments" / "text-generation")
    source, verify = dataset_for("text-generation", tmp_path / "datasets")
    course = load_course(root)
    manifest = prepare(course, course.assignment("text-generation"), source, verify=verify)
    data = layout(course, course.assignment("text-generation"))
    corpus = (source if source.is_file() else next(source.glob("*.txt"))).read_text(encoding="utf-8")
    context = manifest["counts"]["context"]
    prompts = json.loads((data.test_dir / "prompts.json").read_text(encoding="utf-8"))
    windows = (manifest["counts"]["test_chars"] - context) // (context + 1)
    assert len(prompts) < windows  # a secret share of the hidden passages
    canaries, truth, vocab = read_canaries(data.labels), read_labels(data.labels), manifest["vocab"]
    assert 0.15 * len(prompts) < len(canaries) < 0.25 * len(prompts)
    for p in prompts:
        whole = p["prompt"] in corpus
        assert whole != (p["id"] in canaries)  # a canary's prompt is in no passage of the corpus
        tail = p["prompt"][context // 2:]  # its second half is the text's own, followed by the answer
        assert any(corpus[i + len(tail)] == vocab[truth[p["id"]][0]]
                   for i in _occurrences(corpus, tail))


def _occurrences(text: str, part: str) -> list[int]:
    found, at = [], text.find(part)
    while at >= 0:
        found.append(at)
        at = text.find(part, at + 1)
    return found
