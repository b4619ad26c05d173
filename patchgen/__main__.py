"""``python -m patchgen``: the same as the ``patchgen`` command."""
from patchgen.cli.main import main

main()
