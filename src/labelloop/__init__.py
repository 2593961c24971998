"""labelloop: AI-assisted data labeling where models, rules and people label together.

The curated public API; engines live in ``labelloop.weak``, ``labelloop.active``,
``labelloop.quality`` and ``labelloop.prelabel``.
"""

from labelloop.client import Client
from labelloop.core.matrix import ABSTAIN
from labelloop.core.schema import LabelClass, LabelSchema, ProjectSettings
from labelloop.errors import LabelloopError
from labelloop.services.project import Project

__version__ = "0.1.0"

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
