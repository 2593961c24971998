"""Project setup from the server: create a project in the server's store, edit its classes.

The server holds one store with several projects; a project created here lives in that store
exactly as one made by ``labelloop init --db URL --name NAME`` (no project folder). Classes
are typed one per line, ``name``, ``name: description``, with an optional ``#rrggbb`` colour
at the end of the line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from labelloop.core.schema import LabelClass, LabelSchema
from labelloop.errors import ValidationError
from labelloop.services.project import Project, ProjectInfo, StoreProtocol

_COLOR = re.compile(r"\s*(#[0-9a-fA-F]{6})\s*$")
MAX_NAME = 200


def parse_class_lines(text: str) -> list[LabelClass]:
    """Classes typed one per line: ``name``, ``name: description``, each optionally ending
    with a ``#rrggbb`` colour (blank lines are skipped).

    Raises
    ------
    ValidationError
        Naming the line of a class that is not valid, or when no class is given.
    """
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        color = ""
        found = _COLOR.search(line)
        if found:
            color, line = found.group(1).lower(), line[:found.start()]
        name, _, description = line.partition(":")
        try:
            out.append(LabelClass(name=name, description=description.strip(), color=color))
        except ValueError as exc:
            first = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
            raise ValidationError(f"classes, line {number} ({line.strip()[:40]!r}): "
                                  f"{first}") from None
    if not out:
        raise ValidationError("classes: give at least one class, one per line "
                              "(e.g. 'spam: unwanted advertising')")
    return out


def create_project(store: StoreProtocol, name: str, task: str,
                   classes: Sequence[LabelClass]) -> ProjectInfo:
    """Create a project called ``name`` in ``store`` (the server's database).

    Raises
    ------
    ValidationError
        For a blank or too long name, an unknown task, or classes the task does not accept.
    ConflictError
        If a project of that name exists.
    """
    name = name.strip()
    if not name or len(name) > MAX_NAME:
        raise ValidationError(f"name: give a project name of 1 to {MAX_NAME} characters")
    schema = LabelSchema.parse({"task": task.strip(),
                                "classes": [c.model_dump() for c in classes]})
    return store.create_project(name, schema)


@dataclass(frozen=True)
class ClassEdit:
    """What becomes of an existing class: its new name, description and colour, or
    ``remove``."""

    name: str
    description: str = ""
    color: str = ""
    remove: bool = False


def edit_classes(project: Project, edits: Mapping[str, ClassEdit],
                 added: Sequence[LabelClass] = ()) -> LabelSchema:
    """Change the classes of a project: descriptions and colours freely; a class may be
    renamed or removed only while no vote uses it, and removed only while no vote uses a
    later class either (class indices would shift); ``added`` classes go at the end.

    ``edits`` maps an existing class name to its edit (classes not named stay as they are).

    Raises
    ------
    ValidationError
        Naming the class whose votes forbid the change, or the problem of the new schema
        (a repeated name, too few classes for the task).
    """
    old = project.schema.classes
    unknown = sorted(set(edits) - {c.name for c in old})
    if unknown:
        raise ValidationError(f"no class named {', '.join(map(repr, unknown))} in this "
                              f"project; its classes are {project.schema.names}")
    votes = None
    kept: list[dict[str, str]] = []
    for i, c in enumerate(old):
        e = edits.get(c.name)
        if e is None:
            kept.append(c.model_dump())
            continue
        new_name = e.name.strip()
        if e.remove or new_name != c.name:
            if votes is None:
                votes = project.store.class_votes(project.id)
            n = votes[0][i] + votes[1][c.name]
            if n:
                what = "removed" if e.remove else "renamed"
                raise ValidationError(
                    f"class {c.name!r} has {n} vote(s), so it cannot be {what}; "
                    "edit its description instead, or add a new class")
            if e.remove:
                later = [old[j].name for j in range(i + 1, len(old)) if votes[0][j]]
                if later:
                    raise ValidationError(
                        f"removing class {c.name!r} would renumber {later[0]!r}, which has "
                        "votes; keep the class (describe it as unused) instead")
                continue
        kept.append({"name": new_name, "description": e.description.strip(),
                     "color": e.color.strip().lower()})
    schema = LabelSchema.parse({"task": project.schema.task,
                                "classes": [*kept, *(c.model_dump() for c in added)]})
    project.info = project.store.update_schema(project.id, schema)
    return schema
