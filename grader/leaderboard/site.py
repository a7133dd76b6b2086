"""`grader leaderboard publish`: the rankings as a static site (no server, no CDN).

index.html, one folder per assignment (index.html, leaderboard.csv/.json, two plots) and
standing.html. Only pseudonyms (or chosen nicknames) appear; everything a student controls is
escaped by the templates. Times are the course's local time, on the pages and on the progress
plot's axis. Only a board's first row is bold: the leader, never the first of a list. Files are
replaced one by one atomically, and files of an earlier publication that are no longer part of
the site are removed.
"""

from __future__ import annotations

import csv
import io
import json
import os
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import jinja2
import matplotlib

matplotlib.use("Agg")  # files only: no display on a grading server
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from grader.course import Course  # noqa: E402
from grader.i18n import catalogs, translator  # noqa: E402
from grader.metrics import METRICS  # noqa: E402
from grader.leaderboard.ranking import Board, boards  # noqa: E402
from grader.text import html_templates, spreadsheet_cell  # noqa: E402

MANIFEST = ".published.json"
STYLE = """body { font-family: system-ui, sans-serif; max-width: 64rem; margin: 1.5rem auto; padding: 0 1rem; color: #222; }
header { margin-bottom: 1rem; } footer { margin-top: 2rem; color: #777; font-size: .9rem; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .6rem; text-align: left; }
#leaderboard tbody tr:first-child td { font-weight: bold; }
td.who { overflow-wrap: anywhere; }
img { max-width: 100%; }
"""
ENV = html_templates(jinja2.FileSystemLoader(Path(__file__).parent / "templates"))


def fmt(score: float) -> str:
    return f"{score:.4f}"


def board_csv(b: Board) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, ["rank", "pseudonym", "score", "submissions", "last_submission", "runtime_s"],
                            lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet_cell(v) for k, v in e.public().items()} for e in b.entries)
    return out.getvalue()


def board_json(b: Board) -> str:
    return json.dumps({"assignment": b.assignment, "title": b.title, "metric": b.metric, "split": b.split,
                       "lower_is_better": b.lower_is_better, "deadline": b.deadline,
                       "entries": [e.public() for e in b.entries]}, ensure_ascii=False, indent=2)


def png(fig) -> bytes:
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    return out.getvalue()


def plot_scores(b: Board, t, you: float | None = None) -> bytes:
    """Where the class stands: the ranked scores, with the baseline, the reference (and `you`) marked."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.hist([e.score for e in b.entries], bins=min(30, max(5, len(b.entries) // 3)), color="#4c78a8")
    marks = ((b.baseline, t("board.baseline"), "#e45756", "--"), (b.reference, t("board.reference"), "#54a24b", "--"),
             (you, t("report.you"), "#222222", "-"))
    for value, label, colour, style in marks:
        if value is not None:
            ax.axvline(value, color=colour, linestyle=style, linewidth=2 if style == "-" else 1,
                       label=f"{label} {fmt(value)}")
    if any(value is not None for value, *_ in marks):
        ax.legend()
    ax.set_xlabel(f"{b.metric} ({t('board.split_' + b.split)})")
    ax.set_ylabel(t("board.students"))
    return png(fig)


def progress_figure(b: Board, timezone: str):
    """The best score so far, over time, on a time axis in the course's zone."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    best, xs, ys = None, [], []
    for when, score in b.timeline:
        best = score if best is None else (min(best, score) if b.lower_is_better else max(best, score))
        xs.append(when)
        ys.append(best)
    if xs:
        end = time_axis(ax, xs, timezone)
        ax.step(xs + [end], ys + ys[-1:], where="post", color="#4c78a8")  # the best holds to the axis' end
        ax.plot(xs, [s for _, s in b.timeline], ".", color="#bbbbbb", markersize=4)
    ax.set_ylabel(f"{b.metric}")
    return fig


def time_axis(ax, moments: list[datetime], timezone: str) -> datetime:
    """An x axis that fits the moments, and where it ends. Left to itself, matplotlib spreads one moment
    over four years: the span is padded by a twentieth on each side, at least an hour (a day once it
    spans days), and labelled as finely as it needs (hours within a day, days within months), in the
    course's zone."""
    span = max(moments) - min(moments)
    pad = max(span / 20, timedelta(days=1) if span > timedelta(days=1) else timedelta(hours=1))
    start, end = min(moments) - pad, max(moments) + pad
    ax.set_xlim(start, end)
    zone = ZoneInfo(timezone)
    locator = mdates.AutoDateLocator(tz=zone)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=zone))
    ax.set_xlabel(timezone)
    return end


def standing(all_boards: list[Board]) -> list[dict]:
    """Each student's rank on every board, ordered by how many boards they are on, then mean percentile."""
    rows: dict[str, dict] = {}
    for b in all_boards:
        n = len(b.entries)
        for e in b.entries:
            row = rows.setdefault(e.student, {"pseudonym": e.pseudonym, "ranks": {}, "percentiles": []})
            row["ranks"][b.assignment] = e.rank
            row["percentiles"].append(1 - (e.rank - 1) / n)
    for row in rows.values():
        row["percentile"] = sum(row["percentiles"]) / len(row["percentiles"])
    return sorted(rows.values(), key=lambda r: (-len(r["ranks"]), -r["percentile"], r["pseudonym"]))


def render(course: Course, all_boards: list[Board], published: str) -> dict[str, bytes]:
    """Every file of the site, by its path under the output folder."""
    t = translator(course.language, course.root)
    titles = catalogs(course.language, course.root).translations
    common = {"lang": course.language, "course": course.name, "t": t, "fmt": fmt, "published": published,
              "when": course.local_time,
              "metric_title": lambda name: titles.gettext(METRICS[name].title)}
    files = {
        "style.css": STYLE.encode(),
        "index.html": ENV.get_template("index.html.j2").render(root="", boards=all_boards, **common).encode(),
        "standing.html": ENV.get_template("standing.html.j2").render(
            root="", boards=all_boards, standing=standing(all_boards), **common).encode(),
    }
    for b in all_boards:
        prefix = f"{b.assignment}/"
        files[prefix + "index.html"] = ENV.get_template("assignment.html.j2").render(root="../", b=b, **common).encode()
        files[prefix + "leaderboard.csv"] = board_csv(b).encode()
        files[prefix + "leaderboard.json"] = board_json(b).encode()
        if b.entries:
            files[prefix + "scores.png"] = plot_scores(b, t)
            files[prefix + "progress.png"] = png(progress_figure(b, course.timezone))
    return files


def write_site(files: dict[str, bytes], out: Path) -> None:
    """Replace each file atomically; drop files an earlier publication wrote that are gone now."""
    out.mkdir(parents=True, exist_ok=True)
    for rel, data in files.items():
        path = out / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.partial")
        partial.write_bytes(data)
        os.replace(partial, path)
    manifest = out / MANIFEST
    try:
        previous = set(json.loads(manifest.read_text()))
    except (OSError, ValueError):
        previous = set()
    for rel in previous - set(files):
        (out / rel).unlink(missing_ok=True)
    manifest.write_text(json.dumps(sorted(files)))


def publish(course: Course, out: Path | None = None, reveal: bool = False,
            now: datetime | None = None) -> list[Board]:
    out = Path(out) if out else course.root / "leaderboards"
    all_boards = boards(course, reveal, now)
    published = course.local_time(now or datetime.now(timezone.utc))
    write_site(render(course, all_boards, published), out)
    return all_boards
