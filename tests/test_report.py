"""The report that teaches: plots and per-class results from the public half only, local times, in Chromium."""

from __future__ import annotations

import re

from grader import pipeline
from grader.course import load_course
from grader.data import layout, read_labels
from grader.report import report
from tests.helpers.browser import CHROMIUM_ARGS, chromium_page
from tests.helpers.notebooks import GOOD, WEAK, write_notebook


def test_the_spanish_report_shows_two_plots_public_per_class_results_and_local_times(course_dir, tmp_path):
    chromium, sync_playwright = chromium_page()
    toml = course_dir / "course.toml"
    toml.write_text(toml.read_text().replace('language = "en"', 'language = "es"'))
    course = load_course(course_dir)
    subs = tmp_path / "subs" / "digits"
    write_notebook(subs / "Ana García.ipynb", GOOD)
    write_notebook(subs / "bruno.ipynb", WEAK)
    pipeline.run(course, subs.parent)
    result = report(course, "Ana García")
    page_text = result.index.read_text()
    # Only what the student may see: no test id (so no answer per item), counts of the public half only.
    labels = read_labels(layout(course, course.assignment("digits")).labels)
    assert not any(pid in page_text for pid in labels)
    public = sum(1 for _, split in labels.values() if split == "public")
    counts = [int(n) for n in re.findall(r"<td>\d+(?:\.\d+)? %</td><td>(\d+)</td>", page_text)]
    assert len(counts) == 10 and sum(counts) == public
    assert re.search(r"\d\d/\d\d/\d{4} \d\d:\d\d CES?T", page_text)  # the course's zone, Spanish format
    assert "Se ejecutó en" in page_text and "Matriz de confusión" in page_text
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(result.index.as_uri())
        sizes = page.evaluate("Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
        assert len(sizes) == 2 and all(done and width > 100 for done, width in sizes)
        assert page.locator("table.per-class tbody tr").count() == 10
        browser.close()


def test_a_report_during_the_window_shows_public_scores_and_no_grade(tmp_path):
    """`grader serve` before the reveal: a grade or an all-split score would give the private half away."""
    from tests.helpers.policy import hand_in, policy_course

    course = policy_course(tmp_path / "course")
    # What ran beside the hidden test inputs could print them: its executed notebook and sample wait for the reveal.
    run_dir = tmp_path / "run"
    write_notebook(run_dir / "executed.ipynb", ["print('HIDDEN-INPUTS')"])
    hand_in(course, "Ana", "mnist", 8.0, scores={"public": {"accuracy": 0.71}, "private": {"accuracy": 0.93},
                                                 "all": {"accuracy": 0.82}}, primary_score=0.82,
            artifacts=str(run_dir), sample="GENERATED-TEXT")
    hand_in(course, "Ana", "imagenet-subset", 6.0, scores={"public": {"accuracy": 0.55}, "all": {"accuracy": 0.6}})
    window = report(course, "Ana", tmp_path / "window", public_only={"mnist"}).index.read_text()
    assert "0.71" in window and "0.82" not in window and "0.93" not in window
    assert "without a grade" in window and 'id="final">-<' in window
    assert "GENERATED-TEXT" not in window and ".html" not in window and not list((tmp_path / "window").glob("mnist-*.html"))
    after = report(course, "Ana", tmp_path / "after").index.read_text()
    assert "0.82" in after and 'id="final">-<' not in after and "GENERATED-TEXT" in after
    assert re.search(r'href="(mnist-\d+\.html)"', after)
