"""What a store's connection becomes once the store is closed.

A store (township or county) may outlive its connection in other objects' hands: a form editor's
pending autosave, a job's callback, a view refreshed by a timer. Reaching through a closed sqlite3
connection raises ``sqlite3.ProgrammingError`` ("Cannot operate on a closed database"), which the
UI does not expect and which surfaces wherever the event loop happens to run (in the test suite: in
whichever test pytest-qt is processing events for). After ``close()`` the store's ``conn`` is this
stand-in instead: any use raises the store's own :class:`~schemas.errors.CensusError` subclass, with a
message naming the file, which the callers already report as a user-facing problem.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable, NoReturn


class ClosedConnection:
    """Stands in for a closed connection; every attribute raises ``error(zh, en)``."""

    __slots__ = ("_path", "_error")

    def __init__(self, path: str | Path, error: Callable[[str, str], Exception]):
        object.__setattr__(self, "_path", Path(path))
        object.__setattr__(self, "_error", error)

    def _raise(self) -> NoReturn:
        name = self._path.name
        raise self._error(f"{name} 已关闭，不能再读写；请重新打开后再操作",
                          f"{name} is closed and can no longer be read or written; open it again")

    def __getattr__(self, name: str):
        if name == "close":      # closing twice is harmless, as for sqlite3
            return lambda: None
        self._raise()

    def __setattr__(self, name: str, value) -> None:
        self._raise()

    @property
    def closed(self) -> bool:
        return True
