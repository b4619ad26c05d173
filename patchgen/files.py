"""patchgen's one way to write a file: a crash at any moment leaves the old file or the new one.

Every writer goes through :func:`atomic_write` (or :func:`commit_file`, for a
temporary file that a library wrote): the data goes to a hidden temporary
file beside the target, is flushed to the disk, and is renamed over the target
atomically; the rename itself is then flushed. A failed or killed write
leaves the previous file untouched.
"""
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


def fsync_path(path: Path) -> None:
    """Flush a file's (or, on POSIX, a directory's) data to the disk."""
    if path.is_dir() and os.name == 'nt':
        return  # Windows cannot open a directory to flush it
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def temporary_name(path: Path) -> Path:
    """The hidden file a write to ``path`` goes to first."""
    return path.with_name(f'.{path.name}.tmp')


def commit_file(temporary: Path, path: Path) -> None:
    """Flush ``temporary`` to disk, rename it to ``path`` atomically, and flush the rename."""
    fsync_path(temporary)
    os.replace(temporary, path)
    fsync_path(path.parent)


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """Open a binary file whose contents replace ``path`` whole when the block ends without error.

    The parent folder is created when missing. If the block raises, the
    temporary file is deleted and ``path`` keeps its previous contents.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_name(path)
    try:
        with open(temporary, 'wb') as file:
            yield file
        commit_file(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace the file at ``path`` with ``text``: readers see the old or the new text, whole."""
    with atomic_write(path) as file:
        file.write(text.encode())
