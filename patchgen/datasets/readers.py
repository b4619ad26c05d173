"""Where image files come from: a folder (searched recursively) or a .zip archive."""
import os
import zipfile
from pathlib import Path
from typing import BinaryIO

from patchgen.errors import PatchgenError


class FolderReader:
    """Reads files of a folder and its subfolders.

    Args:
        root: The folder.
    """

    def __init__(self, root: str) -> None:
        self.root = root

    def names(self) -> list[str]:
        """Every file below the folder, as sorted relative POSIX paths."""
        root = Path(self.root)
        return sorted(path.relative_to(root).as_posix()
                      for path in root.rglob('*') if path.is_file())

    def read(self, name: str) -> bytes:
        """The bytes of the file at relative path ``name``."""
        return Path(self.root, name).read_bytes()

    def open(self, name: str) -> BinaryIO:
        """The file at relative path ``name``, open for reading (e.g. only its header)."""
        return Path(self.root, name).open('rb')


class ZipReader:
    """Reads members of a .zip archive through one handle per process.

    The handle opens on first use in each process (DataLoader workers fork and
    must not share a file offset), and is never pickled or copied.

    Args:
        path: The .zip file.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._archive: zipfile.ZipFile | None = None
        self._archive_pid: int | None = None

    def names(self) -> list[str]:
        """Every file member of the archive, sorted."""
        return sorted(name for name in self._open().namelist() if not name.endswith('/'))

    def read(self, name: str) -> bytes:
        """The bytes of member ``name``."""
        return self._open().read(name)

    def open(self, name: str) -> BinaryIO:
        """Member ``name``, open for reading (e.g. only its header)."""
        return self._open().open(name)

    def _open(self) -> zipfile.ZipFile:
        """This process's handle on the archive, opened when missing."""
        if self._archive is None or self._archive_pid != os.getpid():
            try:
                self._archive = zipfile.ZipFile(self.path)
            except zipfile.BadZipFile:
                raise PatchgenError(f'{self.path!r} is not a valid .zip file: re-create the '
                                    'archive or point `root` at a folder') from None
            self._archive_pid = os.getpid()
        return self._archive

    def __getstate__(self) -> dict:
        """Pickle and copy the path only: the handle belongs to one process."""
        return {'path': self.path}

    def __setstate__(self, state: dict) -> None:
        self.__init__(state['path'])


def open_reader(root: str) -> FolderReader | ZipReader:
    """The reader of a folder or a .zip file; anything else raises PatchgenError."""
    if os.path.isdir(root):
        return FolderReader(root)
    if os.path.isfile(root) and root.lower().endswith('.zip'):
        return ZipReader(root)
    problem = 'is not a folder or a .zip file' if os.path.exists(root) else 'does not exist'
    raise PatchgenError(f'dataset root {root!r} {problem}: point `root` at a folder or .zip '
                        'of images')
