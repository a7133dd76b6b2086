"""The test suite, a package: its shared helpers import as `tests.helpers`, with no sys.path edits."""
