"""The Store protocol: what services may ask of storage, one protocol per repository.

:class:`StoreProtocol` composes the repositories below; :class:`labelloop.storage.Store`
implements it over SQLite and PostgreSQL (``tests/contract/test_store.py`` runs the same
contract against both). Services type their store as :class:`StoreProtocol`, so another
backend (or a fake in tests) only has to provide these methods.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from labelloop.core.matrix import LabelMatrix
from labelloop.core.records import (
    AnnotationRecord,
    ExportPage,
    ImportItem,
    ItemRecord,
    PendingAnnotation,
    Snapshot,
    SourceRecord,
    UserRecord,
)
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.storage.browse import BrowseFilter, BrowseRow, BulkResult, Sort
from labelloop.storage.comments import CommentRecord
from labelloop.storage.llm import LLMRun
from labelloop.storage.loop_rounds import LoopRound
from labelloop.storage.pages import ItemFlags, VotesVersion
from labelloop.storage.records import (
    Claim,
    Failure,
    ImportResult,
    ProjectInfo,
    StoreStatus,
    TokenInfo,
    Vote,
    VoteColumns,
)
from labelloop.storage.status import ModelCounts
from labelloop.storage.task_path import ClaimedTask, Parse, Route, Submitted


@runtime_checkable
class ProjectRepository(Protocol):
    """Projects: name, label schema, settings."""

    dialect: str
    """The database: ``"sqlite"`` or ``"postgresql"``."""
    config_version: int
    """Changes whenever a project's settings, access or members change through this
    object (caches of project details compare it)."""

    def create_project(
        self, name: str, schema: LabelSchema, settings: ProjectSettings | None = None
    ) -> ProjectInfo: ...

    def get_project(self, name: str | None = None) -> ProjectInfo: ...

    def project(self, project_id: int) -> ProjectInfo: ...

    def projects(self) -> list[ProjectInfo]: ...

    def list_projects(self) -> list[str]: ...

    def update_settings(self, project_id: int, settings: ProjectSettings) -> None: ...

    def update_schema(self, project_id: int, schema: LabelSchema) -> ProjectInfo: ...

    def class_votes(self, project_id: int) -> tuple[Counter[int], Counter[str]]: ...

    def set_access(self, project_id: int, *, members_only: bool | None = None,
                   media_roots: Sequence[str] | None = None) -> ProjectInfo: ...


@runtime_checkable
class ItemRepository(Protocol):
    """Items (imported all or nothing), their priorities, failures and embeddings."""

    def import_records(
        self, project_id: int, items: Sequence[ItemRecord | ImportItem],
        annotations: Sequence[PendingAnnotation] = (),
    ) -> ImportResult: ...

    def items(
        self, project_id: int, *, split: str | None = None, ids: Sequence[int] | None = None,
        offset: int = 0, limit: int | None = None,
    ) -> list[ItemRecord]: ...

    def import_batches(
        self, project_id: int,
        batches: Iterable[tuple[Sequence[ItemRecord | ImportItem],
                                Sequence[PendingAnnotation]]],
        *, file_key: str | None = None, file_name: str = "",
    ) -> ImportResult: ...

    def imported_file(self, project_id: int, file_key: str) -> ImportResult | None: ...

    def count_items(self, project_id: int) -> int: ...

    def set_priorities(self, project_id: int, priorities: dict[int, float]) -> None: ...

    def record_failures(self, project_id: int, failures: Sequence[Failure]) -> None: ...

    def failures(self, project_id: int, *, stage: str | None = None) -> list[Failure]: ...

    def put_embeddings(
        self, model: str, item_ids: Sequence[int], vectors: npt.NDArray[Any]
    ) -> None: ...

    def get_embeddings(
        self, model: str, item_ids: Sequence[int], *, path: str | os.PathLike[str] | None = None,
    ) -> tuple[list[int], npt.NDArray[np.float32]]: ...


@runtime_checkable
class AnnotationRepository(Protocol):
    """Sources and their annotations: votes, the label matrix, export snapshots."""

    def ensure_source(
        self, project_id: int, kind: str, name: str, version: str = "",
        *, user_id: int | None = None,
    ) -> SourceRecord: ...

    def sources(
        self, project_id: int, *, kinds: Iterable[str] | None = None
    ) -> list[SourceRecord]: ...

    def user_source_id(self, project_id: int, user_id: int) -> int | None: ...

    def upsert_annotations(
        self, project_id: int, annotations: Sequence[AnnotationRecord]
    ) -> int: ...

    def upsert_posterior(
        self, project_id: int, source_id: int, item_ids: Sequence[int],
        labels: npt.ArrayLike, confidence: npt.ArrayLike, probs: npt.ArrayLike,
        needs_review: npt.ArrayLike, *, batch_size: int = 5000,
    ) -> int: ...

    def replace_annotations(
        self, project_id: int, source_ids: Sequence[int], item_ids: Sequence[int],
        annotations: Sequence[AnnotationRecord],
    ) -> int: ...

    def replace_votes(
        self, project_id: int, source_ids: Sequence[int], item_ids: Sequence[int],
        votes: npt.ArrayLike,
    ) -> int: ...

    def annotations(
        self, project_id: int, *, kinds: Iterable[str] | None = None,
        source_ids: Iterable[int] | None = None,
    ) -> list[AnnotationRecord]: ...

    def user_annotation(
        self, project_id: int, user_id: int, item_id: int
    ) -> AnnotationRecord | None: ...

    def votes(
        self, project_id: int, *, item_ids: Sequence[int] | None = None,
        kinds: Iterable[str] | None = None,
    ) -> list[Vote]: ...

    def vote_columns(
        self, project_id: int, *, kinds: Iterable[str] | None = None
    ) -> VoteColumns: ...

    def delete_annotations(self, project_id: int, source_id: int) -> int: ...

    def label_matrix(
        self, project_id: int, *, kinds: Iterable[str] | None = None,
        item_ids: Sequence[int] | None = None, all_versions: bool = False,
        sparse: bool = False,
    ) -> LabelMatrix: ...

    def export_snapshot(self, project_id: int) -> Snapshot: ...


class ExportPages(Protocol):
    """A project's sources, and its items (with their annotations) page by page, as plain
    tuples, and the newest finished closed-loop round (``None``: none)."""

    sources: list[SourceRecord]
    loop_round: int | None

    def pages(self, *, annotations: bool = True) -> Iterator[ExportPage]: ...

    def data_keys(self) -> list[str]: ...


@runtime_checkable
class ExportRepository(Protocol):
    """Streaming exports: pages of items and annotations from one consistent snapshot."""

    def export_stream(
        self, project_id: int, *, page_size: int = 1000
    ) -> AbstractContextManager[ExportPages]: ...


@runtime_checkable
class StatusRepository(Protocol):
    """Counts of items by split and state, and of annotations per source."""

    def status(self, project_id: int) -> StoreStatus: ...

    def model_counts(self, project_id: int, threshold: float) -> ModelCounts: ...

    def status_with_coverage(self, project_id: int, threshold: float,
                             model: ModelCounts | None = None
                             ) -> tuple[StoreStatus, int, int]: ...


@runtime_checkable
class AccountRepository(Protocol):
    """Users, API tokens and login sessions; secrets arrive hashed."""

    def create_user(self, name: str, role: str, password_hash: str) -> UserRecord: ...

    def get_user(self, user_id: int) -> UserRecord | None: ...

    def user_by_name(self, name: str) -> UserRecord | None: ...

    def user_credentials(self, name: str) -> tuple[UserRecord, str | None] | None: ...

    def users(self) -> list[UserRecord]: ...

    def set_user_active(self, user_id: int, active: bool) -> UserRecord: ...

    def set_password_hash(self, user_id: int, password_hash: str) -> None: ...

    def add_token(self, user_id: int, token_hash: str, name: str = "",
                  expires_at: datetime | None = None) -> int: ...

    def token_user(self, token_hash: str) -> UserRecord | None: ...

    def token_login(self, token_hash: str) -> tuple[UserRecord, TokenInfo] | None: ...

    def tokens(self, user_id: int) -> list[TokenInfo]: ...

    def touch_token(self, token_id: int, when: datetime) -> None: ...

    def revoke_token(self, user_id: int, token_id: int) -> bool: ...

    def add_session(self, user_id: int, token_hash: str, expires_at: datetime) -> None: ...

    def session_user(self, token_hash: str) -> tuple[UserRecord, datetime] | None: ...

    def delete_session(self, token_hash: str) -> None: ...


@runtime_checkable
class MemberRepository(Protocol):
    """Who was admitted to which project."""

    def member_ids(self, project_id: int) -> list[int]: ...

    def add_member(self, project_id: int, user_id: int) -> None: ...

    def remove_member(self, project_id: int, user_id: int) -> bool: ...

    def memberships(self, project_ids: Sequence[int]) -> list[tuple[int, int]]: ...


@runtime_checkable
class QueueRepository(Protocol):
    """Claims of the annotation queue and what each user did with it."""

    def open_claim(
        self, project_id: int, user_id: int, *, now: datetime | None = None
    ) -> Claim | None: ...

    def claim_next(
        self, project_id: int, user_id: int, *, overlap: int, minutes: int,
        honeypot: bool = False, now: datetime | None = None, route: Route = "any",
    ) -> Claim | None: ...

    def claim_item(
        self, project_id: int, user_id: int, item_id: int, *, overlap: int, minutes: int,
        now: datetime | None = None,
    ) -> Claim | None: ...

    def submit_answer(
        self, project_id: int, user_id: int, record: AnnotationRecord, *, overlap: int,
        minutes: int, now: datetime | None = None,
    ) -> bool: ...

    def claim_task(
        self, project_id: int, user_id: int, *, overlap: int, minutes: int,
        honeypot: bool = False, now: datetime | None = None, route: Route = "any",
    ) -> ClaimedTask | None: ...

    def submit_task(
        self, project_id: int, user_id: int, user_name: str, item_id: int, parse: Parse,
        *, seconds: float | None, max_seconds: float, overlap: int, minutes: int,
        now: datetime | None = None,
    ) -> Submitted | None: ...

    def available_items(self, project_id: int, user_id: int, *, overlap: int,
                        limit: int | None = None) -> int: ...

    def finish_claim(
        self, project_id: int, user_id: int, item_id: int, state: str,
        *, now: datetime | None = None,
    ) -> None: ...

    def last_submitted(
        self, project_id: int, user_id: int, *, before: int | None = None
    ) -> int | None: ...

    def was_honeypot(self, project_id: int, user_id: int, item_id: int) -> bool: ...

    def assignment_counts(self, project_id: int, user_id: int) -> dict[str, int]: ...


@runtime_checkable
class ReviewRepository(Protocol):
    """Reviewers' decisions."""

    def record_decision(
        self, project_id: int, item_id: int, reviewer_id: int, decision: str,
        value: dict[str, Any], note: str, created_at: datetime,
    ) -> None: ...

    def send_back_note(self, project_id: int, item_id: int) -> str | None: ...

    def decision_times(self, project_id: int, item_ids: Sequence[int] | None = None
                       ) -> dict[int, datetime]: ...


@runtime_checkable
class PageRepository(Protocol):
    """Reads that cost one page, whatever the project's size (keyset walks, SQL counts)."""

    def item_page(self, project_id: int, *, after: int | None = None, limit: int = 100,
                  split: str | None = None) -> list[ItemRecord]: ...

    def flagged_items(self, project_id: int, *, after: int = 0, limit: int = 500,
                      also: Sequence[int] = (), mask: int | None = None
                      ) -> tuple[list[ItemFlags], int | None]: ...

    def count_flagged(self, project_id: int, *groups: tuple[int, int]) -> list[int]: ...

    def count_requested(self, project_id: int, none_of: int = 0) -> int: ...

    def votes_of_sources(self, project_id: int, source_ids: Sequence[int]) -> list[Vote]: ...

    def item_votes(self, project_id: int, item_ids: Sequence[int], *,
                   kinds: Iterable[str] | None = None) -> dict[int, list[Vote]]: ...

    def votes_where_kind(self, project_id: int, kinds: Iterable[str], *,
                         on_items_of: str | None = None,
                         user_id: int | None = None) -> list[Vote]: ...

    def votes_version(self, project_id: int, kinds: Iterable[str] | None = None
                      ) -> tuple[int, ...]: ...

    def votes_versions(self, project_id: int) -> VotesVersion: ...


@runtime_checkable
@runtime_checkable
class JobRepository(Protocol):
    """Chunked jobs: which chunks are stored, so running a job again skips them."""

    def start_job(self, project_id: int, kind: str, key: str, n_chunks: int
                  ) -> tuple[int, set[int]]: ...

    def finish_chunk(self, project_id: int, job_id: int, chunk: int, n_items: int,
                     failures: Sequence[Failure] = ()) -> bool: ...

    def finish_job(self, project_id: int, job_id: int) -> None: ...

    def job_item_ids(self, project_id: int, *, split: str | None = None) -> list[int]: ...

    def item_data(self, project_id: int, item_ids: Sequence[int]) -> list[dict[str, Any]]: ...

    def job_chunks(self, project_id: int, key: str) -> list[int]: ...


class LoopRoundRepository(Protocol):
    """Rounds of the closed loop: begun, committed atomically with their results, or failed."""

    def begin_round(self, project_id: int, *, trigger: str, inputs: dict[str, Any]
                    ) -> LoopRound: ...

    def commit_round(
        self, project_id: int, round_id: int, *, annotations: Sequence[AnnotationRecord],
        priorities: dict[int, float], changes: dict[str, Any], seconds: float,
        hard: Sequence[int] | None = None,
    ) -> LoopRound: ...

    def fail_round(self, project_id: int, round_id: int, error: str, *, seconds: float
                   ) -> None: ...

    def loop_rounds(self, project_id: int, *, status: str | None = None,
                    limit: int | None = None) -> list[LoopRound]: ...


class LLMRepository(Protocol):
    """LLM answers cached by request key, and what each LLM run sent and spent."""

    def llm_answers(self, keys: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def put_llm_answers(self, model: str, answers: Mapping[str, Mapping[str, Any]]
                        ) -> None: ...

    def record_llm_run(self, project_id: int, *, kind: str, name: str, model: str,
                       started_at: datetime, counts: Mapping[str, Any]) -> LLMRun: ...

    def llm_runs(self, project_id: int, *, limit: int | None = None) -> list[LLMRun]: ...


@runtime_checkable
class ProgressRepository(Protocol):
    """The label page's reads: answers since a time, progress, an item's queue entry."""

    def answers_since(self, project_id: int, user_id: int, since: datetime) -> int: ...

    def queue_progress(self, project_id: int) -> tuple[int, int]: ...

    def queue_entry(self, item_id: int) -> tuple[bool, float | None] | None: ...

    def queued_priority(self, project_id: int, position: int) -> float | None: ...


@runtime_checkable
class BrowseRepository(Protocol):
    """The data browser: filtered keyset pages of items, counts, bulk actions."""

    def browse_page(self, project_id: int, f: BrowseFilter, *, sort: Sort = "id",
                    desc: bool = False, cursor: str | None = None, limit: int = 50
                    ) -> tuple[list[BrowseRow], str | None]: ...

    def browse_count(self, project_id: int, f: BrowseFilter, *, cap: int = 100_000) -> int: ...

    def browse_ids(self, project_id: int, f: BrowseFilter) -> Iterator[list[int]]: ...

    def set_split_where(self, project_id: int, f: BrowseFilter, split: str) -> BulkResult: ...

    def accept_suggestions(self, project_id: int, f: BrowseFilter, *, reviewer_id: int,
                           reviewer_name: str, note: str = "") -> BulkResult: ...

    def request_review_where(self, project_id: int, f: BrowseFilter, *,
                             requested_by: int | None) -> BulkResult: ...

    def delete_where(self, project_id: int, f: BrowseFilter) -> BulkResult: ...


class CommentRepository(Protocol):
    """Comments on items."""

    def add_comment(self, project_id: int, item_id: int, author_id: int, body: str, *,
                    reply_to: int | None = None) -> CommentRecord: ...

    def item_comments(self, project_id: int, item_id: int, *,
                      viewer_id: int | None = None) -> list[CommentRecord]: ...

    def comment_counts(self, project_id: int, item_ids: Sequence[int]) -> dict[int, int]: ...


class StoreProtocol(
    ProjectRepository,
    ItemRepository,
    AnnotationRepository,
    ExportRepository,
    StatusRepository,
    AccountRepository,
    MemberRepository,
    QueueRepository,
    ReviewRepository,
    JobRepository,
    PageRepository,
    LoopRoundRepository,
    LLMRepository,
    BrowseRepository,
    CommentRepository,
    ProgressRepository,
    Protocol,
):
    """Every repository over one database, and closing it."""

    def close(self) -> None: ...
