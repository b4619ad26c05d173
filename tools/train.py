"""Train from a config, in MMEngine's convention: ``python tools/train.py CONFIG [OPTIONS]``.

Takes the options of ``patchgen train`` (``--work-dir``, ``--resume``, ``--cfg-options``,
``--launcher``) and behaves the same.
"""
import sys

from patchgen.cli.main import main

if __name__ == '__main__':
    sys.argv.insert(1, 'train')
    main()
