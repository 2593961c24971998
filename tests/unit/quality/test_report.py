"""The HTML quality report: structure, embedded plots, and escaping."""

from __future__ import annotations

import base64
import re

import numpy as np
import pytest

from labelloop.quality.report import build_report

pytest.importorskip("matplotlib")


def test_report_on_rte(rte):
    table, gold = rte
    honeypots = {i: gold[i] for i in sorted(gold)[::10]}
    seconds = np.random.default_rng(0).gamma(4, 5, len(table))
    report = build_report(table, gold=honeypots, seconds=seconds, n_resamples=20)
    page = report.html
    assert page.startswith("<!doctype html>") and page.count("<table>") >= 3
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 2  # confusion matrix + honeypot accuracy over time
    assert all(base64.b64decode(img).startswith(b"\x89PNG") for img in images)
    assert report.summary["items"] == 800 and report.summary["annotators"] == 164
    assert "A11GX90QFWDLMM" in page and "possible spammer" in page


def test_report_escapes_all_text():
    evil = "<script>alert(1)</script>"
    table = [
        (i, evil if a == 0 else f"w{a}", [evil, "ok"][(i + a) % 2])
        for i in range(30)
        for a in range(3)
    ]
    page = build_report(table, gold={0: evil}, title=evil, n_resamples=5).html
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
