"""Keep the active-learning queue fresh while people label.

After every ``settings.requeue_every`` answers in a project, the server calls a refresh
function (for ``labelloop serve --embedding-model``: ``labelloop.services.active.
refresh_priorities``) in a background thread, so a submit never waits for training.
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Callable

from labelloop.services.project import ProjectInfo

log = logging.getLogger("labelloop.server")


class Requeuer:
    """Count answers per project and refresh priorities every ``requeue_every`` of them.

    Parameters
    ----------
    refresh:
        Recomputes the item priorities of a project; runs in a background thread, at most
        one at a time per project.
    """

    def __init__(self, refresh: Callable[[ProjectInfo], object]) -> None:
        self._refresh = refresh
        self._counts: dict[int, int] = defaultdict(int)
        self._running: set[int] = set()
        self._lock = threading.Lock()
        self.threads: list[threading.Thread] = []

    def labeled(self, project: ProjectInfo) -> bool:
        """Count one answer; start a refresh when due. Returns whether one started."""
        with self._lock:
            self._counts[project.id] += 1
            if self._counts[project.id] < project.settings.requeue_every:
                return False
        return self.start_now(project)

    def start_now(self, project: ProjectInfo) -> bool:
        """Start a refresh now unless one is running. Returns whether one started."""
        with self._lock:
            if project.id in self._running:
                return False
            self._counts[project.id] = 0
            self._running.add(project.id)
        thread = threading.Thread(target=self._run, args=(project,), daemon=True,
                                  name=f"requeue-{project.id}")
        self.threads.append(thread)
        thread.start()
        return True

    def _run(self, project: ProjectInfo) -> None:
        try:
            self._refresh(project)
        except Exception:  # a failed refresh keeps the old order; the queue goes on
            log.exception("refreshing the priorities of project %s failed", project.name)
        finally:
            with self._lock:
                self._running.discard(project.id)
