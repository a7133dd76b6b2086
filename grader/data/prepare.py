"""Build an assignment's data: public training data, hidden test inputs, and the labels kept apart.

Layout under `<workdir>/data/<assignment>/`. Training, validation and the practice split of
`grader check` derive from the assignment's public seed; the hidden test split (which examples of
a source without a test split it takes, its shuffle, its public and private halves, its ids)
derives from the seed and the course secret (`grader.secret`), so nobody without the secret can
rebuild it:

    public/   the notebook's data_dir: classes.txt and the training data (see below)
    test/     the notebook's test_dir: hidden test inputs under opaque ids, no labels
    private/  labels.csv (id, label, split)               -> never given to a notebook
    check/    test/ and labels.csv from the validation split, for `grader check`
    manifest.json                                         -> checksums, counts, classes, version

What public/ and test/ hold depends on the source's form:

    image arrays   public/train.npz, valid.npz (x, y)       test/test.npz (id, x)
    image files    public/train/<class>/*.jpg, valid/...    test/images/<id>.jpg (see below)
                   or (layout "csv") public/images/*.jpg with train.csv, valid.csv (id, label)
    table          public/train.csv, valid.csv (features    test/test.csv (id, features)
                   and the label column, by class name)
    text           public/train.txt, valid.txt, vocab.json   test/prompts.json [{id, prompt}]

check/test/ holds the validation inputs in test/'s form (a table's: check/test/test.csv).

The source's files come from `--from`, else the assignment's `[dataset] path` (relative to the
course folder); a generic source (grader.data.sources) needs one of them. Their checksums are
recorded in `assignments/<name>/data.lock.json` at the first prepare and verified by every later
one before anything is written (grader.data.lock; for own data, keyed from the course secret):
commit the lock with the course, and a colleague's prepare uses the same data or says which file
differs. `verify=False` (`--no-verify`) accepts data that differs from the official files or from
the lock, and records it again.

A source without a test split loses a share (test_fraction) of its examples to the hidden test,
drawn with the course secret: with the public seed, anyone holding the source (a public dataset,
a table committed by mistake) would know which examples are hidden, and from the public rows around
them, their labels. The examples left keep the source's order, and the public seed splits them.
Every hidden image is decoded and written again as `<id>.jpg` (JPEG, quality 95, no metadata), a
private one too: neither the source's format nor an EXIF date, camera or text chunk says which
photos, of which class, it comes from.

A table's hidden rows are shuffled and named with the course secret (`hidden_from`: a private
table with the same columns instead).
The public-hidden defences of image and text sources (grader.data.public_hidden) do not apply: a
table is taken as the instructor's own data, with no public labelled copy to look rows up in; a
shift would falsify exact or categorical values, and a public copy could be matched on its feature
values however they were perturbed. A table that is public needs a private hidden table.
"""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
import tempfile
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from grader.course import Assignment, Course
from grader.data import lock
from grader.data.hidden import hidden_examples, hidden_table, hidden_text
from grader.data.public_hidden import (CANARY_SHARE, canary_mask, mix_canaries, secret_subset, splice_prompts,
                                       encode_hidden_image, transform_images, write_canaries)
from grader.data.sources import (PEEKS, DataError, RawDataset, RawTable, SourceOptions, TextCorpus, load_source,
                                 sha256_file)
from grader.data.tables import ID_COLUMN
from grader.secret import derive, derive_seed, fingerprint, load_secret

@dataclass(frozen=True)
class DataLayout:
    root: Path

    @property
    def data_dir(self) -> Path:
        return self.root / "public"

    @property
    def test_dir(self) -> Path:
        return self.root / "test"

    @property
    def labels(self) -> Path:
        return self.root / "private" / "labels.csv"

    @property
    def check_test_dir(self) -> Path:
        return self.root / "check" / "test"

    @property
    def check_labels(self) -> Path:
        return self.root / "check" / "labels.csv"

    @property
    def manifest_path(self) -> Path:
        return self.root / "manifest.json"

    @property
    def classes(self) -> list[str]:
        """What a label may be, by position (for text: the vocabulary indices as strings)."""
        return self.manifest()["classes"]

    def manifest(self) -> dict:
        if not self.manifest_path.is_file():
            raise DataError(f"{self.root}: data not prepared; run `grader data prepare "
                            f"{self.root.name}` first")
        return json.loads(self.manifest_path.read_text(encoding="utf-8"))


def layout(course: Course, assignment: Assignment) -> DataLayout:
    return DataLayout(course.workdir / "data" / assignment.name)


@dataclass(frozen=True)
class Hidden:
    """What the hidden split is drawn from, and the secret that shuffles and names it."""

    secret: bytes
    source: Path | None  # a private hidden set; None: the source's own test split (public)


def source_path(a: Assignment, from_path: Path | None = None) -> Path | None:
    """The source's files: `from_path` (--from), else `[dataset] path`; None: a practical's download."""
    path = Path(from_path) if from_path else a.data_path
    if path is None:
        if a.dataset in PEEKS:
            raise DataError(f"assignment {a.name}: the '{a.dataset}' source reads your own files, and its [dataset] "
                            f"has no `path`: set it, or run `grader data prepare {a.name} --from PATH`")
        return None
    if not path.exists():
        given = "--from" if from_path else f"`path` in the [dataset] of {a.name}"
        raise DataError(f"{path}: no such file or folder ({given}); put the data there, or run "
                        f"`grader data prepare {a.name} --from PATH`")
    return path


def prepare(course: Course, assignment: Assignment, from_path: Path | None = None, verify: bool = True,
            hidden_from: Path | None = None) -> dict:
    """Load the source, split it and write the layout atomically; return the manifest.

    `from_path` (default: the assignment's `[dataset] path`) holds the source's files; `hidden_from`
    (default: the assignment's `[dataset] hidden_from`) is a private hidden test set.
    """
    if hidden_from is not None and not Path(hidden_from).exists():
        raise DataError(f"{hidden_from}: no such file or folder")
    hidden = Hidden(load_secret(course.workdir, create=True),
                    Path(hidden_from) if hidden_from else assignment.hidden_from)
    if hidden.source is not None and not hidden.source.exists():
        raise DataError(f"{hidden.source}: no such file or folder (the assignment's hidden_from)")
    raw = load_source(assignment.dataset, source_path(assignment, from_path), verify, SourceOptions.of(assignment))
    is_text, is_table = isinstance(raw, TextCorpus), isinstance(raw, RawTable)
    if is_text != (assignment.task == "next_character"):
        holds = "text" if is_text else "a table" if is_table else "labelled images"
        raise DataError(f"dataset '{assignment.dataset}' holds {holds}; assignment {assignment.name} has task "
                        f"'{assignment.task}'")
    if verify:
        lock.verify(assignment, raw.checksums, raw.origin, hidden.secret)
    if not is_text:
        raw = _only_classes(_check_raw(raw), assignment.classes)
    target = layout(course, assignment)
    target.root.parent.mkdir(parents=True, exist_ok=True)
    # Build beside the target and swap it in whole: a crash never leaves half-written data.
    staging = Path(tempfile.mkdtemp(prefix=f".{assignment.name}-", dir=target.root.parent))
    try:
        out = DataLayout(staging)
        for folder in (out.data_dir, out.test_dir, out.labels.parent, out.check_test_dir):
            folder.mkdir(parents=True, exist_ok=True)
        if is_text:
            facts = _write_text(out, raw, assignment, hidden)
        elif is_table:
            facts = _write_table(out, raw, assignment, hidden)
        else:
            facts = _write_examples(out, raw, assignment, hidden)
        facts["secret"] = fingerprint(hidden.secret)
        manifest = _write_manifest(out, raw, assignment, verify, facts)
        if target.root.exists():
            shutil.rmtree(target.root)
        staging.rename(target.root)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    lock.record(assignment, raw.checksums, hidden.secret if assignment.dataset in PEEKS else None)  # own data: keyed
    return manifest


def _check_raw(raw: RawDataset | RawTable) -> RawDataset | RawTable:
    if len(raw.x_train) != len(raw.y_train):
        raise DataError(f"{raw.origin}: {len(raw.x_train)} training inputs but {len(raw.y_train)} labels")
    if not len(raw.y_train):
        raise DataError(f"{raw.origin}: no labelled examples")
    if raw.y_train.min() < 0 or raw.y_train.max() >= len(raw.classes):
        raise DataError(f"{raw.origin}: labels outside 0..{len(raw.classes) - 1}")
    # classes.txt holds one name a line, and scoring strips what a notebook writes: names must survive both.
    bad = [c for c in raw.classes if not c or c != c.strip() or "\n" in c or "\r" in c]
    if bad:
        raise DataError(f"{raw.origin}: class names must be one line with no space around: {bad[:5]!r}")
    twice = sorted({c for c in raw.classes if raw.classes.count(c) > 1})
    if twice:
        raise DataError(f"{raw.origin}: class names given twice: {', '.join(twice)}")
    return raw


def _only_classes(raw: RawDataset | RawTable, wanted: tuple[str, ...] | None) -> RawDataset | RawTable:
    """Keep the classes an assignment names (two breeds out of Stanford Dogs' 120), re-indexed."""
    if not wanted:
        return raw
    missing = [c for c in wanted if c not in raw.classes]
    if missing:
        raise DataError(f"{raw.origin}: no class {', '.join(missing)} (it has {', '.join(raw.classes[:20])})")
    new_index = np.full(len(raw.classes), -1)
    for i, name in enumerate(wanted):
        new_index[raw.classes.index(name)] = i

    def select(x, y):
        if x is None:
            return None, None
        keep = new_index[y] >= 0
        return x[keep], new_index[y[keep]]

    x_train, y_train = select(raw.x_train, raw.y_train)
    x_test, y_test = select(raw.x_test, raw.y_test)
    return replace(raw, x_train=x_train, y_train=y_train, classes=list(wanted), x_test=x_test, y_test=y_test)


def opaque_ids(seed: int, name: str, count: int, secret: bytes | None = None) -> np.ndarray:
    """Ids that say nothing about order or label: the same for the same seed (and secret, when given)."""
    if secret is not None:
        return np.array([derive(secret, name, seed, i).hex()[:12] for i in range(count)])
    return np.array([hashlib.sha256(f"{name}:{seed}:{i}".encode()).hexdigest()[:12] for i in range(count)])


def _carve(n: int, a: Assignment, secret: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(hidden, kept): the examples of a source without a test split that go to the hidden test, drawn with
    the course secret, and the others in the source's order (see the module docstring)."""
    order = np.random.default_rng(derive_seed(secret, a.name, a.seed, "hidden examples")).permutation(n)
    cut = int(round(n * a.test_fraction))
    return order[:cut], np.sort(order[cut:])


def _public_splits(n: int, fraction: float, secret: bytes, a: Assignment) -> np.ndarray:
    """Which hidden items rank before the reveal: a secret choice, not the first rows of the test file, so
    that a notebook cannot tell which of its predictions move its public score."""
    public = np.zeros(n, dtype=bool)
    rng = np.random.default_rng(derive_seed(secret, a.name, a.seed, "public half"))
    public[rng.permutation(n)[:int(round(n * fraction))]] = True
    return np.where(public, "public", "private")


def _write_examples(out: DataLayout, raw: RawDataset, a: Assignment, hidden: Hidden) -> dict:
    rng = np.random.default_rng(a.seed)  # public: what students may reproduce
    x_train, y_train, x_test, y_test = raw.x_train, raw.y_train, raw.x_test, raw.y_test
    defended = hidden.source is None  # a public hidden set (grader.data.public_hidden)
    if not defended:  # the source's own test split is not used: the private set replaces it
        x_test, y_test, digest = hidden_examples(hidden.source, raw)
        hidden_facts = {"hidden": {"public": False, "origin": str(hidden.source), "sha256": digest}}
    else:
        hidden_facts = {"hidden": {"public": True, "origin": raw.origin}}
        if x_test is None:
            held, kept = _carve(len(x_train), a, hidden.secret)
            x_test, y_test = x_train[held], y_train[held]
            x_train, y_train = x_train[kept], y_train[kept]
        # The canaries' pool: training examples held out with the public seed, in no public test table.
        order = rng.permutation(len(x_train))
        cut = int(round(len(x_test) * CANARY_SHARE))
        x_pool, y_pool = x_train[order[:cut]], y_train[order[:cut]]
        x_train, y_train = x_train[order[cut:]], y_train[order[cut:]]

    order = rng.permutation(len(x_train))
    n_valid = int(round(len(order) * a.validation_fraction))
    valid, train = order[:n_valid], order[n_valid:]
    secret_rng = np.random.default_rng(derive_seed(hidden.secret, a.name, a.seed, "test"))
    # A public hidden set: secret subsets of the test split and of the canaries' pool, mixed in a secret
    # order and transformed.
    if defended:
        x_test, y_test, canary = mix_canaries(x_test, y_test, x_pool, y_pool, secret_rng)
    else:
        test_order = secret_rng.permutation(len(x_test))
        x_test, y_test, canary = x_test[test_order], y_test[test_order], np.zeros(len(x_test), dtype=bool)
    test_ids = opaque_ids(a.seed, f"{a.name}/test", len(x_test), hidden.secret)
    splits = _public_splits(len(x_test), a.public_fraction, hidden.secret, a)
    check_ids = opaque_ids(a.seed, f"{a.name}/check", len(valid))

    (out.data_dir / "classes.txt").write_text("\n".join(raw.classes) + "\n", encoding="utf-8")
    if raw.holds_files:
        _write_image_files(out, raw.classes, a.layout, x_train, y_train, train, valid)
        _hidden_images(out.test_dir / "images", test_ids, x_test, secret_rng if defended else None)
        _copy_images(out.check_test_dir / "images", check_ids, x_train[valid])
    else:
        x_hidden = transform_images(x_test, secret_rng) if defended else x_test
        np.savez(out.data_dir / "train.npz", x=x_train[train], y=y_train[train])
        np.savez(out.data_dir / "valid.npz", x=x_train[valid], y=y_train[valid])
        np.savez(out.test_dir / "test.npz", id=test_ids, x=x_hidden)
        np.savez(out.check_test_dir / "test.npz", id=check_ids, x=x_train[valid])
    _write_labels(out.labels, test_ids, y_test, splits)
    if defended:
        write_canaries(out.labels, test_ids[canary])
    _write_labels(out.check_labels, check_ids, y_train[valid], np.full(len(valid), "public"))
    form = {"form": "files"} if raw.holds_files else {"form": "arrays", "shape": list(x_train.shape[1:])}
    return {**form, "classes": raw.classes, **hidden_facts, "counts": {
        "train": int(len(train)), "valid": int(n_valid), "test": int(len(x_test)),
        "test_public": int((splits == "public").sum()), "test_private": int((splits == "private").sum()),
        "canaries": int(canary.sum())}}


# A table's ids start with a letter, so that pandas reads them as text: a hex id such as 1234e5678901
# would otherwise parse as a number.
ROW_ID_PREFIX = "r"


def _write_table(out: DataLayout, raw: RawTable, a: Assignment, hidden: Hidden) -> dict:
    """Public rows with their class names in train.csv and valid.csv; hidden rows in test.csv under secret ids,
    in a secret order (no transform or canaries: see the module docstring)."""
    rng = np.random.default_rng(a.seed)  # public: what students may reproduce
    x, y = raw.x_train, raw.y_train
    if hidden.source is not None:
        x_test, y_test, digest = hidden_table(hidden.source, raw)
        hidden_facts = {"hidden": {"public": False, "origin": str(hidden.source), "sha256": digest}}
    else:
        held, kept = _carve(len(x), a, hidden.secret)
        x_test, y_test = x.iloc[held], y[held]
        x, y = x.iloc[kept], y[kept]
        hidden_facts = {"hidden": {"public": True, "origin": raw.origin, "defended": False}}
    order = rng.permutation(len(x))
    n_valid = int(round(len(order) * a.validation_fraction))
    valid, train = order[:n_valid], order[n_valid:]
    if min(len(train), n_valid, len(x_test)) == 0:
        raise DataError(f"{raw.origin}: {len(raw.x_train)} rows are too few for training, validation and hidden "
                        f"test rows (test_fraction {a.test_fraction}, validation_fraction {a.validation_fraction})")
    secret_rng = np.random.default_rng(derive_seed(hidden.secret, a.name, a.seed, "test"))
    test_order = secret_rng.permutation(len(x_test))
    x_test, y_test = x_test.iloc[test_order], y_test[test_order]
    test_ids = np.char.add(ROW_ID_PREFIX, opaque_ids(a.seed, f"{a.name}/test", len(x_test), hidden.secret))
    check_ids = np.char.add(ROW_ID_PREFIX, opaque_ids(a.seed, f"{a.name}/check", n_valid))
    splits = _public_splits(len(x_test), a.public_fraction, hidden.secret, a)
    names = np.array(raw.classes, dtype=object)

    (out.data_dir / "classes.txt").write_text("\n".join(raw.classes) + "\n", encoding="utf-8")
    for part, rows in (("train", train), ("valid", valid)):
        public = x.iloc[rows].reset_index(drop=True)
        public[raw.label] = names[y[rows]]
        _write_csv(out.data_dir / f"{part}.csv", public)
    for folder, ids, inputs in ((out.test_dir, test_ids, x_test), (out.check_test_dir, check_ids, x.iloc[valid])):
        _write_csv(folder / "test.csv", pd.concat([pd.DataFrame({ID_COLUMN: ids}), inputs.reset_index(drop=True)],
                                                  axis=1))
    _write_labels(out.labels, test_ids, y_test, splits)
    _write_labels(out.check_labels, check_ids, y[valid], np.full(n_valid, "public"))
    return {"form": "table", "classes": raw.classes, "columns": [str(c) for c in x.columns], "label": raw.label,
            **hidden_facts, "counts": {
                "train": int(len(train)), "valid": int(n_valid), "test": int(len(x_test)),
                "test_public": int((splits == "public").sum()), "test_private": int((splits == "private").sum()),
                "canaries": 0}}


def _write_csv(path: Path, frame: pd.DataFrame) -> None:
    frame.to_csv(path, index=False, lineterminator="\n", encoding="utf-8")


def _image_name(source: str) -> str:
    path = Path(source)
    suffix = ".jpg" if path.suffix.lower() in (".jpg", ".jpeg") else path.suffix.lower()
    return path.stem + suffix


def _public_names(files: np.ndarray, labels: np.ndarray, classes: list[str]) -> list[str]:
    """Each public image's name in the one images/ folder of layout "csv": its own, prefixed with its class
    where two classes hold the same name (cat/1.png and dog/1.png)."""
    names = [_image_name(f) for f in files]
    count = Counter(names)
    unique = [n if count[n] == 1 else f"{classes[label]}-{n}" for n, label in zip(names, labels)]
    twice = sorted(n for n, k in Counter(unique).items() if k > 1)
    if twice:
        raise DataError(f"two images of one class would both be named {', '.join(twice[:5])} (say 1.jpg and "
                        "1.jpeg): rename one, or use layout = \"folders\"")
    return unique


def _write_image_files(out: DataLayout, classes: list[str], style: str, x: np.ndarray, y: np.ndarray,
                       train: np.ndarray, valid: np.ndarray) -> None:
    names = _public_names(x, y, classes) if style == "csv" else []
    for part, rows in (("train", train), ("valid", valid)):
        if style == "folders":
            for i in rows:
                target = out.data_dir / part / classes[y[i]] / _image_name(x[i])
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(x[i], target)
            continue
        images = out.data_dir / "images"
        images.mkdir(exist_ok=True)
        with open(out.data_dir / f"{part}.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["id", "label"])
            for i in sorted(rows, key=lambda r: names[r]):
                shutil.copyfile(x[i], images / names[i])
                writer.writerow([Path(names[i]).stem, classes[y[i]]])


def _copy_images(folder: Path, ids: np.ndarray, files: np.ndarray) -> None:
    """The practice inputs: public validation images, as they are."""
    folder.mkdir(parents=True, exist_ok=True)
    for pid, source in zip(ids, files):
        shutil.copyfile(source, folder / (pid + Path(_image_name(source)).suffix))


def _hidden_images(folder: Path, ids: np.ndarray, files: np.ndarray, rng: np.random.Generator | None) -> None:
    """The hidden images as `<id>.jpg`, encoded again (see the module docstring); transformed when `rng` is given
    (a public hidden set)."""
    folder.mkdir(parents=True, exist_ok=True)
    for pid, source in zip(ids, files):
        try:
            encode_hidden_image(Path(source), folder / f"{pid}.jpg", rng)
        except OSError as exc:  # Pillow's UnidentifiedImageError too
            raise DataError(f"{source}: not a readable image ({exc})") from exc


def _windows(start: int, end: int, context: int) -> list[int]:
    """Starts of back-to-back windows of context + 1 characters: no prompt holds another's answer."""
    return list(range(start, end - context, context + 1))


def _write_text(out: DataLayout, corpus: TextCorpus, a: Assignment, hidden: Hidden) -> dict:
    public = corpus.text
    vocab = sorted(set(public))
    index = {c: i for i, c in enumerate(vocab)}
    # Contiguous parts, in reading order: train, then validation, then the hidden test at the end;
    # a private hidden text replaces the end, and the whole corpus is training and validation.
    if hidden.source is not None:
        private_text, digest = hidden_text(hidden.source, corpus)
        text, test_start = public + private_text, len(public)
        hidden_facts = {"hidden": {"public": False, "origin": str(hidden.source), "sha256": digest}}
    else:
        text, test_start = public, len(public) - int(round(len(public) * a.test_fraction))
        hidden_facts = {"hidden": {"public": True, "origin": corpus.origin}}
    valid_start = test_start - int(round(test_start * a.validation_fraction))
    # The hidden windows start up to `context` characters in (a secret phase), so they need more room.
    if min(valid_start, test_start - valid_start, len(text) - test_start - a.context) <= a.context + 1:
        raise DataError(f"{corpus.origin}: {len(text)} characters are too few for a context of {a.context}")
    (out.data_dir / "train.txt").write_text(text[:valid_start], encoding="utf-8")
    (out.data_dir / "valid.txt").write_text(text[valid_start:test_start], encoding="utf-8")
    (out.data_dir / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")

    # The hidden windows start at a secret offset and come in a secret order; the practice ones are public.
    # From a public text, the hidden windows are a secret choice of passages, with spliced canaries
    # (grader.data.public_hidden).
    secret_rng = np.random.default_rng(derive_seed(hidden.secret, a.name, a.seed, "test"))
    phase = int(secret_rng.integers(0, a.context + 1))
    counts, canaries = {}, 0
    for name, start, end, folder, labels, fraction, rng, secret, defended in (
            ("test", test_start + phase, len(text), out.test_dir, out.labels, a.public_fraction, secret_rng,
             hidden.secret, hidden.source is None),
            ("check", valid_start, test_start, out.check_test_dir, out.check_labels, 1.0,
             np.random.default_rng(a.seed), None, False)):
        windows = np.array(_windows(start, end, a.context))
        starts = windows[secret_subset(len(windows), rng)] if defended else rng.permutation(windows)
        canary = canary_mask(len(starts), rng) if defended else np.zeros(len(starts), dtype=bool)
        ids = opaque_ids(a.seed, f"{a.name}/{name}", len(starts), secret)
        texts = splice_prompts([text[s:s + a.context] for s in starts], canary)
        prompts = [{"id": pid, "prompt": prompt} for pid, prompt in zip(ids.tolist(), texts)]
        (folder / "prompts.json").write_text(json.dumps(prompts, ensure_ascii=False), encoding="utf-8")
        answers = np.array([index[text[s + a.context]] for s in starts])
        _write_labels(labels, ids, answers, _public_splits(len(starts), fraction, hidden.secret, a))
        if defended:
            write_canaries(labels, ids[canary])
        counts[name], canaries = len(starts), canaries + int(canary.sum())
    return {"form": "text", "classes": [str(i) for i in range(len(vocab))], "vocab": vocab, **hidden_facts, "counts": {
        "train_chars": valid_start, "valid_chars": test_start - valid_start, "test_chars": len(text) - test_start,
        "test": counts["test"], "check": counts["check"], "canaries": canaries, "context": a.context}}


def _write_manifest(out: DataLayout, raw: RawDataset | RawTable | TextCorpus, a: Assignment, verified: bool,
                    facts: dict) -> dict:
    files = sorted(p for p in out.root.rglob("*") if p.is_file())
    outputs = {str(p.relative_to(out.root)): sha256_file(p) for p in files}
    manifest = {
        "dataset": a.dataset,
        "origin": raw.origin,
        "seed": a.seed,
        "sources": raw.checksums,
        "verified": verified,
        **facts,
        "outputs": outputs,
        # The data version: any change to the source, seed or split changes it.
        "sha256": hashlib.sha256(json.dumps(outputs, sort_keys=True).encode()).hexdigest(),
    }
    out.manifest_path.write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
    return manifest


def _write_labels(path: Path, ids: np.ndarray, labels: np.ndarray, splits: np.ndarray) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "label", "split"])
        writer.writerows(zip(ids.tolist(), labels.tolist(), splits.tolist()))


def read_labels(path: Path) -> dict[str, tuple[int, str]]:
    """id -> (class index, split) from a labels.csv written above."""
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["id"]: (int(row["label"]), row["split"]) for row in csv.DictReader(fh)}
