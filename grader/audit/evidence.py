"""The evidence of one hand-in, read when its run is scored: flags for the instructor, never a grade.

- not_executed: the uploaded notebook has no outputs, though the course asks for the executed one;
- claim_mismatch: the best metric its outputs claim about the result is further than
  `claim_tolerance` from the grader's re-run on the same metric, or its validation score is better
  than the re-run by more than `validation_gap` (a validation score differs from the test score by
  nature, so within that gap it is no claim about the result);
- above_validation: the re-run's test score is above the notebook's own validation claim by more
  than `validation_gap` (carried answers score well on test and nowhere else);
- fast_top: a top grade from a run shorter than `fast_run_s`;
- split_gap: the public and private halves' scores further apart than `split_gap`;
- lookup: on a public hidden set, far more accurate on the items its public copy covers than on the
  canaries no public table covers (grader.data.public_hidden).
"""

from __future__ import annotations

import math

import nbformat

from grader.audit.claims import best, claims, executed
from grader.course import Assignment, AuditSettings
from grader.metrics import METRICS

TOP_GRADE_SHARE = 0.9  # "a top grade": at least 90% of the grade scale's highest grade


def lookup_p_value(items: list[int], canaries: list[int], margin: float) -> float:
    """One-sided p-value that accuracy on the items exceeds that on the canaries by more than `margin`:
    a two-proportion z-test, each proportion with one success and one failure added (Agresti-Caffo),
    so that a perfect score still has a variance."""
    (hits, n), (canary_hits, n_canaries) = items, canaries
    p, q = (hits + 1) / (n + 2), (canary_hits + 1) / (n_canaries + 2)
    se = math.sqrt(p * (1 - p) / (n + 2) + q * (1 - q) / (n_canaries + 2))
    return 0.5 * math.erfc((p - q - margin) / se / math.sqrt(2))


def lookup_flag(counts: dict[str, list[int]] | None, settings: AuditSettings) -> dict | None:
    """The `lookup` flag from scoring.canary_counts, or None."""
    if counts is None or not counts["items"][1] or not counts["canaries"][1]:
        return None
    p_value = lookup_p_value(counts["items"], counts["canaries"], settings.lookup_margin)
    if p_value >= settings.lookup_p:
        return None
    (hits, n), (canary_hits, n_canaries) = counts["items"], counts["canaries"]
    return {"kind": "lookup", "items": round(hits / n, 4), "canaries": round(canary_hits / n_canaries, 4),
            "n_canaries": n_canaries, "p_value": float(f"{p_value:.2e}"), "margin": settings.lookup_margin}


def run_flags(nb: nbformat.NotebookNode, a: Assignment, scores: dict[str, dict[str, float | None]],
              grade: float | None, duration_s: float, canaries: dict[str, list[int]] | None = None) -> list[dict]:
    """Flags from the uploaded notebook and its scored run (`scores` empty when it was not scored;
    `canaries`: scoring.canary_counts, on a public hidden set)."""
    flags: list[dict] = []
    if not executed(nb):
        flags.append({"kind": "not_executed"})
    lookup = lookup_flag(canaries, a.audit)
    if lookup is not None:
        flags.append(lookup)
    score = scores.get("all", {}).get(a.primary_metric)
    if score is None:
        return flags
    settings, metric = a.audit, a.primary_metric
    lower = METRICS[metric].lower_is_better
    found = claims(nb, metric)
    claimed = best([c for c in found if c.label != "validation"], lower)
    if claimed is not None and abs(claimed.value - score) > settings.claim_tolerance:
        flags.append({"kind": "claim_mismatch", "metric": metric, "claimed": round(claimed.value, 4),
                      "score": round(score, 4), "tolerance": settings.claim_tolerance, "line": claimed.text})
    validation = best(found, lower, "validation")
    if validation is not None:
        above = validation.value - score if lower else score - validation.value
        if above > settings.validation_gap:
            flags.append({"kind": "above_validation", "metric": metric, "validation": round(validation.value, 4),
                          "score": round(score, 4), "gap": settings.validation_gap})
        elif -above > settings.validation_gap and not any(f["kind"] == "claim_mismatch" for f in flags):
            # A validation score far better than the re-run: not the noise of a small validation set.
            flags.append({"kind": "claim_mismatch", "metric": metric, "claimed": round(validation.value, 4),
                          "score": round(score, 4), "tolerance": settings.validation_gap, "line": validation.text})
    top = max(y for _, y in a.scale.points)
    if grade is not None and top > 0 and grade >= TOP_GRADE_SHARE * top and duration_s < settings.fast_run_s:
        flags.append({"kind": "fast_top", "grade": round(grade, 2), "seconds": round(duration_s, 1),
                      "limit": settings.fast_run_s})
    public, private = scores.get("public", {}).get(metric), scores.get("private", {}).get(metric)
    if public is not None and private is not None and abs(public - private) > settings.split_gap:
        flags.append({"kind": "split_gap", "metric": metric, "public": round(public, 4), "private": round(private, 4),
                      "gap": settings.split_gap})
    return flags
