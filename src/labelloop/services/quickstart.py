"""The main job on the shipped example: one project that runs the whole loop.

Import the YouTube spam comments (reference labels of the valid and test splits become
gold: honeypots, calibration and the label model's anchor), apply the shipped Snorkel-style
labeling functions, draft every comment with the zero-shot MiniLM model when the ``models``
extra is installed, combine every source with the label model, and rank the queue by active
learning. ``labelloop serve`` then puts people in the loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from labelloop.core.records import SourceKind
from labelloop.errors import MissingDependencyError, ValidationError
from labelloop.services.project import CONFIG_FILE, Project

EXAMPLE_CSV = "youtube_spam.csv"
EXAMPLE_LFS = "youtube_spam_lfs.py"
EXAMPLE_SCHEMA: dict[str, Any] = {
    "task": "text-classification",
    "classes": [
        {"name": "ham", "description": "A genuine comment about the video, the song or the "
                                       "artist."},
        {"name": "spam", "description": "Self-promotion: links, requests to subscribe, to "
                                        "check out or visit a channel, offers of money."},
    ],
}
EXAMPLE_SETTINGS: dict[str, Any] = {"honeypot_rate": 0.1, "requeue_every": 20}


@dataclass
class QuickstartReport:
    """What each step of the example loop did (``None``: the step did not run)."""

    created: bool
    added: int
    skipped: int
    lf_votes: int
    lf_failures: int
    prelabel: Any = None
    label_model: Any = None
    priorities: Any = None
    notes: list[str] = field(default_factory=list)


def run_quickstart(
    folder: str | Path,
    *,
    models: bool = True,
    say: Callable[[str], None] = lambda _msg: None,
) -> tuple[Project, QuickstartReport]:
    """Create (or reuse) the example project in ``folder`` and run the loop once.

    Parameters
    ----------
    folder:
        Project folder; an existing example project there is reused (nothing is duplicated).
    models:
        Pre-label with the built-in MiniLM model and rank the queue (needs the ``models``
        and ``ml`` extras; skipped with a note when they are missing).
    say:
        Called with one line per finished step.

    Returns
    -------
    The open project (close it) and the report.
    """
    from labelloop.services.weak import apply_to_project, fit_label_model, load_lfs

    path = Path(folder)
    created = not (path / CONFIG_FILE).exists()
    project = (Project.create(path, schema=EXAMPLE_SCHEMA, settings=EXAMPLE_SETTINGS)
               if created else Project.open(path))
    data = resources.files("labelloop.data")
    with resources.as_file(data / EXAMPLE_CSV) as csv_path:
        res = project.import_file(csv_path, label_column="label", label_kind=SourceKind.GOLD,
                                  label_source="uci-youtube-spam",
                                  label_splits=frozenset({"valid", "test"}))
    say(f"imported {res.added} example comment(s) ({res.skipped} already there)")
    with resources.as_file(data / EXAMPLE_LFS) as lf_path:
        applied = apply_to_project(project, load_lfs(lf_path))
    votes = int((applied.L != -1).sum())
    say(f"{len(applied.lf_names)} labeling functions cast {votes} votes "
        f"({len(applied.failures)} failures)")
    report = QuickstartReport(created, res.added, res.skipped, votes, len(applied.failures))
    if models:
        _models_steps(project, report, say)
    report.label_model = fit_label_model(project)
    lm = report.label_model
    say(f"label model over {len(lm.sources)} sources: {lm.n_items - lm.n_needs_review} items "
        f"confident, {lm.n_needs_review} need review")
    if models and report.prelabel is not None:
        from labelloop.services.active import refresh_priorities

        report.priorities = refresh_priorities(project, embedding_model="minilm")
        say(f"active learning ranked {report.priorities.n_scored} items for annotators")
    return project, report


SPAN_EXAMPLE = "people_ner.jsonl"
SPAN_EXAMPLE_LFS = "people_ner_lfs.py"
SPAN_SCHEMA: dict[str, Any] = {
    "task": "spans",
    "classes": [
        {"name": "PER", "description": "A person, with a title when one precedes the name "
                                       "(Dr. Elena Rossi)."},
        {"name": "ORG", "description": "A company, institution or organisation (NASA, "
                                       "University of Paris)."},
        {"name": "LOC", "description": "A place: city, country, region, lake, site."},
    ],
}


def run_span_quickstart(
    folder: str | Path, *, say: Callable[[str], None] = lambda _msg: None,
) -> tuple[Project, QuickstartReport]:
    """Create (or reuse) the named-entity example in ``folder``: 62 short sentences (a
    third with gold spans: honeypots and the label model's anchor), span labeling
    functions (dictionaries and patterns) and the span label model, whose spans are the
    pre-labels annotators accept or fix in ``labelloop serve``.

    Returns
    -------
    The open project (close it) and the report.
    """
    from labelloop.services.span_weak import apply_span_lfs_to_project, fit_span_label_model
    from labelloop.services.weak import load_lfs

    path = Path(folder)
    created = not (path / CONFIG_FILE).exists()
    project = (Project.create(path, schema=SPAN_SCHEMA, settings=EXAMPLE_SETTINGS)
               if created else Project.open(path))
    if not project.schema.task_type.has_spans:
        project.close()
        raise ValidationError(f"{path} holds a {project.schema.task!r} project, not the span "
                              "example; choose another folder")
    data = resources.files("labelloop.data")
    with resources.as_file(data / SPAN_EXAMPLE) as jsonl:
        res = project.import_file(jsonl)
    say(f"imported {res.added} example sentence(s) ({res.skipped} already there)")
    with resources.as_file(data / SPAN_EXAMPLE_LFS) as lf_path:
        applied = apply_span_lfs_to_project(project, load_lfs(lf_path))
    spans = sum(len(s) for row in applied.spans for s in row)
    say(f"{len(applied.lf_names)} span labeling functions found {spans} spans "
        f"({len(applied.failures)} failures)")
    report = QuickstartReport(created, res.added, res.skipped, spans, len(applied.failures))
    report.label_model = fit_span_label_model(project)
    lm = report.label_model
    say(f"span label model over {len(lm.sources)} sources: {lm.n_spans} spans on "
        f"{lm.n_items} sentences, {lm.n_needs_review} need review")
    for warning in lm.warnings:
        report.notes.append(warning)
        say(warning)
    return project, report


def _models_steps(project: Project, report: QuickstartReport,
                  say: Callable[[str], None]) -> None:
    try:
        from labelloop.services.prelabel import prelabel_project

        report.prelabel = prelabel_project(project, model="minilm", progress=True)
    except MissingDependencyError as exc:
        report.notes.append(f"skipped zero-shot drafts and active learning: {exc.message}")
        say(report.notes[-1])
        return
    pre = report.prelabel
    say(f"zero-shot MiniLM drafted {pre.n_drafted} comment(s) ({pre.n_skipped} already "
        f"drafted); {pre.coverage:.0%} can be auto-accepted at the target precision")
