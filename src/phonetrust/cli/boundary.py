"""Where errors become messages: the one place the CLI turns exceptions into exit codes.

Library errors, operating-system errors (missing file, directory,
permission) and database errors (a PostgreSQL server down or restarting, a
SQLite file locked) become one ``Error: ...`` line on stderr and exit
status 1; click's own usage errors keep status 2. A reader that goes away
(``phonetrust ... | head -1``) is not an error to print: click ends quietly.
"""

from __future__ import annotations

from typing import Any

import click

from phonetrust.errors import PhonetrustError
from phonetrust.store.engine import DatabaseError, describe_database_error


class Failed(click.ClickException):
    """A command ran and failed for a reason the user can read and act on (exit 1)."""

    exit_code = 1


class TranslatingGroup(click.Group):
    """A group whose commands may raise library or OS errors; they are reported, not traced."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PhonetrustError as exc:
            raise Failed(str(exc)) from None
        except BrokenPipeError:
            raise  # the reader left (``| head``): click ends quietly, nothing to report
        except OSError as exc:
            raise Failed(describe_os_error(exc)) from None
        except DatabaseError as exc:
            raise Failed(describe_database_error(exc)) from None


def describe_os_error(exc: OSError) -> str:
    where = f"{exc.filename}: " if exc.filename else ""
    if isinstance(exc, IsADirectoryError):
        return f"{where}is a directory, not a file"
    return f"{where}{exc.strerror or exc}"
