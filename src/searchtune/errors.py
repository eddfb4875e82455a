"""User-facing errors.

Every problem caused by the user's input is raised as :class:`SearchtuneError`
(or a subclass) with a message that says what was received, where, and what to
do next. The CLI prints the message on one line and exits with status 2; the
Python API lets it propagate.
"""

from __future__ import annotations

from pathlib import Path


class SearchtuneError(Exception):
    """A problem the user can fix (bad input, missing file, bad option)."""


class DataError(SearchtuneError):
    """Bad input data, located by file, row and column.

    ``row`` is the 1-based data row (the header is not counted); for text
    formats the message also gives the line number in the file.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        row: int | None = None,
        line: int | None = None,
        column: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = str(file) if file is not None else None
        self.row = row
        self.line = line
        self.column = column
        self.hint = hint
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.file:
            where.append(self.file)
        if self.row is not None:
            where.append(f"row {self.row}" + (f" (line {self.line})" if self.line else ""))
        if self.column:
            where.append(f"column '{self.column}'")
        text = (", ".join(where) + ": " if where else "") + self.problem
        if self.hint:
            text += f". {self.hint[:1].upper()}{self.hint[1:]}"
        return text
