"""Every ``labelloop`` command line shown anywhere in the docs names a real command and
real options, and every Python block is valid Python: the how-to guides and explanations
are not executed, so this is what keeps them from drifting from the CLI."""

from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import Any

import pytest
import typer.main
from docblocks import blocks

from labelloop.cli.app import app

REPO = Path(__file__).resolve().parents[2]
PAGES = sorted((REPO / "docs").rglob("*.md"))
SHELL_LANGUAGES = ("bash", "text", "sh", "console")


def _command_lines(code: str) -> list[str]:
    """Lines calling labelloop (continuations joined, prompts and comments dropped)."""
    joined = code.replace("\\\n", " ")
    out = []
    for line in joined.splitlines():
        for part in line.split("&&"):
            words = part.split("#", 1)[0].strip().removeprefix("$ ").split()
            if words and words[0] in ("labelloop", ".venv/bin/labelloop"):
                out.append(" ".join(words))
    return out


def _check(line: str) -> list[str]:
    """What is wrong with one command line (empty: nothing)."""
    cmd: Any = typer.main.get_command(app)
    words = shlex.split(line)[1:]
    path = ["labelloop"]
    while words and getattr(cmd, "commands", None) and words[0] in cmd.commands:
        cmd = cmd.commands[words[0]]
        path.append(words.pop(0))
    if getattr(cmd, "commands", None) and words and not words[0].startswith("-"):
        return [f"{' '.join(path)} has no command {words[0]!r}"]
    known = {o for p in cmd.params for o in (*p.opts, *p.secondary_opts)} | {"--help"}
    return [f"{' '.join(path)} has no option {w.split('=')[0]}" for w in words
            if w.startswith("-") and w.split("=")[0] not in known and w != "-"]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO / "docs")))
def test_command_lines_match_the_cli(page: Path) -> None:
    problems = []
    for block in blocks(page):
        if block.language in SHELL_LANGUAGES:
            for line in _command_lines(block.code):
                problems += [f"{block.where()}: {p} ({line})" for p in _check(line)]
    assert problems == []


def test_examples_in_the_cli_help_match_the_cli() -> None:
    sys.path.insert(0, str(REPO / "docs" / "hooks"))
    from cli_reference import cli_markdown

    prose = re.sub(r"```.*?```", "", cli_markdown(), flags=re.DOTALL)
    examples = [x for span in re.findall(r"`([^`]+)`", prose)
                for x in span.split("&&") if x.strip().startswith("labelloop ")]
    assert len([x for x in examples if " -" in x]) > 5  # with options
    problems = [p for line in examples for p in _check(line.strip())]
    assert problems == []


def test_the_docs_show_many_command_lines() -> None:
    lines = [line for page in PAGES for b in blocks(page) if b.language in SHELL_LANGUAGES
             for line in _command_lines(b.code)]
    assert len(lines) > 50


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO / "docs")))
def test_python_blocks_are_valid_python(page: Path) -> None:
    for block in blocks(page):
        if block.language == "python":
            compile(block.code, block.where(), "exec")


def test_the_checker_catches_a_wrong_command_and_option() -> None:
    assert _check("labelloop lf apply x.py -p spam --executor dask") == []
    assert _check("labelloop lf aply x.py") == ["labelloop lf has no command 'aply'"]
    assert _check("labelloop prelabel --modle minilm") == [
        "labelloop prelabel has no option --modle"]
    assert _command_lines("x && .venv/bin/labelloop status -p a  # why\n") == [
        ".venv/bin/labelloop status -p a"]
