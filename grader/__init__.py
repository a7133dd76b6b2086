"""grader: run students' notebooks in a sandbox, score them on hidden labels, grade and publish.

The Python API behind the `grader` command:

    from grader import load_course, prepare_data, run, check, Gradebook
    course = load_course("demo")
    prepare_data(course, course.assignment("digits"))
    report = run(course, course.root / "submissions")
"""

from grader.check import check
from grader.course import Assignment, ConfigError, Course, load_assignment, load_course
from grader.data import prepare as prepare_data
from grader.gradebook import Gradebook
from grader.pipeline import run

__all__ = ["Assignment", "ConfigError", "Course", "Gradebook", "check", "load_assignment", "load_course",
           "prepare_data", "run"]
