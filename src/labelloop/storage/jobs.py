"""Jobs repository: which chunks of an unfinished job are stored, so a rerun skips them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import delete, select

from labelloop.errors import NotFoundError, ValidationError
from labelloop.storage.base import SqlBase, fetch_numbers, insert
from labelloop.storage.models import FailureRow, ItemRow, JobChunkRow, JobRow, utcnow
from labelloop.storage.records import Failure


class SqlJobs(SqlBase):
    """:class:`~labelloop.storage.protocol.JobRepository` over SQL."""

    def start_job(self, project_id: int, kind: str, key: str, n_chunks: int
                  ) -> tuple[int, set[int]]:
        """The job ``key`` of the project (created if new) and the chunks it has stored.

        Raises
        ------
        ValidationError
            If a job with this key exists with another number of chunks.
        """
        if n_chunks < 0:
            raise ValidationError(f"n_chunks must be >= 0, got {n_chunks}")
        with self.write() as s:
            s.execute(
                insert(s, JobRow)
                .values(project_id=project_id, kind=kind, key=key, n_chunks=n_chunks,
                        created_at=utcnow())
                .on_conflict_do_nothing()
            )
            job = s.scalars(select(JobRow).where(JobRow.project_id == project_id,
                                                 JobRow.key == key)).one()
            if job.n_chunks != n_chunks:
                raise ValidationError(
                    f"job {key!r} was started with {job.n_chunks} chunks, not {n_chunks}"
                )
            done = set(s.scalars(select(JobChunkRow.chunk).where(JobChunkRow.job_id == job.id)))
            return int(job.id), {int(c) for c in done}

    def finish_chunk(self, project_id: int, job_id: int, chunk: int, n_items: int,
                     failures: Sequence[Failure] = ()) -> bool:
        """Record chunk ``chunk`` of the job as stored, with its per-item failures, atomically.

        Returns False (and records nothing) when the chunk was recorded already, so a chunk
        computed twice never stores its failures twice.
        """
        with self.write() as s:
            owner = s.scalar(select(JobRow.project_id).where(JobRow.id == job_id))
            if owner != project_id:
                raise NotFoundError(f"job {job_id} not found in this project")
            res = s.execute(
                insert(s, JobChunkRow)
                .values(job_id=job_id, chunk=chunk, n_items=n_items, finished_at=utcnow())
                .on_conflict_do_nothing()
                .returning(JobChunkRow.chunk)
            )
            if res.first() is None:  # recorded already
                return False
            if failures:
                now = utcnow()
                s.execute(insert(s, FailureRow), [
                    {"project_id": project_id, "item_id": f.item_id, "source_id": f.source_id,
                     "stage": f.stage, "error": f.error[:2000], "created_at": now}
                    for f in failures
                ])
            return True

    def finish_job(self, project_id: int, job_id: int) -> None:
        """Forget a finished job and its chunks (running it again computes everything)."""
        with self.write() as s:
            s.execute(delete(JobChunkRow).where(JobChunkRow.job_id == job_id))
            s.execute(delete(JobRow).where(JobRow.id == job_id, JobRow.project_id == project_id))

    def job_item_ids(self, project_id: int, *, split: str | None = None) -> list[int]:
        """Ids of the project's items (of one split) in id order: what a job splits in chunks."""
        q = select(ItemRow.id).where(ItemRow.project_id == project_id)
        if split is not None:
            q = q.where(ItemRow.split == split)
        with self.snapshot() as s:
            ids = fetch_numbers(s, q.order_by(ItemRow.id), 1, np.int64)[:, 0]
        return [int(i) for i in ids.tolist()]

    def item_data(self, project_id: int, item_ids: Sequence[int]) -> list[dict[str, Any]]:
        """The ``data`` of items whose ids come in ascending order (a chunk of a job), read
        with one range query, without building item records.

        Raises
        ------
        NotFoundError
            If an item is not in this project.
        """
        if not len(item_ids):
            return []
        q = (select(ItemRow.id, ItemRow.data)
             .where(ItemRow.project_id == project_id,
                    ItemRow.id >= item_ids[0], ItemRow.id <= item_ids[-1])
             .order_by(ItemRow.id))
        with self.snapshot() as s:
            found = {int(i): data for i, data in s.execute(q)}
        missing = [i for i in item_ids if i not in found]
        if missing:
            raise NotFoundError(f"item(s) {missing[:5]} not found in this project")
        return [found[i] for i in item_ids]

    def job_chunks(self, project_id: int, key: str) -> list[int]:
        """Stored chunks of the unfinished job ``key`` (empty when there is none)."""
        with self.snapshot() as s:
            return sorted(int(c) for c in s.scalars(
                select(JobChunkRow.chunk).join(JobRow, JobRow.id == JobChunkRow.job_id)
                .where(JobRow.project_id == project_id, JobRow.key == key)))
