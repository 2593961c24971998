"""labelloop: AI-assisted data labeling where models, rules and people label together."""

from labelloop.core.matrix import ABSTAIN
from labelloop.errors import LabelloopError

__version__ = "0.1.0"

__all__ = ["ABSTAIN", "LabelloopError", "__version__"]
