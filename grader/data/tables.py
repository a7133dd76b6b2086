"""The "table" source: an instructor's rows in one CSV or Parquet file (`[dataset] path`, or `--from`).

One row per example: the label column (`[dataset] label`, default "label") holds the row's class,
the feature columns (`[dataset] features`, default every other column but those that number the
rows) its inputs. The path may be a folder holding one .csv, .parquet or .pq file.

A column that numbers the rows tells a hidden row's neighbours in the file, and in a file sorted
by class its label, so the default features leave out `id` (in any case, with any spaces or
underscores around it: the prepared tables carry their own opaque ids in `id`), the index pandas
writes into a CSV (`Unnamed: 0`) or a Parquet file (`__index_level_0__`), and refuse any other
column that holds a different value in each row, in order down the file: name the features
(`[dataset] features`) to keep such a column.

A CSV is read as UTF-8 text, cell by cell: the prepared tables hold each cell as the file wrote it
(`007` stays `007`), and an empty cell is a missing value. A Parquet file (read with pyarrow) keeps
its column types; an index pandas stored in it is read as a column like any other. Either way the
prepared tables are CSV (grader.data.prepare).

The classes are the label column's distinct values, sorted (as numbers when all are integers),
exactly as classes.txt lists them; `[dataset] classes` keeps only the rows of those classes, in
that order. A row without a label is an error, and so are labels that are not whole numbers
(a regression table, which this grader does not score). The file's checksum is recorded
(grader.data.lock).

A table has no test split of its own: prepare carves the hidden rows out of it, or `[dataset]
hidden_from` names a private table with the same columns (grader.data.hidden).
"""

from __future__ import annotations

import json
import re
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd

from grader.data.sources import DataError, RawTable, SourceFacts, SourceOptions, register, sha256_file

TABLE_SUFFIXES = (".csv", ".parquet", ".pq")
ID_COLUMN = "id"  # the prepared tables' own column: the opaque id of each hidden row
# Columns that number the rows (see the module docstring): never a default feature.
ROW_NUMBERS = re.compile(r"[\s_]*id[\s_]*|Unnamed: \d+|__index_level_\d+__", re.I)


def table_file(from_path: Path) -> Path:
    """The table: from_path itself, or the one table file in that folder."""
    if from_path.is_dir():
        found = sorted(p for p in from_path.iterdir() if p.suffix.lower() in TABLE_SUFFIXES and p.is_file())
        if len(found) != 1:
            raise DataError(f"{from_path}: expected one table file ({', '.join(TABLE_SUFFIXES)}), found "
                            f"{', '.join(p.name for p in found) or 'none'}")
        return found[0]
    if from_path.suffix.lower() not in TABLE_SUFFIXES:
        raise DataError(f"{from_path}: a table is a CSV or Parquet file ({', '.join(TABLE_SUFFIXES)})")
    return from_path


@contextmanager
def _reading(path: Path):
    """A file that cannot be read as a table is a DataError naming it."""
    try:
        yield
    except ImportError as exc:
        raise DataError(f"{path}: reading Parquet needs pyarrow (`pip install pyarrow`): {exc}") from None
    except (OSError, ValueError) as exc:  # pandas' and pyarrow's parse errors are ValueErrors
        raise DataError(f"{path}: not a readable {'CSV' if _is_csv(path) else 'Parquet'} table ({exc})") from exc


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() == ".csv"


def header(path: Path) -> list[str]:
    """The table's column names."""
    with _reading(path):
        if _is_csv(path):
            return [str(c) for c in pd.read_csv(path, nrows=0, skipinitialspace=True, encoding="utf-8").columns]
        import pyarrow.parquet

        return list(pyarrow.parquet.read_schema(path).names)


def _read(path: Path, columns: list[str]) -> pd.DataFrame:
    """These columns of the table: a CSV as text, a Parquet file with its types."""
    with _reading(path):
        if _is_csv(path):
            return pd.read_csv(path, usecols=columns, dtype=str, keep_default_na=False, na_values=[""],
                               skipinitialspace=True, encoding="utf-8")
        import pyarrow.parquet

        # Without pandas' metadata: an index it stored is a column, never the frame's index (which would
        # leave the column asked for missing).
        return pyarrow.parquet.read_table(path, columns=columns).to_pandas(ignore_metadata=True)


def feature_columns(path: Path, label: str, features: tuple[str, ...] | None) -> list[str]:
    """The feature columns, from the file's header (see the module docstring); DataError names a missing one."""
    names = header(path)
    if len(set(names)) != len(names):
        raise DataError(f"{path}: columns {', '.join(sorted({c for c in names if names.count(c) > 1}))} "
                        "appear twice; name each column once")
    if label == ID_COLUMN or (features is not None and ID_COLUMN in features):
        raise DataError(f"{path}: the column `{ID_COLUMN}` cannot be a feature or the label: the prepared tables "
                        "hold their own ids in it (rename yours)")
    if label not in names:
        raise DataError(f"{path}: no label column '{label}' (columns: {', '.join(names[:30])}); name it with "
                        "`label = \"...\"` in the assignment's [dataset]")
    if features is None:
        chosen = [c for c in names if c != label and not ROW_NUMBERS.fullmatch(c)]
    else:
        missing = [c for c in features if c not in names]
        if missing:
            raise DataError(f"{path}: no column {', '.join(missing)} (the assignment's [dataset] features; the "
                            f"file has {', '.join(names[:30])})")
        if label in features:
            raise DataError(f"{path}: the label column '{label}' is also in the assignment's [dataset] features")
        chosen = list(features)
    if not chosen:
        raise DataError(f"{path}: no feature column beside the label '{label}'")
    return chosen


def _label_names(path: Path, values: pd.Series) -> np.ndarray:
    """Each row's class name, as text."""
    missing = np.flatnonzero(values.isna().to_numpy())
    if len(missing):
        rows = ", ".join(str(r + 1) for r in missing[:5])
        raise DataError(f"{path}: {len(missing)} row(s) have no label in column '{values.name}' (data rows {rows}"
                        f"{', ...' if len(missing) > 5 else ''})")
    if values.dtype.kind == "f":
        if not np.all(np.mod(values.to_numpy(), 1) == 0):
            raise DataError(f"{path}: the label column '{values.name}' holds fractional numbers: a classification "
                            "table needs class labels (names or whole numbers)")
        values = values.astype(np.int64)
    return values.astype(str).to_numpy(dtype=object)


def _sorted_classes(names: np.ndarray) -> list[str]:
    distinct = set(names.tolist())
    try:
        return sorted(distinct, key=lambda c: (int(c), c))  # 2 before 10
    except ValueError:
        return sorted(distinct)


def read_labelled(path: Path, features: list[str], label: str) -> tuple[pd.DataFrame, np.ndarray]:
    """(the feature columns, each row's class name) of a table file."""
    frame = _read(path, [*features, label])
    return frame[features].reset_index(drop=True), _label_names(path, frame[label])


def _refuse_row_numbers(path: Path, x: pd.DataFrame) -> None:
    """DataError naming a default feature that holds a different value in each row, in order down the file."""
    if len(x) < 3:
        return
    for column in x.columns:
        values = x[column]
        try:
            if values.isna().any() or not values.is_unique:
                continue
        except TypeError:  # a Parquet column of lists: no row number
            continue
        numbers = pd.to_numeric(values, errors="coerce")  # a CSV's cells are text: "10" after "9"
        ordered = values if numbers.isna().any() else numbers
        if ordered.is_monotonic_increasing or ordered.is_monotonic_decreasing:
            others = [str(c) for c in x.columns if c != column]
            raise DataError(f"{path}: the column '{column}' holds a different value in each row, in order down the "
                            "file: a row number, which tells a hidden row's neighbours (and, in a file sorted by "
                            "class, its label). Name the features without it in the assignment's [dataset]: "
                            f"features = {json.dumps(others, ensure_ascii=False)}")


def peek_table(from_path: Path, options: SourceOptions) -> SourceFacts:
    path = table_file(from_path)
    features = feature_columns(path, options.label, options.features)
    names = _label_names(path, _read(path, [options.label])[options.label])  # one column: cheap beside all
    return SourceFacts("table", classes=tuple(_sorted_classes(names)), columns=tuple(features))


@register("table", peek=peek_table)
def load_table(from_path: Path | None, verify: bool = True, options: SourceOptions = SourceOptions()) -> RawTable:
    path = table_file(from_path)
    x, names = read_labelled(path, feature_columns(path, options.label, options.features), options.label)
    if options.features is None:  # named features are the instructor's choice
        _refuse_row_numbers(path, x)
    classes = _sorted_classes(names)
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[n] for n in names], dtype=np.int64)
    return RawTable(x, y, classes, options.label, checksums={path.name: sha256_file(path)}, origin=str(path))
