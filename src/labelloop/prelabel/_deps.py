"""Lazy imports of the optional model dependencies (the ``models`` extra)."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from labelloop.errors import MissingDependencyError, ModelLoadError


def require(module: str, *, package: str | None = None, feature: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra.

    Parameters
    ----------
    module:
        Dotted module name to import.
    package:
        Name of the PyPI package that provides it (defaults to ``module``).
    feature:
        What needs it, for the message ("zero-shot text with MiniLM").
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependencyError(package or module, "models", feature) from None


def hub_load_error(name: str, exc: BaseException, *, builtins: tuple[str, ...]) -> ModelLoadError:
    """Explain why a model name or path could not be loaded."""
    offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0", "false", "False")
    if Path(name).exists():
        why = f"the local path exists but is not a loadable model ({type(exc).__name__}: {exc})"
    elif offline:
        why = "it is not a local path and HF_HUB_OFFLINE is set, so the hub was not asked"
    else:
        why = f"it is not a local path and the hub did not provide it ({type(exc).__name__})"
    return ModelLoadError(
        f"could not load model {name!r}: {why}; built-in models: {', '.join(builtins)}"
    )
