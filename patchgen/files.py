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

from patchgen.errors import PatchgenError


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


def unwritable(path: Path, reason: str) -> PatchgenError:
    """The error for an output that cannot be written, naming the file, the reason and the fix."""
    return PatchgenError(f'cannot write {path}: {reason}; give another output path')


def check_writable(path: str | Path) -> Path:
    """Refuse, before any work is done, an output whose folder cannot be made or written to:
    its nearest existing ancestor must be a writable folder."""
    path = Path(path)
    ancestor = next(folder for folder in path.parents if folder.exists())
    if not ancestor.is_dir():
        raise unwritable(path, f'{ancestor} is a file, not a folder')
    if not os.access(ancestor, os.W_OK):
        raise unwritable(path, f'{ancestor} is not writable')
    return path


@contextmanager
def write_errors_named(path: Path) -> Iterator[None]:
    """Turn an OSError of the block (no such folder, not a folder, no permission, disk full)
    into a PatchgenError naming ``path``."""
    try:
        yield
    except OSError as error:
        raise unwritable(path, error.strerror or str(error)) from None


def make_folder(path: str | Path) -> Path:
    """Create the folder ``path`` and its parents where missing."""
    path = Path(path)
    if path.is_file():
        raise unwritable(path, 'it is a file, not a folder')
    with write_errors_named(path):
        path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def atomic_write(path: str | Path) -> Iterator[BinaryIO]:
    """Open a binary file whose contents replace ``path`` whole when the block ends without error.

    The parent folder is created when missing; a path that cannot be written
    raises PatchgenError. If the block raises, the temporary file is deleted
    and ``path`` keeps its previous contents.
    """
    path = Path(path)
    make_folder(path.parent)
    temporary = temporary_name(path)
    try:
        with write_errors_named(path):
            file = open(temporary, 'wb')
        with file:
            yield file
        with write_errors_named(path):
            commit_file(temporary, path)  # fails e.g. where path is a folder
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Replace the file at ``path`` with ``text``: readers see the old or the new text, whole."""
    with atomic_write(path) as file:
        file.write(text.encode())
