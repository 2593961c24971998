"""MkDocs hook: the CLI reference page, generated from the Typer app at every build.

``reference/cli.md`` is not a file in the repository: it is written here from
``typer.main.get_command(labelloop.cli.app.app)``, so a new command or option shows up in
the site as soon as it exists, and a removed one disappears (no copy to drift).
"""

from __future__ import annotations

import re
from typing import Any

import typer.main
from mkdocs.structure.files import File, Files
from rich.text import Text

BOLD = re.compile(r"\[bold\](.+?)\[/(?:bold)?\]", re.DOTALL)
PAGE = "reference/cli.md"
INTRO = """# Command line reference

Generated from the Typer app (`labelloop.cli.app`) each time the site is built, so it
always matches the installed `labelloop`. Every command also answers `--help`.
Commands that work on a project take `--project`/`-p` (or the `LABELLOOP_PROJECT`
environment variable); the default is the current folder. Bad input exits with code 2 and
one line saying what was wrong and how to fix it.
"""


def _plain(markup: str | None) -> str:
    """Rich markup as Markdown: bold spans (the examples) as code, the rest as plain text,
    as the terminal shows it."""
    code = BOLD.sub(lambda m: "`" + " ".join(m[1].split()) + "`", markup or "")
    return Text.from_markup(code).plain.strip()


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _default(param: Any) -> str:
    default = param.default
    if getattr(param, "is_flag", False) and not param.secondary_opts:
        return ""
    if default is None or default == () or callable(default):
        return ""
    if isinstance(default, bool) and param.secondary_opts:
        return f"`{param.opts[0] if default else param.secondary_opts[0]}`"
    return f"`{default}`"


def _params_table(params: list[Any]) -> list[str]:
    rows = ["| argument / option | type | default | description |", "|---|---|---|---|"]
    for p in params:
        if getattr(p, "hidden", False) or p.name in ("install_completion", "show_completion"):
            continue
        names = " / ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        if type(p).__name__ == "TyperArgument":
            names = f"`{p.name.upper()}`"
        kind = "flag" if getattr(p, "is_flag", False) else p.display_type(None).strip("<>")
        desc = _plain(p.help)
        if getattr(p, "envvar", None):
            desc += f" (env: `{p.envvar}`)"
        if p.required:
            desc += " **Required.**"
        if p.multiple:
            desc += " Repeatable."
        rows.append(f"| {names} | {_cell(kind)} | {_cell(_default(p))} | {_cell(desc)} |")
    return rows if len(rows) > 2 else []


def _command(cmd: Any, path: list[str], level: int) -> list[str]:
    name = " ".join(path)
    lines = [f"{'#' * level} `{name}`", ""]
    text = _plain(cmd.help)
    if text:
        lines += [text, ""]
    subcommands = getattr(cmd, "commands", None)
    if subcommands is None:
        lines += ["```text", f"{name} [OPTIONS]"
                  + "".join(f" {p.name.upper()}" for p in cmd.params
                            if type(p).__name__ == "TyperArgument"), "```", ""]
    lines += [*_params_table(cmd.params), ""]
    for sub_name, sub in (subcommands or {}).items():
        if not getattr(sub, "hidden", False):
            lines += _command(sub, [*path, sub_name], min(level + 1, 4))
    return lines


def cli_markdown() -> str:
    """The reference page for the ``labelloop`` command, as Markdown."""
    from labelloop.cli.app import app

    root = typer.main.get_command(app)
    body = _command(root, ["labelloop"], 2)
    return INTRO + "\n" + "\n".join(body).rstrip() + "\n"


def on_files(files: Files, config: Any) -> Files:
    """Add the generated page to the site."""
    files.append(File.generated(config, PAGE, content=cli_markdown()))
    return files
