"""Files as people write and read them: atomic writes (a temporary file, then a rename), and
one message for a file that is not UTF-8."""

from __future__ import annotations

import fcntl
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from newsletter.errors import Location, Problem
from newsletter.i18n import _
from newsletter.paths import private_dir


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(tmp, path.stat().st_mode & 0o777)
        else:
            os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def not_utf8(data: bytes, exc: UnicodeDecodeError, name: str) -> Problem:
    """The one message for a file that is not UTF-8: where the first bad byte is, what to do."""
    line = data[: exc.start].count(b"\n") + 1
    return Problem(
        _("not UTF-8 text (byte {byte}); save the file as UTF-8 in your editor").format(
            byte=f"0x{data[exc.start]:02x}"
        ),
        Location(name, line),
    )


def decode_utf8(data: bytes, name: str) -> str | Problem:
    """The text of ``data``, or the not-UTF-8 problem naming ``name`` and the line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return not_utf8(data, exc, name)


@contextmanager
def pid_lock(path: Path, refused: Callable[[str], Exception]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (its folder private) with our pid written in it;
    ``refused(holder_pid)`` is raised when another process holds it. The lock dies with the
    process that holds it."""
    private_dir(path.parent)
    with path.open("a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            raise refused(handle.read().strip() or "?") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
