"""Quality use cases over a project: the human annotation table and the quality report."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from labelloop.core.records import SourceKind
from labelloop.errors import UserInputError
from labelloop.quality.honeypots import PauseDecision, honeypot_accuracy, pause_decision
from labelloop.quality.report import QualityReport, build_report
from labelloop.services.project import Project


@dataclass(frozen=True)
class HumanAnnotations:
    """A project's single-label human annotations as a long table, with gold answers.

    ``rows`` are ``(item_id, annotator, class name)``; ``seconds`` and ``times`` follow the
    rows (``None`` where unknown); ``gold`` maps item ids to class names.
    """

    rows: list[tuple[int, str, str]]
    seconds: list[float | None]
    times: list[Any]
    gold: dict[int, str] = field(default_factory=dict)


def human_annotations(project: Project) -> HumanAnnotations:
    """Collect the human labels (and gold answers: imported or reviewed) of a project."""
    names = project.schema.names
    humans = {s.id: s.name for s in project.sources(kinds=(SourceKind.HUMAN,))}
    rows, seconds, times = [], [], []
    for a in project.annotations(kinds=(SourceKind.HUMAN,)):
        if a.label is not None:
            rows.append((a.item_id, humans[a.source_id], names[a.label]))
            seconds.append(a.seconds)
            times.append(a.created_at)
    gold = {
        a.item_id: names[a.label]
        for a in project.annotations(kinds=(SourceKind.GOLD,))
        if a.label is not None
    }
    return HumanAnnotations(rows, seconds, times, gold)


@dataclass(frozen=True)
class ReportResult:
    """What ``labelloop quality report`` wrote and what it found."""

    path: Path
    report: QualityReport
    pauses: list[PauseDecision]


def write_quality_report(
    project: Project,
    out: str | Path,
    *,
    pause_below: float = 0.7,
    min_honeypots: int = 10,
    n_resamples: int = 200,
) -> ReportResult:
    """Build the HTML quality report of ``project``'s human labels and write it to ``out``.

    Raises
    ------
    UserInputError
        If the project has no single-label human annotations yet.
    """
    data = human_annotations(project)
    if not data.rows:
        raise UserInputError(
            f"project {project.name!r} has no human labels yet: label some items "
            "(labelloop serve) or import annotations first"
        )
    known = [s for s in data.seconds if s is not None]
    seconds = known if len(known) == len(data.seconds) else None
    times = data.times if all(t is not None for t in data.times) else None
    report = build_report(
        data.rows,
        gold=data.gold,
        seconds=seconds,
        times=times,
        title=f"Quality report: {project.name}",
        n_resamples=n_resamples,
    )
    records = honeypot_accuracy(data.rows, data.gold, times=times) if data.gold else []
    pauses = [
        d
        for d in (
            pause_decision(r, threshold=pause_below, min_answers=min_honeypots) for r in records
        )
        if d.pause
    ]
    path = Path(out)
    path.write_text(report.html, encoding="utf-8")
    return ReportResult(path, report, pauses)
