"""Loading hub and local models: why a name failed, which version a model is.

Optional packages are imported with :func:`labelloop._deps.require`.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from labelloop.errors import ModelLoadError


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


def model_version(name: str, config: object) -> str:
    """Version of a hub or local ``transformers`` model.

    The hub commit when the model came from the hub; for a local directory, a hash of
    its files' names, sizes and modification times (retrained weights change it).
    """
    commit = getattr(config, "_commit_hash", None)
    if commit:
        return str(commit)
    path = Path(name)
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else []
    stamp = "".join(
        f"{p.relative_to(path)}:{p.stat().st_size}:{p.stat().st_mtime_ns};" for p in files
    )
    return "local-" + hashlib.sha256(stamp.encode()).hexdigest()[:12]
