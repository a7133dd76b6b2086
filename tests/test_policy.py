"""The course policy with hand-computed expectations: best 2 of 3, rounding, deadlines, extensions.

The gradebook is filled directly (a run's outcome is what these rules read); the real runs that
produce such rows are covered in test_pipeline.py and test_moodle.py.
"""

from __future__ import annotations

import pytest

from grader.course import ConfigError, load_course
from grader.gradebook import Gradebook
from grader.grades import MISSING, PENDING, REJECTED, compute
from grader.policy import LatePolicy, Rounding
from tests.helpers import PRACTICAS_GROUP
from tests.helpers.policy import hand_in, policy_course


def grades_of(course, student):
    with Gradebook(course.gradebook_path) as book:
        result = compute(course, book)
    return next(s for s in result.students if s.student == student)


@pytest.mark.parametrize("hand_ins, final, counted", [
    ({"mnist": 8.0}, 4.0, {"mnist", "imagenet-subset"}),                   # (8 + 0) / 2
    ({"mnist": 7.5, "text-generation": 6.0}, 7.0, {"mnist", "text-generation"}),   # 6.75 up
    ({"mnist": 9.0, "imagenet-subset": 5.0, "text-generation": 7.0}, 8.0, {"mnist", "text-generation"}),
    ({"mnist": 7.0, "imagenet-subset": 7.0, "text-generation": 7.0}, 7.0, {"mnist", "imagenet-subset"}),  # tie
    ({"mnist": 6.0, "imagenet-subset": 8.0, "text-generation": 8.0}, 8.0, {"imagenet-subset", "text-generation"}),
])
def test_best_two_of_three_rounded_up(tmp_path, hand_ins, final, counted):
    course = policy_course(tmp_path)
    for assignment, grade in hand_ins.items():
        hand_in(course, "ana", assignment, grade)
    s = grades_of(course, "ana")
    assert s.final == final
    assert {a for a, c in s.components.items() if c.counted} == counted
    assert all(s.components[a].state == MISSING for a in PRACTICAS_GROUP if a not in hand_ins)


@pytest.mark.parametrize("mode, step, value, expected", [
    ("up", 1, 7.5, 8.0), ("up", 1, 7.01, 8.0), ("up", 1, 6.99, 7.0), ("up", 1, 7.0, 7.0),
    ("up", 1, 7.000000000000001, 7.0),  # float noise is not a reason to round up
    ("nearest", 1, 7.5, 8.0), ("nearest", 1, 6.5, 7.0), ("nearest", 1, 7.49, 7.0),  # halves go up, not to even
    ("up", 0.5, 7.01, 7.5), ("up", 0.5, 7.5, 7.5), ("nearest", 0.5, 7.74, 7.5), ("nearest", 0.5, 7.75, 8.0),
    ("down", 1, 7.99, 7.0), ("none", 1, 7.01, 7.01),
])
def test_rounding_at_half_and_hundredth(mode, step, value, expected):
    assert Rounding(mode, step)(value) == expected


def test_float_sum_that_is_exactly_seven_is_not_rounded_up(tmp_path):
    course = policy_course(tmp_path)
    hand_in(course, "ana", "mnist", 6.8)
    hand_in(course, "ana", "imagenet-subset", 7.2)
    assert grades_of(course, "ana").final == 7.0
    hand_in(course, "eva", "mnist", 7.0)
    hand_in(course, "eva", "imagenet-subset", 7.01)  # 7.005 -> up
    assert grades_of(course, "eva").final == 8.0


def test_rounding_to_a_half_through_the_course(tmp_path):
    course = policy_course(tmp_path, rounding="up", step=0.5)
    hand_in(course, "ana", "mnist", 7.0)
    hand_in(course, "ana", "imagenet-subset", 7.1)  # 7.05 -> 7.5
    s = grades_of(course, "ana")
    assert (s.final_unrounded, s.final) == (pytest.approx(7.05), 7.5)


# The deadline is 2027-01-15 23:59 in Madrid (UTC+1 in January): 22:59 UTC.
ON_TIME = "2027-01-15T22:59:00+00:00"
ONE_MINUTE_LATE = "2027-01-15T23:00:00+00:00"
TWO_DAYS_LATE = "2027-01-17T12:00:00+00:00"
FOUR_DAYS_LATE = "2027-01-19T12:00:00+00:00"


def test_late_by_one_minute_is_one_day_late(tmp_path):
    course = policy_course(tmp_path, rounding="none")
    hand_in(course, "ana", "mnist", 8.0, ON_TIME)
    hand_in(course, "bea", "mnist", 8.0, ONE_MINUTE_LATE)
    hand_in(course, "carl", "mnist", 8.0, TWO_DAYS_LATE)
    hand_in(course, "dani", "mnist", 8.0, FOUR_DAYS_LATE)  # past max_days = 3: rejected
    assert grades_of(course, "ana").components["mnist"].grade == 8.0
    bea = grades_of(course, "bea").components["mnist"]
    assert (bea.chosen.lateness.days, bea.grade) == (1, 7.0)
    assert grades_of(course, "carl").components["mnist"].grade == 6.0
    dani = grades_of(course, "dani").components["mnist"]
    assert (dani.state, dani.grade) == (REJECTED, 0.0)


def test_reject_mode_refuses_one_minute_late(tmp_path):
    course = policy_course(tmp_path, late="reject")
    hand_in(course, "bea", "mnist", 8.0, ONE_MINUTE_LATE)
    assert grades_of(course, "bea").components["mnist"].state == REJECTED


def test_an_assignment_can_override_the_course_late_rule(tmp_path):
    course = policy_course(tmp_path, rounding="none")
    toml = tmp_path / "assignments" / "mnist" / "assignment.toml"
    toml.write_text(toml.read_text().replace("[dataset]", '[late]\nmode = "accept"\n[dataset]'))
    course = load_course(tmp_path)
    hand_in(course, "bea", "mnist", 8.0, TWO_DAYS_LATE)
    assert grades_of(course, "bea").components["mnist"].grade == 8.0


def test_extension_moves_one_students_deadline(tmp_path):
    extra = '[[policy.extensions]]\nstudent = "X123"\nassignment = "mnist"\nuntil = "2027-01-18"\n'
    course = policy_course(tmp_path, rounding="none", extra=extra)
    with Gradebook(course.gradebook_path) as book:
        book.set_student("ana", id_number="X123")
    hand_in(course, "ana", "mnist", 8.0, TWO_DAYS_LATE)  # by ID number: on time for her
    hand_in(course, "bea", "mnist", 8.0, TWO_DAYS_LATE)
    assert grades_of(course, "ana").components["mnist"].chosen.lateness.days == 0
    assert grades_of(course, "ana").components["mnist"].grade == 8.0
    assert grades_of(course, "bea").components["mnist"].grade == 6.0


def test_resubmission_last_on_time_counts_or_best_by_option(tmp_path):
    course = policy_course(tmp_path / "last", rounding="none")
    hand_in(course, "ana", "mnist", 9.0, "2027-01-10T10:00:00+00:00")
    hand_in(course, "ana", "mnist", 6.0, "2027-01-12T10:00:00+00:00")
    hand_in(course, "ana", "mnist", 10.0, TWO_DAYS_LATE)  # after the deadline: the on-time one counts
    mnist = grades_of(course, "ana").components["mnist"]
    assert (mnist.grade, len(mnist.attempts)) == (6.0, 3)

    course = policy_course(tmp_path / "best", counts="best", rounding="none")
    hand_in(course, "ana", "mnist", 9.0, "2027-01-10T10:00:00+00:00")
    hand_in(course, "ana", "mnist", 6.0, "2027-01-12T10:00:00+00:00")
    hand_in(course, "ana", "mnist", 10.0, TWO_DAYS_LATE)  # 10 - 2 days = 8 < 9
    assert grades_of(course, "ana").components["mnist"].grade == 9.0


def test_the_feedback_says_which_submission_counted_among_how_many(tmp_path):
    from grader.grades import explain
    from grader.i18n import translator
    course = policy_course(tmp_path / "last", rounding="none")
    hand_in(course, "ana", "mnist", 9.0, "2027-01-10T10:00:00+00:00")
    hand_in(course, "ana", "mnist", 6.0, "2027-01-12T10:00:00+00:00")
    hand_in(course, "ana", "mnist", 10.0, TWO_DAYS_LATE)  # not one of those made on time
    hand_in(course, "bea", "mnist", 9.0, TWO_DAYS_LATE)
    hand_in(course, "bea", "mnist", 8.0, TWO_DAYS_LATE)
    es, en = translator("es"), translator("en")

    def said(student, t):
        return explain(grades_of(course, student).components["mnist"], None, course.policy, t)

    assert said("ana", es).endswith("; cuenta la última de las 2 entregas hechas en plazo")
    assert said("ana", en).endswith("; the last of the 2 submissions made on time counts")
    assert said("bea", en).endswith("; nothing came on time: the last of the 2 late submissions counts")
    best = policy_course(tmp_path / "best", counts="best", rounding="none")
    hand_in(best, "ana", "mnist", 9.0, "2027-01-10T10:00:00+00:00")
    hand_in(best, "ana", "mnist", 6.0, "2027-01-12T10:00:00+00:00")
    component = grades_of(best, "ana").components["mnist"]
    assert explain(component, None, best.policy, es).endswith("; cuenta la mejor de las 2 entregas")


def test_only_late_submission_counts_with_its_penalty(tmp_path):
    course = policy_course(tmp_path, rounding="none")
    hand_in(course, "ana", "mnist", 9.0, TWO_DAYS_LATE)
    assert grades_of(course, "ana").components["mnist"].grade == 7.0


def test_failed_run_is_zero_and_unfinished_run_is_pending(tmp_path):
    course = policy_course(tmp_path)
    hand_in(course, "ana", "mnist", None, status="failed")
    hand_in(course, "ana", "imagenet-subset", 6.0)
    ana = grades_of(course, "ana")
    assert (ana.components["mnist"].grade, ana.final) == (0.0, 3.0)
    hand_in(course, "bea", "mnist", None, status=None)  # registered, not run yet
    hand_in(course, "bea", "imagenet-subset", 6.0)
    bea = grades_of(course, "bea")
    assert bea.components["mnist"].state == PENDING and bea.final is None


def test_feedback_explains_in_the_course_language(tmp_path):
    course = policy_course(tmp_path, language="es")
    from grader.grades import feedback
    from grader.i18n import translator
    for assignment, grade in zip(PRACTICAS_GROUP, (9.0, 5.0, 7.0)):
        hand_in(course, "ana", assignment, grade)
    text = feedback(grades_of(course, "ana"), course.policy, translator("es"))
    assert "imagenet-subset: 5 (accuracy 0.5000); no cuenta (cuentan las 2 mejores de 3)" in text
    assert text.endswith("Nota final: 8.")


def test_late_policy_unit():
    from datetime import datetime, timezone
    deadline = datetime(2027, 1, 15, 22, 59, tzinfo=timezone.utc)
    rule = LatePolicy("penalty", 0.5, grace_minutes=5)
    assert rule.judge(datetime(2027, 1, 15, 23, 3, tzinfo=timezone.utc), deadline).days == 0  # in the grace
    assert rule.judge(datetime(2027, 1, 15, 23, 5, 1, tzinfo=timezone.utc), deadline).penalty == 0.5


@pytest.mark.parametrize("policy, key", [
    ('[[policy.groups]]\nname = "p"\nassignments = ["a", "b"]\nbest = 3\n', "policy.groups[0].best"),
    ('rounding = "upward"\n', "policy.rounding"),
    ('[policy.late]\nmode = "penalty"\npenalty_per_dia = 1\n', "policy.late.penalty_per_dia"),
    ('[[policy.groups]]\nname = "final"\nassignments = ["a"]\n', "policy.groups"),
])
def test_bad_policy_names_the_key(tmp_path, policy, key):
    (tmp_path / "course.toml").write_text(f'name = "c"\n[policy]\n{policy}')
    with pytest.raises(ConfigError) as info:
        load_course(tmp_path)
    assert info.value.key == key
