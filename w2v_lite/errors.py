"""The package's one exception type of its own: `UsageError`, for bad input from a person.

It is the bottom layer (it imports nothing from w2v_lite), so any module may raise it. It subclasses
ValueError, so the API contract "bad input raises ValueError" holds, and `w2v-lite` prints it as one
`error: ...` line with exit code 2. A TypeError (or any other exception) escaping a command is a bug and
gets its traceback.
"""

from __future__ import annotations

__all__ = ["UsageError", "naming"]


class UsageError(ValueError):
    """Bad input from a person (a flag, a file, a transcript): printed as `error: <message>`, exit 2."""


def naming(err: BaseException, name: str) -> BaseException:
    """`err` if its message already names `name`, else a `UsageError` saying "name: message".

    Used where an error about one file of many must say which file (raise it ``from err``). A new
    `UsageError` is built rather than ``type(err)(...)``, which breaks for exception types whose constructor
    takes several arguments (OSError's errno form, soundfile's LibsndfileError).
    """
    return err if name in str(err) else UsageError(f"{name}: {err}")
