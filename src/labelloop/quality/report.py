"""A self-contained HTML quality report: tables plus PNG plots embedded as base64.

Every piece of text that comes from data (annotator names, labels, reasons) is HTML-escaped,
so a label like ``<script>`` shows as text. Plots need matplotlib (the ``ml`` extra).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np

from labelloop._deps import require
from labelloop.core.longtable import as_long_table
from labelloop.quality.agreement import bootstrap_ci, fleiss_kappa, per_class_agreement
from labelloop.quality.checks import Flag, find_label_drift, find_spammers
from labelloop.quality.honeypots import honeypot_accuracy
from labelloop.quality.krippendorff import krippendorff_alpha
from labelloop.quality.scorecards import Scorecard, scorecards

_STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px}
th{background:#f3f3f3}td.num{text-align:right}img{max-width:100%}h2{margin-top:1.5em}"""


@dataclass(frozen=True)
class QualityReport:
    """The rendered report and the numbers in it."""

    html: str
    summary: dict[str, Any]
    cards: list[Scorecard] = field(default_factory=list)
    flags: list[Flag] = field(default_factory=list)


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: object) -> str:
    if isinstance(value, float | np.floating):
        return "–" if not np.isfinite(value) else f"{value:.3f}"
    return _esc(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_esc(h)}</th>" for h in header)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{_fmt(v)}</td>'
            if isinstance(v, int | float | np.number)
            else f"<td>{_fmt(v)}</td>"
            for v in row
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}">'


def _pyplot() -> ModuleType:
    require("ml", "matplotlib", feature="the quality report's plots").use("Agg")
    return require("ml", "matplotlib.pyplot", feature="the quality report's plots")


def _confusion_plot(plt: Any, cards: list[Scorecard]) -> str:
    classes = cards[0].classes
    total = np.sum([np.asarray(c.confusion) for c in cards], axis=0)
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * len(classes), 1 + 0.6 * len(classes)))
    ax.imshow(total, cmap="Blues")
    ax.set_xticks(range(len(classes)), [str(c) for c in classes], rotation=45)
    ax.set_yticks(range(len(classes)), [str(c) for c in classes])
    ax.set_xlabel("label given")
    ax.set_ylabel("reference (gold, else consensus)")
    for (i, j), v in np.ndenumerate(total):
        ax.text(j, i, str(v), ha="center", va="center", fontsize=8)
    out = _png(fig)
    plt.close(fig)
    return out


def _accuracy_plot(plt: Any, records: list[Any], limit: int) -> str:
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for rec in sorted(records, key=lambda r: -r.n)[:limit]:
        ax.plot(np.arange(1, rec.n + 1), rec.history_accuracy, label=str(rec.annotator)[:20])
    ax.set_xlabel("honeypots answered")
    ax.set_ylabel("cumulative accuracy")
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=7, ncols=2)
    out = _png(fig)
    plt.close(fig)
    return out


def build_report(
    table: object,
    *,
    gold: Mapping[Any, Any] | None = None,
    seconds: Sequence[float] | None = None,
    times: Sequence[Any] | None = None,
    title: str = "Quality report",
    n_resamples: int = 200,
    max_lines: int = 10,
) -> QualityReport:
    """Build the HTML quality report of a project's human annotations.

    Parameters
    ----------
    table:
        Long annotation table ``(item, annotator, label)``.
    gold:
        ``{item: label}`` honeypot answers (accuracy-over-time plot and gold columns).
    seconds, times:
        Seconds spent and a timestamp per table row (speed columns, drift, trends).
    title:
        Page title.
    n_resamples:
        Bootstrap resamples for the kappa interval.
    max_lines:
        Annotators drawn in the accuracy-over-time plot.
    """
    t = as_long_table(table)
    plt = _pyplot()
    multi = t.counts().sum(1) >= 2
    kappa = bootstrap_ci(fleiss_kappa, t, n_resamples=n_resamples) if multi.any() else None
    summary: dict[str, Any] = {
        "items": t.n_items,
        "annotators": t.n_annotators,
        "labels": len(t),
        "fleiss_kappa": kappa.estimate if kappa else float("nan"),
        "fleiss_kappa_ci": (kappa.low, kappa.high) if kappa else (float("nan"),) * 2,
        "krippendorff_alpha": krippendorff_alpha(t) if multi.any() else float("nan"),
    }
    cards = scorecards(t, gold=gold, seconds=seconds, times=times)
    flags = find_spammers(t, seconds=seconds) + find_label_drift(t, times=times)
    summary["flagged_labels"] = len(flags)
    parts = [
        f"<h1>{_esc(title)}</h1>",
        "<h2>Agreement</h2>",
        _table(
            ["items", "annotators", "labels", "Fleiss' kappa", "95% CI", "Krippendorff's alpha"],
            [
                [
                    t.n_items,
                    t.n_annotators,
                    len(t),
                    summary["fleiss_kappa"],
                    "{:.3f} – {:.3f}".format(*summary["fleiss_kappa_ci"]),
                    summary["krippendorff_alpha"],
                ]
            ],
        ),
    ]
    if multi.any():
        parts += [
            "<h3>Per-class agreement</h3>",
            _table(["class", "specific agreement"], list(per_class_agreement(t).items())),
        ]
    parts += [
        "<h2>Annotators</h2>",
        _table(
            [
                "annotator",
                "labels",
                "gold n",
                "gold accuracy",
                "gold 95% CI",
                "vs consensus",
                "kappa with peers",
                "median s/item",
                "slow items",
                "fast items",
            ],
            [
                [
                    c.annotator,
                    c.n_labels,
                    c.gold_n,
                    c.gold_accuracy,
                    "–" if not c.gold_n else f"{c.gold_low:.2f} – {c.gold_high:.2f}",
                    c.consensus_accuracy,
                    c.peer_kappa,
                    c.median_seconds,
                    len(c.slow_items),
                    len(c.fast_items),
                ]
                for c in cards
            ],
        ),
        "<h3>Confusion (all annotators)</h3>",
        _confusion_plot(plt, cards),
    ]
    records = honeypot_accuracy(t, gold, times=times) if gold else []
    if records:
        parts += ["<h2>Honeypot accuracy over time</h2>", _accuracy_plot(plt, records, max_lines)]
    parts += [
        "<h2>Flagged for review</h2>",
        _table(
            ["check", "annotator", "labels flagged", "reason"],
            _flag_rows(flags),
        )
        if flags
        else "<p>Nothing flagged.</p>",
    ]
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{_esc(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{''.join(parts)}</body></html>"
    )
    return QualityReport(page, summary, cards, flags)


def _flag_rows(flags: list[Flag]) -> list[list[object]]:
    """One row per (check, annotator, reason) with the number of labels it covers."""
    grouped: dict[tuple[str, str, str], int] = {}
    for f in flags:
        key = (f.check, str(f.annotator), f.reason)
        grouped[key] = grouped.get(key, 0) + 1
    return [[c, a, n, r] for (c, a, r), n in grouped.items()]
