"""The one exception tree of labelloop.

Every error knows the HTTP status the server answers with and a short machine
code for the JSON error envelope ``{"error": {"code", "message", "details"}}``.
The CLI prints ``message`` on one line and exits with ``exit_code``.

::

    LabelloopError (500, exit 1)
    ├── UserInputError (400, exit 2)          bad input from a user: fix it and retry
    │   ├── ValidationError (422)             a value or a schema is wrong
    │   │   └── ImportValidationError (422)   a file has bad rows (row-level report)
    │   ├── EmptyPoolError (400)              nothing left to select from
    │   └── NotFittedError (400)              an estimator was used before fit
    ├── NotFoundError (404, exit 2)           a project, item, user ... does not exist
    ├── ConflictError (409, exit 2)           the request clashes with the stored state
    ├── AuthenticationError (401, exit 2)     who is asking is unknown
    ├── PermissionDeniedError (403, exit 2)   who is asking may not do this
    ├── TooManyRequestsError (429, exit 2)    too many failed logins: wait and retry
    ├── UnavailableError (503, exit 1)        the database is busy or restarting: retry soon
    ├── PayloadTooLargeError (413, exit 2)    an upload over the server's size limit
    ├── MissingDependencyError (500, exit 2)  an optional extra is not installed
    └── ModelLoadError (500, exit 2)          a model name or path could not be loaded
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class LabelloopError(Exception):
    """Base class of every error labelloop raises on purpose."""

    http_status: int = 500
    code: str = "internal_error"
    exit_code: int = 1

    def __init__(self, message: str, *, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def http_headers(self) -> dict[str, str]:
        """Extra HTTP headers of the error response (none by default)."""
        return {}

    def to_envelope(self) -> dict[str, Any]:
        """Return the JSON error envelope the REST API answers with."""
        return {"error": {"code": self.code, "message": self.message, "details": self.details}}


class UserInputError(LabelloopError, ValueError):
    """Input from a user is wrong; the message says what and how to fix it."""

    http_status = 400
    code = "bad_request"
    exit_code = 2


class ValidationError(UserInputError):
    """A value, a schema or a record failed validation."""

    http_status = 422
    code = "validation_error"


@dataclass(frozen=True)
class RowProblem:
    """One problem found in one row of an input file."""

    file: str
    line: int | None
    field: str | None
    problem: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}"
        if self.line is not None:
            where += f", line {self.line}"
        if self.field:
            where += f", field {self.field!r}"
        return f"{where}: {self.problem} ({self.fix})"


@dataclass
class ImportReport:
    """Row-level report of an import that found bad input."""

    problems: list[RowProblem] = field(default_factory=list)

    def add(self, file: str, line: int | None, fld: str | None, problem: str, fix: str) -> None:
        """Record one problem."""
        self.problems.append(RowProblem(file, line, fld, problem, fix))

    def __bool__(self) -> bool:
        return bool(self.problems)


class ImportValidationError(ValidationError):
    """An import found bad rows; nothing was imported."""

    code = "import_validation_error"

    def __init__(self, report: ImportReport) -> None:
        n = len(report.problems)
        first = report.problems[0]
        more = f" (and {n - 1} more problem{'s' if n > 2 else ''})" if n > 1 else ""
        super().__init__(
            f"nothing imported: {first}{more}",
            details=[p.__dict__ for p in report.problems],
        )
        self.report = report

    def __reduce__(self) -> tuple[Any, ...]:
        # rebuilt from its report (an import reader in another process raises it)
        return (type(self), (self.report,))


class EmptyPoolError(UserInputError):
    """There is nothing left in the pool to select from."""

    code = "empty_pool"


class NotFittedError(UserInputError, AttributeError):
    """An estimator was asked to predict before ``fit`` was called."""

    code = "not_fitted"


class NotFoundError(LabelloopError, LookupError):
    """A project, item, source, user or file does not exist."""

    http_status = 404
    code = "not_found"
    exit_code = 2


class ConflictError(LabelloopError):
    """The request clashes with what is stored (e.g. the project already exists)."""

    http_status = 409
    code = "conflict"
    exit_code = 2


class AuthenticationError(LabelloopError):
    """The caller could not be identified."""

    http_status = 401
    code = "unauthenticated"
    exit_code = 2


class PermissionDeniedError(LabelloopError):
    """The caller is known but may not do this."""

    http_status = 403
    code = "forbidden"
    exit_code = 2


class TooManyRequestsError(LabelloopError):
    """Too many failed logins from this address or for this user; wait and retry."""

    http_status = 429
    code = "rate_limited"
    exit_code = 2


class UnavailableError(LabelloopError):
    """The database cannot serve the request right now (all connections busy, a lock
    held too long, the server restarting); nothing was written: retry after a moment."""

    http_status = 503
    code = "unavailable"

    def __init__(self, message: str, *, retry_after: int = 1, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.retry_after = retry_after

    def http_headers(self) -> dict[str, str]:
        """``Retry-After`` in seconds."""
        return {"Retry-After": str(self.retry_after)}


class PayloadTooLargeError(LabelloopError):
    """A request body is larger than the server accepts."""

    http_status = 413
    code = "payload_too_large"
    exit_code = 2


class MissingDependencyError(LabelloopError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""

    code = "missing_dependency"
    exit_code = 2

    def __init__(self, package: str, extra: str, feature: str) -> None:
        super().__init__(
            f"{feature} needs the {package!r} package: pip install 'labelloop[{extra}]'"
        )


class ModelLoadError(LabelloopError):
    """A model given by name or path could not be loaded."""

    code = "model_load_error"
    exit_code = 2
