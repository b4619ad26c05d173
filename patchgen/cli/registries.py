"""``patchgen list``: every registry and what is registered in it."""
from rich.console import Console
from rich.table import Table


def list_registries() -> None:
    """Print every patchgen registry and the names registered in it."""
    from patchgen.registry import ALL_REGISTRIES
    table = Table(title='patchgen registries', show_lines=True)
    table.add_column('registry', style='bold')
    table.add_column('registered names')
    for name, registry in ALL_REGISTRIES.items():
        registry.import_from_location()
        names = sorted(registry.module_dict)
        table.add_row(name, ', '.join(names) if names else '[dim](none yet)[/]')
    Console().print(table)
