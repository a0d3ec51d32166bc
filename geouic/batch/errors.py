"""Errors of the batch room (subclasses of :class:`geouic.errors.GeouicError`)."""

from __future__ import annotations

from geouic.errors import GeouicError

__all__ = ["BatchFileError"]


class BatchFileError(GeouicError, ValueError):
    """A jobs file cannot be run as written: nothing runs, the CLI exits with code 2.

    The message names the file, the job and the line, and says how to fix it.
    """
