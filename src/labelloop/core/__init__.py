"""Pure data model of labelloop: schema, records, label matrix. No I/O here."""

from labelloop.core.longtable import LongTable, as_long_table, long_to_matrix, matrix_to_long
from labelloop.core.matrix import ABSTAIN, LabelMatrix, check_label_matrix
from labelloop.core.records import (
    AnnotationRecord,
    AssignmentRecord,
    Box,
    ItemRecord,
    SourceRecord,
    UserRecord,
    content_hash,
)
from labelloop.core.schema import LabelClass, LabelSchema, ProjectSettings
from labelloop.core.tasks import TASK_TYPES, Answer, TaskName, TaskType, task_type, task_types

__all__ = [
    "ABSTAIN",
    "TASK_TYPES",
    "AnnotationRecord",
    "Answer",
    "AssignmentRecord",
    "Box",
    "ItemRecord",
    "LabelClass",
    "LabelMatrix",
    "LabelSchema",
    "LongTable",
    "ProjectSettings",
    "SourceRecord",
    "TaskName",
    "TaskType",
    "UserRecord",
    "as_long_table",
    "check_label_matrix",
    "content_hash",
    "long_to_matrix",
    "matrix_to_long",
    "task_type",
    "task_types",
]
