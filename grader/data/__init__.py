"""Dataset sources and the public/hidden layout that notebooks and the scorer read."""

from grader.data import arrays, images, tables, text  # noqa: F401  (register the sources they define)
from grader.data.facts import source_facts
from grader.data.prepare import DataLayout, layout, prepare, read_labels
from grader.data.sources import (SOURCES, DataError, RawDataset, RawTable, SourceFacts, SourceOptions, TextCorpus,
                                 load_source)

__all__ = ["SOURCES", "DataError", "DataLayout", "RawDataset", "RawTable", "SourceFacts", "SourceOptions",
           "TextCorpus", "layout", "load_source", "prepare", "read_labels", "source_facts"]
