"""grader: run students' notebooks in a sandbox, score them on hidden labels, grade and publish.

The Python API behind the `grader` command:

    from grader import load_course, prepare_data, run, check, Gradebook
    course = load_course("demo")
    prepare_data(course, course.assignment("digits"))
    report = run(course, course.root / "submissions")
"""

from importlib import import_module

# Imported on first use: `import grader` stays cheap for the executor (grader.runners.execute) and
# for commands that need one part of the package.
_API = {
    "check": ("grader.check", "check"),
    "Assignment": ("grader.course", "Assignment"),
    "ConfigError": ("grader.course", "ConfigError"),
    "Course": ("grader.course", "Course"),
    "load_assignment": ("grader.course", "load_assignment"),
    "load_course": ("grader.course", "load_course"),
    "prepare_data": ("grader.data", "prepare"),
    "Gradebook": ("grader.gradebook", "Gradebook"),
    "run": ("grader.pipeline", "run"),
}


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'grader' has no attribute {name!r}")
    module, attribute = _API[name]
    return getattr(import_module(module), attribute)


__all__ = sorted(_API)
