"""The annotation server: FastAPI app, REST API under ``/api/v1``, HTML pages.

Start it with ``labelloop serve PROJECT_DIR`` or build it with :func:`create_app`.
"""

from labelloop.server.app import create_app

__all__ = ["create_app"]
