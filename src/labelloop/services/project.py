"""The Project: one labeling project in a folder (SQLite) or in a PostgreSQL database.

A project folder holds ``labelloop.yaml`` (database URL and project name) and, for the
embedded default, ``labelloop.db``. Everything the CLI and the server do to a project goes
through this class.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from labelloop.core.matrix import LabelMatrix
from labelloop.core.records import (
    AnnotationRecord,
    ImportItem,
    ItemRecord,
    PendingAnnotation,
    SourceKind,
    SourceRecord,
)
from labelloop.core.schema import LabelSchema, ProjectSettings
from labelloop.errors import ConflictError, NotFoundError, UserInputError, ValidationError
from labelloop.io import (
    ImportOptions,
    ParsedImport,
    detect_export_format,
    detect_import_format,
    get_format,
)
from labelloop.io.read_ahead import read_ahead
from labelloop.services.imports import ImportChecks, has_local_image
from labelloop.services.media import check_roots, local_image, media_roots
from labelloop.storage import (
    Failure,
    ImportResult,
    ProjectInfo,
    Store,
    StoreProtocol,
    StoreStatus,
    sqlite_url,
)

__all__ = ["CONFIG_FILE", "Project", "ProjectInfo", "ProjectStatus", "StoreProtocol",
           "load_schema_file"]

CONFIG_FILE = "labelloop.yaml"
EXPORT_PAGE_SIZE = 1000
"""Items an export reads at a time (with their annotations)."""
ACCESS_SETTINGS = ("members_only", "media_roots")
READ_AHEAD_BYTES = 4 << 20
"""Files at least this large are parsed in a second process while this one stores them
(:func:`~labelloop.io.read_ahead.read_ahead`); smaller ones take less time than a fork."""


@dataclass(frozen=True)
class ProjectStatus(StoreStatus):
    """A project's name, task and classes, with its item and annotation counts."""

    project: str
    task: str
    classes: list[str]


def load_schema_file(path: str | Path) -> LabelSchema:
    """Read a label schema from YAML (``task`` and ``classes`` with descriptions)."""
    p = Path(path)
    if not p.is_file():
        raise NotFoundError(f"schema file {str(p)!r} does not exist")
    try:
        raw = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValidationError(f"{p}: not valid YAML ({exc})") from None
    return LabelSchema.parse(raw)


class Project:
    """A labeling project: its schema, settings, items and every source's annotations.

    Use :meth:`create` or :meth:`open` rather than the constructor.

    Examples
    --------
    >>> p = Project.create("spam", task="text-classification", labels=["ham", "spam"])
    >>> p.import_file("comments.csv", label_column="CLASS")  # doctest: +SKIP
    >>> p.export("labels.jsonl")  # doctest: +SKIP
    """

    def __init__(self, store: StoreProtocol, info: ProjectInfo,
                 folder: Path | None = None) -> None:
        self.store = store
        self.info = info
        self.folder = folder

    # -- lifecycle ----------------------------------------------------------------
    @classmethod
    def create(
        cls,
        folder: str | Path,
        *,
        task: str | None = None,
        labels: Sequence[str] | None = None,
        schema: LabelSchema | dict[str, Any] | str | Path | None = None,
        db: str | None = None,
        name: str | None = None,
        settings: ProjectSettings | dict[str, Any] | None = None,
    ) -> Project:
        """Create a project in ``folder`` (SQLite there, or the database ``db``).

        Give either ``task`` and ``labels`` or a ``schema`` (object, mapping or YAML path).

        Raises
        ------
        ConflictError
            If the folder already holds a project.
        ValidationError
            If the schema is invalid.
        """
        path = Path(folder)
        if (path / CONFIG_FILE).exists():
            raise ConflictError(f"{path} already holds a labelloop project; open it instead")
        label_schema = _resolve_schema(task, labels, schema)
        if isinstance(settings, dict):
            settings = ProjectSettings.model_validate(settings)
        path.mkdir(parents=True, exist_ok=True)
        url = db or sqlite_url(path)
        store = Store(url)
        project_name = name or path.resolve().name
        try:
            info = store.create_project(project_name, label_schema, settings)
        except Exception:
            store.close()
            raise
        config = {"project": project_name, "db": "labelloop.db" if db is None else db}
        (path / CONFIG_FILE).write_text(yaml.safe_dump(config), encoding="utf-8")
        return cls(store, info, path)

    @classmethod
    def open(cls, folder: str | Path = ".", *, db: str | None = None,
             name: str | None = None) -> Project:
        """Open the project in ``folder``, or the project ``name`` in database ``db``.

        Raises
        ------
        NotFoundError
            If there is no project there.
        """
        path = Path(folder)
        if db is None:
            cfg_file = path / CONFIG_FILE
            if not cfg_file.is_file():
                raise NotFoundError(
                    f"no labelloop project in {str(path)!r} (no {CONFIG_FILE}); "
                    "create one with: labelloop init DIR --task ... --labels ..."
                )
            cfg = yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}
            db = cfg.get("db", "labelloop.db")
            name = name or cfg.get("project")
            if db == "labelloop.db":
                db = sqlite_url(path)
        store = Store(db)
        try:
            info = store.get_project(name)
        except Exception:
            store.close()
            raise
        return cls(store, info, path if path.exists() else None)

    def close(self) -> None:
        """Release the database connections."""
        self.store.close()

    def __enter__(self) -> Project:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- properties -------------------------------------------------------------------
    @property
    def id(self) -> int:
        """Database id of the project."""
        return self.info.id

    @property
    def name(self) -> str:
        """Name of the project."""
        return self.info.name

    @property
    def schema(self) -> LabelSchema:
        """Task type and classes (with descriptions)."""
        return self.info.schema

    @property
    def settings(self) -> ProjectSettings:
        """Workflow settings (overlap, honeypot rate, ...)."""
        return self.info.settings

    def update_settings(self, **changes: Any) -> ProjectSettings:
        """Change some settings, validated; returns the new settings.

        The one path for settings changes: the CLI, the API and the dashboard form. Besides
        the fields of :class:`ProjectSettings` it takes the access settings
        ``members_only`` (bool) and ``media_roots`` (folders item images may come from;
        each must exist).

        Raises
        ------
        ValidationError
            If the merged settings are invalid.
        """
        access = {k: changes.pop(k) for k in ACCESS_SETTINGS if k in changes}
        new = self.settings
        if changes:
            merged = {**self.settings.model_dump(), **changes}
            try:
                new = ProjectSettings.model_validate(merged)
            except Exception as exc:
                raise ValidationError(f"invalid settings: {exc}") from None
            self.store.update_settings(self.id, new)
            self.info = replace(self.info, settings=new)
        if access:
            roots = access.get("media_roots")
            self.info = self.store.set_access(
                self.id, members_only=access.get("members_only"),
                media_roots=None if roots is None else [str(r) for r in check_roots(roots)])
        return new

    @property
    def media_roots(self) -> list[Path]:
        """Folders item images may come from: the configured ``media_roots``, else the
        project folder (the server adds the folders of uploaded files' sources)."""
        return media_roots(self.info, self.folder)

    # -- import ---------------------------------------------------------------------
    def import_file(
        self, path: str | Path, *, format: str | None = None,
        image_root: str | Path | None = None, trust_folder: bool = True, **options: Any,
    ) -> ImportResult:
        """Import a CSV, JSONL, Label Studio JSON or COCO file, all or nothing.

        Keyword options are those of :class:`labelloop.io.ImportOptions` (``text_column``,
        ``label_column``, ``label_kind``, ``split`` ...). The file is read and stored in
        batches inside one transaction (memory holds one batch); a bad row anywhere rolls
        it all back. Re-importing the same rows adds nothing, and re-importing the same
        file with the same options (and schema) is recognised by its hash and returns at
        once with ``unchanged`` set, unless ``force``. Local images must lie in the
        project's media roots and be readable images (their width and height are stored);
        with ``trust_folder`` (the default; off for files uploaded to the server) the
        file's own folder becomes one, and relative image paths are read from it (from
        ``image_root`` when given). The keyword ``progress`` (a
        callable) is called after each stored batch with how many bytes of the file were
        read, ``rows_progress`` after each batch read with how many rows were read so far
        (bad ones too); ``force=True`` reads a file imported before.

        Raises
        ------
        ImportValidationError
            With a row-level report; nothing is stored.
        """
        p = Path(path)
        if not p.is_file():
            raise NotFoundError(f"file {str(p)!r} does not exist")
        fmt = get_format(format, "import") if format else detect_import_format(p)
        progress: Callable[[int], None] | None = options.pop("progress", None)
        rows_progress: Callable[[int], None] | None = options.pop("rows_progress", None)
        force = bool(options.pop("force", False))
        opts = _options(options)
        root = Path(image_root) if image_root else None
        key = _file_key(p, fmt.name, opts, root, self.schema)
        if not force:
            done = self.store.imported_file(self.id, key)
            if done is not None:
                return done
        if root is None and trust_folder and self.schema.task_type.is_image:
            # relative image paths are read from the file's own folder (kept relative when
            # it is the project folder, so the project can move)
            folder = p.resolve().parent
            if self.folder is None or folder != self.folder.resolve():
                root = folder
        schema = self.schema
        fmt.check(schema.task, "import")  # before any process starts

        def reader() -> Iterator[ParsedImport]:
            return fmt.stream(p, schema, opts, image_root=root)

        return self._store_batches(reader, p, trust_folder=trust_folder, progress=progress,
                                   file_key=key, rows_progress=rows_progress,
                                   ahead=rows_progress is None
                                   and p.stat().st_size >= READ_AHEAD_BYTES)

    def import_dataframe(self, df: Any, **options: Any) -> ImportResult:
        """Import the rows of a pandas DataFrame (same options as :meth:`import_file`)."""
        from labelloop.io.hf_datasets import iter_dataframe

        return self._store_batches(lambda: iter_dataframe(df, self.schema, _options(options)))

    def import_dataset(self, ds: Any, **options: Any) -> ImportResult:
        """Import the rows of a Hugging Face ``datasets.Dataset``."""
        from labelloop.io.hf_datasets import iter_dataset

        return self._store_batches(lambda: iter_dataset(ds, self.schema, _options(options)))

    def _store_batches(self, reader: Callable[[], Iterator[ParsedImport]],
                       source: Path | None = None, *, trust_folder: bool = False,
                       progress: Callable[[int], None] | None = None,
                       file_key: str | None = None,
                       rows_progress: Callable[[int], None] | None = None,
                       ahead: bool = False) -> ImportResult:
        """Check and store the batches of ``reader()`` in one transaction; with ``ahead``
        the reading and the checks run in a second process while this one stores
        (:func:`~labelloop.io.read_ahead.read_ahead`; not with ``rows_progress``, which
        the checks call as they read)."""
        roots = self.media_roots
        folder = source.resolve().parent if source is not None and trust_folder else None
        if folder is not None:
            roots.append(folder)
        checks = ImportChecks(source.name if source else "data", base=self.folder, roots=roots,
                              on_rows=rows_progress)

        def checked_batches() -> Iterator[ParsedImport]:
            return checks.guard(reader())

        batches = read_ahead(checked_batches) if ahead else checked_batches()
        image_task = self.schema.task_type.is_image
        local_images = False

        def checked() -> Iterator[tuple[list[ImportItem], list[PendingAnnotation]]]:
            nonlocal local_images
            for batch in batches:
                if image_task and not local_images:
                    local_images = has_local_image(batch.items)
                if batch.items or batch.annotations:  # past a bad row: progress only
                    yield batch.items, batch.annotations
                if progress is not None:
                    progress(batch.position)

        result = self.store.import_batches(self.id, checked(), file_key=file_key,
                                           file_name=source.name if source else "")
        if folder is not None and local_images and (
                str(folder) not in self.info.media_roots) and (
                self.folder is None or folder != self.folder.resolve()):
            self.info = self.store.set_access(
                self.id, media_roots=[*self.info.media_roots, str(folder)])
        return result

    # -- export ---------------------------------------------------------------------
    def export(self, path: str | Path, *, format: str | None = None,
               page_size: int = EXPORT_PAGE_SIZE) -> Path:
        """Export every item with its labels, read in one consistent snapshot.

        ``format`` is one of ``csv``, ``jsonl``, ``label-studio``, ``coco``, ``hf`` (a
        folder written with ``datasets.save_to_disk``); by default the file extension
        decides. Items are read ``page_size`` at a time (with their annotations) inside one
        read transaction, so memory holds one page, not the project. The file is written
        next to its target and moved into place, so a failed export never leaves half a
        file.
        """
        p = Path(path)
        fmt = get_format(format, "export") if format else detect_export_format(p)
        fmt.check(self.schema.task, "export")
        with self.store.export_stream(self.id, page_size=page_size) as pages:
            fmt.write(p, pages, self.schema)
        return p

    # -- reading ----------------------------------------------------------------------
    def image_file(self, item: ItemRecord) -> Path:
        """The local image file of an item, inside the project's media roots.

        Raises
        ------
        NotFoundError
            If the item has no local image, or it lies outside the media roots (``..`` and
            symbolic links are followed first), or it is not an image file.
        """
        return local_image(item, self.folder, self.media_roots)

    def items(self, *, split: str | None = None, ids: Sequence[int] | None = None,
              offset: int = 0, limit: int | None = None,
              after: int | None = None) -> list[ItemRecord]:
        """Items in id order, optionally one split, a page, or the given ids (in order).

        ``after`` pages by key: the items with an id above it, at most ``limit`` (default
        100); the next page starts after the last id. It costs the same on any page, where
        ``offset`` (kept for compatibility) walks every item before the page.

        Raises
        ------
        ValidationError
            If ``after`` is combined with ``offset`` or ``ids``, or is negative.
        """
        if after is not None:
            if offset or ids is not None:
                raise ValidationError("give either 'after' or 'offset'/'ids', not both")
            return self.store.item_page(self.id, after=after, split=split,
                                        limit=100 if limit is None else limit)
        return self.store.items(self.id, split=split, ids=ids, offset=offset, limit=limit)

    def status(self) -> ProjectStatus:
        """Counts of items by state and split and of annotations per source
        (``.to_dict()`` gives the JSON of ``labelloop status --json``)."""
        st = self.store.status(self.id)
        return ProjectStatus(st.items, st.splits, st.states, st.sources, self.name,
                             self.schema.task, self.schema.names)

    # -- sources and annotations --------------------------------------------------------
    def source(self, kind: str, name: str, version: str = "", *,
               user_id: int | None = None) -> SourceRecord:
        """The source with this identity (created on first use)."""
        return self.store.ensure_source(self.id, kind, name, version, user_id=user_id)

    def sources(self, *, kinds: Iterable[str] | None = None) -> list[SourceRecord]:
        """Sources of this project, optionally only some kinds."""
        return self.store.sources(self.id, kinds=kinds)

    def add_annotations(self, annotations: Sequence[AnnotationRecord]) -> int:
        """Store annotations (one per item and source; a newer one replaces the older)."""
        self._check_labels(annotations)
        return self.store.upsert_annotations(self.id, annotations)

    def replace_annotations(
        self, source_ids: Sequence[int], item_ids: Sequence[int],
        annotations: Sequence[AnnotationRecord],
    ) -> int:
        """Make ``annotations`` the whole answer of these sources on these items, atomically.

        Earlier annotations of ``source_ids`` on ``item_ids`` that ``annotations`` does not
        repeat are removed (a labeling function that now abstains loses its old vote).
        """
        self._check_labels(annotations)
        return self.store.replace_annotations(self.id, source_ids, item_ids, annotations)

    def _check_labels(self, annotations: Sequence[AnnotationRecord]) -> None:
        names = set(self.schema.names)
        for a in annotations:
            if a.label is not None and not 0 <= a.label < self.schema.k:
                raise ValidationError(
                    f"label {a.label} is out of range for classes {self.schema.names}"
                )
            for sp in a.spans or ():
                if sp.label not in names:
                    raise ValidationError(f"span label {sp.label!r} is not a class; "
                                          f"expected one of {self.schema.names}")

    def annotations(self, *, kinds: Iterable[str] | None = None,
                    source_ids: Iterable[int] | None = None) -> list[AnnotationRecord]:
        """Stored annotations, optionally only some source kinds or ids."""
        return self.store.annotations(self.id, kinds=kinds, source_ids=source_ids)

    def label_matrix(self, *, kinds: Iterable[str] | None = None,
                     item_ids: Sequence[int] | None = None,
                     all_versions: bool = False) -> LabelMatrix:
        """Label matrix over items (rows, id order) and sources (columns).

        One column per source, its newest version only unless ``all_versions``.
        """
        return self.store.label_matrix(
            self.id, kinds=kinds, item_ids=item_ids, all_versions=all_versions
        )

    def annotation_table(self, *, kinds: Iterable[str] = (SourceKind.HUMAN,)
                         ) -> list[tuple[int, str, int]]:
        """Long table ``(item_id, source_name, label)`` of single-label annotations."""
        names = {s.id: s.name for s in self.sources(kinds=kinds)}
        return [(a.item_id, names[a.source_id], a.label)
                for a in self.annotations(kinds=kinds) if a.label is not None]

    def record_failures(self, failures: Sequence[Failure]) -> None:
        """Record per-item failures of a stage (labeling function, model, ...)."""
        self.store.record_failures(self.id, failures)

    def failures(self, *, stage: str | None = None) -> list[Failure]:
        """Recorded per-item failures."""
        return self.store.failures(self.id, stage=stage)

    # -- embeddings and priorities ------------------------------------------------------
    def cached_embeddings(self, model: str, item_ids: Sequence[int], *,
                          path: str | os.PathLike[str] | None = None,
                          ) -> tuple[list[int], npt.NDArray[np.float32]]:
        """Embeddings cached for ``model``: the ids found and their vectors.

        With ``path`` (and ``item_ids`` in increasing order) the vectors are written to a
        file there and come back memory-mapped (see ``Store.get_embeddings``).
        """
        return self.store.get_embeddings(model, item_ids, path=path)

    def cache_embeddings(self, model: str, item_ids: Sequence[int],
                         vectors: npt.NDArray[Any]) -> None:
        """Cache embeddings of items under a model name."""
        self.store.put_embeddings(model, item_ids, vectors)

    def set_priorities(self, priorities: dict[int, float]) -> None:
        """Store the active-learning priority of items (higher is labeled sooner)."""
        self.store.set_priorities(self.id, priorities)


def _resolve_schema(task: str | None, labels: Sequence[str] | None,
                    schema: LabelSchema | dict[str, Any] | str | Path | None) -> LabelSchema:
    if schema is not None:
        if isinstance(schema, LabelSchema):
            return schema
        if isinstance(schema, dict):
            return LabelSchema.parse(schema)
        return load_schema_file(schema)
    if task is None or not labels:
        raise UserInputError("give a task and labels (--task ... --labels a,b) or a --schema file")
    return LabelSchema.from_labels(task, list(labels))


def _file_key(path: Path, fmt: str, options: ImportOptions, image_root: Path | None,
              schema: LabelSchema) -> str:
    """SHA-256 of a file's bytes, its folder, the format, the options and the schema: the
    same key means the same import."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    root = None if image_root is None else str(image_root.resolve())
    opts = {k: sorted(v) if isinstance(v, frozenset) else v for k, v in asdict(options).items()}
    h.update(json.dumps([fmt, str(path.resolve().parent), root, opts,
                         schema.model_dump(mode="json")], sort_keys=True, default=str
                        ).encode())
    return h.hexdigest()


def _options(options: dict[str, Any]) -> ImportOptions:
    splits = options.get("label_splits")
    if splits is not None and not isinstance(splits, frozenset):
        options = {**options, "label_splits": frozenset(splits)}
    try:
        return ImportOptions(**options)
    except TypeError as exc:
        raise UserInputError(f"unknown import option: {exc}") from None
