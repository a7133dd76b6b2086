"""Dataset sources and the public/hidden layout that notebooks and the scorer read."""

from grader.data.prepare import DataLayout, layout, prepare, read_labels
from grader.data.sources import SOURCES, DataError, RawDataset, load_source

__all__ = ["SOURCES", "DataError", "DataLayout", "RawDataset", "layout", "load_source", "prepare", "read_labels"]
