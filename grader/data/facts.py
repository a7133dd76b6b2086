"""What an assignment's prepared data will look like, known without preparing it (READMEs, doctor, new assignments).

A practical's source has fixed facts (grader.data.sources.SOURCE_FACTS). A generic source's
facts come from its files, read cheaply (folder names, an .npz's labels and image header, a
table's header and label column): the form, an image's shape, a table's feature columns, and the
classes exactly as classes.txt will list them (`[dataset] classes` keeps and orders a subset).
When the assignment gives no `[dataset] path` (its data was prepared with `--from`), the prepared
data's manifest says the same.
"""

from __future__ import annotations

from grader.course import Assignment, ConfigError, Course
from grader.data.prepare import layout, source_path
from grader.data.sources import PEEKS, SOURCE_FACTS, SOURCES, DataError, SourceFacts, SourceOptions


def source_facts(course: Course, a: Assignment) -> SourceFacts:
    """The assignment's data facts; DataError when a generic source's data is not where it says, nor prepared."""
    if a.dataset not in SOURCES:
        raise ConfigError(a.path / "assignment.toml", "dataset.name", f"one of {', '.join(sorted(SOURCES))}",
                          a.dataset)
    if a.dataset in SOURCE_FACTS:
        facts = SOURCE_FACTS[a.dataset]
    elif a.data_path is None and layout(course, a).manifest_path.is_file():
        return _prepared(course, a)
    else:
        facts = PEEKS[a.dataset](source_path(a), SourceOptions.of(a))
    if not a.classes:
        return facts
    missing = [c for c in a.classes if facts.classes is not None and c not in facts.classes]
    if missing:
        raise DataError(f"{a.data_path or a.dataset}: no class {', '.join(missing)} (the assignment's [dataset] "
                        f"classes; the data has {', '.join((facts.classes or ())[:20])})")
    return SourceFacts(facts.form, facts.shape, a.classes, facts.columns)


def _prepared(course: Course, a: Assignment) -> SourceFacts:
    manifest = layout(course, a).manifest()
    if manifest.get("dataset") != a.dataset or "form" not in manifest:
        raise DataError(f"{layout(course, a).root}: prepared from another source or by an earlier grader; run "
                        f"`grader data prepare {a.name} --from PATH` (or set `path` in its [dataset])")
    classes = None if manifest["form"] == "text" else tuple(manifest["classes"])
    return SourceFacts(manifest["form"], tuple(manifest.get("shape", ())), classes, tuple(manifest.get("columns", ())))
