"""labelloop: AI-assisted data labeling where models, rules and people label together.

The curated public API; engines live in ``labelloop.weak``, ``labelloop.active``,
``labelloop.quality`` and ``labelloop.prelabel``. Names load on first use, so
``import labelloop`` stays light (no database or model libraries until they are needed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from labelloop.client import Client
    from labelloop.core.matrix import ABSTAIN
    from labelloop.core.schema import LabelClass, LabelSchema, ProjectSettings
    from labelloop.errors import LabelloopError
    from labelloop.services.project import Project

__version__ = "0.1.0"

_HOMES = {
    "ABSTAIN": "labelloop.core.matrix",
    "Client": "labelloop.client",
    "LabelClass": "labelloop.core.schema",
    "LabelSchema": "labelloop.core.schema",
    "LabelloopError": "labelloop.errors",
    "Project": "labelloop.services.project",
    "ProjectSettings": "labelloop.core.schema",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'labelloop' has no attribute {name!r}")
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


__all__ = [
    "ABSTAIN",
    "Client",
    "LabelClass",
    "LabelSchema",
    "LabelloopError",
    "Project",
    "ProjectSettings",
    "__version__",
]
