"""Pure data model of labelloop: schema, records, label matrix. No I/O here."""

from labelloop.core.matrix import (
    ABSTAIN,
    LabelMatrix,
    check_label_matrix,
    long_to_matrix,
    matrix_to_long,
)
from labelloop.core.records import (
    AnnotationRecord,
    AssignmentRecord,
    Box,
    ItemRecord,
    SourceRecord,
    UserRecord,
    content_hash,
)
from labelloop.core.schema import TASK_TYPES, LabelClass, LabelSchema, ProjectSettings, TaskType

__all__ = [
    "ABSTAIN",
    "TASK_TYPES",
    "AnnotationRecord",
    "AssignmentRecord",
    "Box",
    "ItemRecord",
    "LabelClass",
    "LabelMatrix",
    "LabelSchema",
    "ProjectSettings",
    "SourceRecord",
    "TaskType",
    "UserRecord",
    "check_label_matrix",
    "content_hash",
    "long_to_matrix",
    "matrix_to_long",
]
