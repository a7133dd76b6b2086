"""Dataset sources and the public/hidden layout that notebooks and the scorer read."""

from grader.data import images, text  # noqa: F401  (registers the image-folder and text sources)
from grader.data.prepare import DataLayout, layout, prepare, read_labels
from grader.data.sources import SOURCES, DataError, RawDataset, TextCorpus, load_source

__all__ = ["SOURCES", "DataError", "DataLayout", "RawDataset", "TextCorpus", "layout", "load_source", "prepare",
           "read_labels"]
