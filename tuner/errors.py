"""The one exception tree of the project.

Every error a user can cause is a :class:`TunerError`; the CLI turns it into a message and a
non-zero exit code in one place. Messages name the value, where it came from and what was expected.
"""

from __future__ import annotations


class TunerError(Exception):
    """Root of every error the tool raises on purpose."""

    exit_code = 1


class ConfigError(TunerError):
    """A parameter name, value or precedence layer is wrong (unknown key, bad type, bad YAML)."""

    exit_code = 2


class DataError(TunerError):
    """A dataset file is missing or malformed, or preprocessing leaves nothing to train on."""

    exit_code = 2


class SpaceError(TunerError):
    """A search-space file is malformed; the message starts with ``FILE:LINE:``."""

    exit_code = 2


class JobError(TunerError):
    """A job spec is invalid, or a job name is unknown or already taken."""

    exit_code = 2


class StorageError(TunerError):
    """The storage URL is invalid or the database cannot be reached."""


class TrainingError(TunerError):
    """Training could not go on (a model or trainer setting is impossible)."""


class NonFiniteLossError(TrainingError):
    """The training loss became NaN or infinite; the run stops rather than train on garbage."""


def at(path: object, line: int | None, message: str) -> str:
    """Format ``FILE:LINE: message`` (or ``FILE: message`` without a line), the one location style."""
    return f"{path}:{line}: {message}" if line is not None else f"{path}: {message}"
