"""Reference statistics files: ``mu`` and ``sigma`` as pytorch-fid and EDM store them."""
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from patchgen.errors import PatchgenError, first_line
from patchgen.files import atomic_write


@dataclass
class ReferenceStats:
    """Feature statistics of a reference image set.

    Attributes:
        mu: (D,) float64 mean of the features.
        sigma: (D, D) float64 covariance of the features.
        extractor: Name of the feature extractor (e.g. 'TFInception').
        fingerprint: SHA-256 of the extractor's weights; '' when unknown.
        num_images: Number of images the statistics were computed from.
        features: (N, D) float32 features, kept for KID and precision/recall; or None.
    """

    mu: np.ndarray
    sigma: np.ndarray
    extractor: str = ''
    fingerprint: str = ''
    num_images: int = 0
    features: np.ndarray | None = None

    def save(self, path: str | Path) -> Path:
        """Write an ``.npz`` that pytorch-fid and EDM can read (``mu``, ``sigma``), atomically."""
        path = Path(path)
        arrays = dict(mu=self.mu, sigma=self.sigma, extractor=np.str_(self.extractor),
                      fingerprint=np.str_(self.fingerprint), num_images=np.int64(self.num_images))
        if self.features is not None:
            arrays['features'] = self.features.astype(np.float32)
        with atomic_write(path) as file:  # np.savez would append '.npz' to other names
            np.savez(file, **arrays)
        return path

    @classmethod
    def load(cls, path: str | Path) -> 'ReferenceStats':
        """Read a statistics file; files with only ``mu`` and ``sigma`` have unknown provenance."""
        path = Path(path)
        if not path.is_file():
            raise PatchgenError(f'statistics file {path} does not exist: make it with '
                                f'`patchgen ref DATASET --out {path}`')
        try:
            with np.load(path, allow_pickle=False) as data:
                if 'mu' not in data or 'sigma' not in data:
                    raise PatchgenError(f'{path} holds no `mu` and `sigma`: it is not a '
                                        f'statistics file of patchgen, pytorch-fid or EDM')
                return cls(mu=data['mu'].astype(np.float64),
                           sigma=data['sigma'].astype(np.float64),
                           extractor=str(data['extractor']) if 'extractor' in data else '',
                           fingerprint=str(data['fingerprint']) if 'fingerprint' in data else '',
                           num_images=int(data['num_images']) if 'num_images' in data else 0,
                           features=data['features'] if 'features' in data else None)
        except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # empty, cut, not npz
            if isinstance(error, PatchgenError):
                raise
            raise PatchgenError(f'{path} is not a readable .npz statistics file '
                                f'({first_line(error)}): make it again with `patchgen ref '
                                f'DATASET --out {path}`') from None

    def check_extractor(self, name: str, fingerprint: str, where: str) -> None:
        """Refuse statistics made with another feature extractor or other weights."""
        if self.fingerprint and self.fingerprint != fingerprint:
            raise PatchgenError(
                f'{where} was made with {self.extractor or "another extractor"} '
                f'(weights {self.fingerprint[:12]}), not with {name} (weights '
                f'{fingerprint[:12]}): remake it with `patchgen ref` and the same --features')
