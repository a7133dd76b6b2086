"""The evidence of one hand-in, read when its run is scored: flags for the instructor, never a grade.

- not_executed: the uploaded notebook has no outputs, though the course asks for the executed one;
- claim_mismatch: the best metric its outputs claim is further than `claim_tolerance` from the
  grader's re-run on the same metric;
- above_validation: the re-run's test score is above the notebook's own validation claim by more
  than `validation_gap` (carried answers score well on test and nowhere else);
- fast_top: a top grade from a run shorter than `fast_run_s`;
- split_gap: the public and private halves' scores further apart than `split_gap`.
"""

from __future__ import annotations

import nbformat

from grader.audit.claims import best, claims, executed
from grader.course import Assignment
from grader.scoring import LOWER_IS_BETTER

TOP_GRADE_SHARE = 0.9  # "a top grade": at least 90% of the grade scale's highest grade


def run_flags(nb: nbformat.NotebookNode, a: Assignment, scores: dict[str, dict[str, float | None]],
              grade: float | None, duration_s: float) -> list[dict]:
    """Flags from the uploaded notebook and its scored run (`scores` empty when it was not scored)."""
    flags: list[dict] = []
    if not executed(nb):
        flags.append({"kind": "not_executed"})
    score = scores.get("all", {}).get(a.primary_metric)
    if score is None:
        return flags
    settings, metric = a.audit, a.primary_metric
    lower = metric in LOWER_IS_BETTER
    found = claims(nb, metric)
    claimed = best(found, lower)
    if claimed is not None and abs(claimed.value - score) > settings.claim_tolerance:
        flags.append({"kind": "claim_mismatch", "metric": metric, "claimed": round(claimed.value, 4),
                      "score": round(score, 4), "tolerance": settings.claim_tolerance, "line": claimed.text})
    validation = best(found, lower, "validation")
    if validation is not None:
        above = validation.value - score if lower else score - validation.value
        if above > settings.validation_gap:
            flags.append({"kind": "above_validation", "metric": metric, "validation": round(validation.value, 4),
                          "score": round(score, 4), "gap": settings.validation_gap})
    top = max(y for _, y in a.scale.points)
    if grade is not None and top > 0 and grade >= TOP_GRADE_SHARE * top and duration_s < settings.fast_run_s:
        flags.append({"kind": "fast_top", "grade": round(grade, 2), "seconds": round(duration_s, 1),
                      "limit": settings.fast_run_s})
    public, private = scores.get("public", {}).get(metric), scores.get("private", {}).get(metric)
    if public is not None and private is not None and abs(public - private) > settings.split_gap:
        flags.append({"kind": "split_gap", "metric": metric, "public": round(public, 4), "private": round(private, 4),
                      "gap": settings.split_gap})
    return flags
