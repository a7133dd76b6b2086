"""`grader report <student>`: one student's feedback as a small HTML folder.

The page says, in the course's language, what each submission scored, which counted and why,
and links each executed notebook rendered to HTML. Notebook outputs are the student's own code's
output, so they are sanitised (no scripts) before an instructor opens them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from grader.course import Course
from grader.grades import Attempt, Component, StudentGrades, compute, explain, feedback, final_line, number
from grader.gradebook import Gradebook
from grader.i18n import Translator, translator
from grader.report_figures import confusion_png, public_breakdown, standing_png
from grader.runners.base import ERROR, OK
from grader.jobs import slug
from grader.metrics import METRICS
from grader.runners.base import RunArtifacts
from grader.screening import SCREENING_KINDS, flags_text
from grader.submissions import UnknownStudent, names_student
from grader.text import html_templates, plain_data

TEMPLATE = html_templates().from_string("""<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t("report.title", student=student) }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #222; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .4rem .6rem; text-align: left; vertical-align: top; }
.final { font-size: 2rem; font-weight: bold; }
.dropped { color: #888; }
img.plot { max-width: 100%; }
table.per-class { width: auto; }
</style></head><body>
<h1>{{ t("report.title", student=student) }}</h1>
<p>{{ course }}</p>
<p>{{ t("report.final") }}: <span class="final" id="final">{{ final }}</span></p>
<h2>{{ t("report.why") }}</h2>
<ul id="why">{% for line in why %}<li>{{ line }}</li>{% endfor %}</ul>
<h2>{{ t("report.submissions") }}</h2>
{% for a in assignments %}
<h3>{{ a.title }}</h3>
<p class="{{ 'counted' if a.counted else 'dropped' }}">{{ a.explanation }}</p>
{% if a.attempts %}<table><thead><tr><th>{{ t("report.submitted") }}</th><th>{{ t("report.status") }}</th>
<th>{{ t("report.score") }}</th><th>{{ t("report.grade") }}</th><th>{{ t("report.late") }}</th><th></th></tr></thead>
<tbody>{% for x in a.attempts %}<tr><td>{{ x.submitted }}</td><td>{{ x.status }}{% if x.message %}: {{ x.message }}{% endif %}</td>
<td>{{ x.score }}</td><td>{{ x.grade }}</td><td>{{ x.late }}</td>
<td>{% if x.notebook %}<a href="{{ x.notebook }}">{{ t("report.notebook") }}</a>{% endif %}</td></tr>
{% if x.flags %}<tr><td colspan="6" class="flags">{{ t("report.flags", flags=x.flags) }}</td></tr>{% endif %}
{% if x.sample %}<tr><td colspan="6"><pre class="sample">{{ x.sample }}</pre></td></tr>{% endif %}{% endfor %}
</tbody></table>{% else %}<p>{{ t("report.none") }}</p>{% endif %}
{% if a.deadline %}<p>{{ t("report.deadline") }}: {{ a.deadline }}</p>{% endif %}
{% if a.insight %}<section class="insight"><h4>{{ t("report.insight") }}</h4>
<p class="runtime">{{ a.insight.runtime }}</p>
{% if a.insight.get('standing') %}<figure><img class="plot" src="{{ a.insight.standing }}" alt="{{ t('report.standing') }}">
<figcaption>{{ t("report.standing") }}</figcaption></figure>{% endif %}
{% if a.insight.get('per_class') %}<p>{{ t("report.public_only") }}</p>
<table class="per-class"><thead><tr><th>{{ t("report.class") }}</th><th>{{ t("report.accuracy") }}</th>
<th>{{ t("report.items") }}</th></tr></thead><tbody>{% for name, accuracy, items in a.insight.per_class %}
<tr><td>{{ name }}</td><td>{{ "%.1f %%" | format(accuracy * 100) }}</td><td>{{ items }}</td></tr>{% endfor %}</tbody></table>{% endif %}
{% if a.insight.get('confusion') %}<figure><img class="plot" src="{{ a.insight.confusion }}" alt="{{ t('report.confusion') }}">
<figcaption>{{ t("report.confusion") }}</figcaption></figure>{% endif %}
</section>{% endif %}
{% endfor %}
</body></html>
""")


RENDERED_TEXT_CELL_CHARS = 10_000  # a markdown or raw cell's characters shown in the rendered notebook


@dataclass
class StudentReport:
    grades: StudentGrades
    explanations: dict[str, str]  # assignment -> what it is worth and why, in the course's language
    final: str
    feedback: str  # all of it as one paragraph, as Moodle's feedback column carries it
    index: Path  # the report's HTML page


def find_student(course: Course, student: str) -> StudentGrades:
    with Gradebook(course.gradebook_path) as book:
        grades = compute(course, book)
    for s in grades.students:
        if names_student(student, s.student, s.id_number, s.email):
            return s
    raise UnknownStudent(f"no student '{student}' in {course.gradebook_path} (a name, ID number or email)")


def report(course: Course, student: str, out: Path | None = None, instructor: bool = False,
           public_only: Collection[str] = ()) -> StudentReport:
    """The student's copy shows the screening of their own notebook; the instructor's, every flag.

    `public_only`: assignments whose hidden half is not revealed yet (`grader serve` during the window).
    Their attempts show the public half's score alone, and no grade: a grade or an all-split score beside
    the public board would give away the private half that the daily limit keeps hidden. Nor do they show
    the executed notebook or the generated sample: what ran beside the hidden test inputs could print them.
    """
    s = find_student(course, student)
    t = translator(course.language, course.root)
    out = Path(out) if out else course.workdir / "reports" / (slug(s.student) + ("-instructor" if instructor else ""))
    out.mkdir(parents=True, exist_ok=True)
    exporter = HTMLExporter(sanitize_html=True)
    group_of = {a: g for g in s.groups for a in g.assignments}
    explanations = {name: t("grades.pending") if name in public_only else  # the page says why, once
                    explain(c, group_of.get(name), course.policy, t) for name, c in s.components.items()}
    assignments = []
    for name, component in s.components.items():
        window = name in public_only
        attempts = [_attempt_row(name, x, exporter, out, t, instructor, course, window) for x in component.attempts]
        assignments.append({
            "title": _title(course, name), "counted": component.counted or name not in group_of,
            "explanation": explanations[name], "attempts": attempts,
            "deadline": course.local_time(component.deadline) if component.deadline else "",
            "insight": _insight(course, name, _best_public(course, name, component) if window else component.chosen,
                                s.student, out, t, window)})
    final = final_line(s, course.policy, t)
    why = [t("report.group", name=g.name, count=g.best, n=len(g.assignments), grade=number(g.grade))
           for g in s.groups if g.grade is not None and len(g.assignments) > 1] + [final]
    shown_final = number(s.final) or "-"
    if public_only:  # a group or final grade is made of grades not shown yet
        why, shown_final = [t("report.window")], "-"
    index = out / "index.html"
    index.write_text(TEMPLATE.render(lang=course.language, t=t, student=s.student, course=course.name,
                                     final=shown_final, why=why, assignments=assignments),
                     encoding="utf-8")
    return StudentReport(s, explanations, final, feedback(s, course.policy, t), index)


def _title(course: Course, name: str) -> str:
    return course.assignment(name).title if name in course.assignments else name


def _best_public(course: Course, name: str, component: Component) -> Attempt | None:
    """The attempt with the best public score, as the board picks it: what the window shows. The counted attempt
    (`component.chosen`) is picked by grades on the whole hidden set, so showing it would tell the private half."""
    scored = [x for x in component.attempts if x.status == OK and x.public_score is not None]
    if not scored or name not in course.assignments:
        return None
    lower = METRICS[course.assignment(name).primary_metric].lower_is_better
    return min(scored, key=lambda x: (x.public_score if lower else -x.public_score, x.submitted_at))


def _insight(course: Course, name: str, chosen: Attempt | None, student: str, out: Path, t: Translator,
             window: bool = False) -> dict | None:
    """What the counted run teaches (grader.report_figures), its plots written beside the page."""
    if chosen is None or chosen.status != OK or name not in course.assignments or not chosen.artifacts:
        return None
    a = course.assignment(name)
    insight: dict = {"runtime": t("report.runtime", seconds=chosen.duration_s or 0, budget=a.time_limit_s,
                                  share=(chosen.duration_s or 0) / a.time_limit_s)}
    standing = standing_png(course, a, student, t, split="public" if window else None)
    if standing:
        (out / f"{name}-standing.png").write_bytes(standing)
        insight["standing"] = f"{name}-standing.png"
    breakdown = public_breakdown(course, a, chosen.artifacts, t)
    if breakdown:
        insight["per_class"] = breakdown.per_class
        matrix = confusion_png(breakdown, t)
        if matrix:
            (out / f"{name}-confusion.png").write_bytes(matrix)
            insight["confusion"] = f"{name}-confusion.png"
    return insight


def _attempt_row(assignment: str, x: Attempt, exporter: HTMLExporter, out: Path, t: Translator,
                 instructor: bool, course: Course, window: bool = False) -> dict:
    notebook = ""
    executed = RunArtifacts(Path(x.artifacts)).executed_notebook if x.artifacts and not window else None
    if executed and executed.is_file():
        notebook = f"{assignment}-{x.submission_id}.html"
        page = out / notebook
        if not page.is_file() or page.stat().st_mtime < executed.stat().st_mtime:  # a run is rendered once
            page.write_text(_notebook_html(executed, exporter), encoding="utf-8")
    status = t(f"status.{x.status}") if x.status else t("grades.pending")
    # A grader error's own message is for the instructor: it may name this machine's paths.
    message = "" if x.status == ERROR and not instructor else x.message
    return {"submitted": course.local_time(x.submitted_at), "status": status, "message": message,
            "score": number(x.public_score if window else x.primary_score) or "-",
            "grade": number(x.worth) if x.status and not window else "-",
            "late": x.lateness.days, "notebook": notebook, "sample": None if window else x.sample,
            "flags": flags_text([f for f in x.flags if instructor or f["kind"] in SCREENING_KINDS], t)}


def _notebook_html(executed: Path, exporter: HTMLExporter) -> str:
    """The executed notebook as a sanitised page. nbconvert escapes text but keeps control characters: plain
    text first, uncut; but markdown and raw cells, which never ran, are cut (their markdown parser takes time
    that grows with the square of a cell's length)."""
    nb = plain_data(nbformat.read(executed, as_version=4), limit=None)
    for cell in nb["cells"]:
        if cell["cell_type"] != "code" and len(cell["source"]) > RENDERED_TEXT_CELL_CHARS:
            cell["source"] = cell["source"][:RENDERED_TEXT_CELL_CHARS] + " …"
    body, _ = exporter.from_notebook_node(nbformat.from_dict(nb))
    return body
