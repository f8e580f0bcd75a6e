"""`lume-assets init NAME`: write a ready lume_assets project (a Dagster `dg` project).

NAME/
  pyproject.toml            depends on lume_assets; [tool.dg] project; model entry point
  README.md
  src/MODULE/definitions.py @dg.definitions: load_from_defs_folder + la.resources()
  src/MODULE/models.py      one small example model (a ModelSpec)
  src/MODULE/defs/bounces/defs.yaml   a lume_assets.ModelGraph using it
  tests/test_project.py     materializes the graph
"""

from __future__ import annotations

import keyword
import re
from importlib.metadata import version
from pathlib import Path

import click

from lume_assets.errors import ConfigError

TEMPLATES = Path(__file__).resolve().parent.parent / "project_template"
#: template -> path in the project ({module} is the package)
LAYOUT = {
    "pyproject.toml.tmpl": "pyproject.toml",
    "README.md.tmpl": "README.md",
    "definitions.py.tmpl": "src/{module}/definitions.py",
    "models.py.tmpl": "src/{module}/models.py",
    "graph_defs.yaml.tmpl": "src/{module}/defs/bounces/defs.yaml",
    "test_project.py.tmpl": "tests/test_project.py",
}
EMPTY_PACKAGES = ("src/{module}/__init__.py", "src/{module}/defs/__init__.py")


def module_name(name: str) -> str:
    """The Python package of project `name` ('my-lab' -> 'my_lab'); ConfigError if unusable."""
    module = re.sub(r"[-.\s]+", "_", name.strip()).lower()
    if not module.isidentifier() or keyword.iskeyword(module) or module == "lume_assets":
        raise ConfigError(
            f"project name {name!r} does not make a Python package name; use letters, digits, "
            "'-' or '_', starting with a letter (e.g. my_models)."
        )
    return module


def write_project(name: str, parent: Path) -> Path:
    """Write project `name` under `parent`; refuse to touch an existing non-empty folder."""
    module = module_name(name)
    root = parent / name
    if root.exists() and any(root.iterdir()):
        raise ConfigError(f"{root} exists and is not empty; pick another NAME or folder.")
    values = {"name": name, "module": module, "dagster_version": version("dagster")}
    for template, target in LAYOUT.items():
        path = root / target.format(module=module)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text((TEMPLATES / template).read_text().format(**values), encoding="utf-8")
    for package in EMPTY_PACKAGES:
        (root / package.format(module=module)).write_text(f'"""{name}."""\n', encoding="utf-8")
    return root


@click.command()
@click.argument("name")
@click.option(
    "--dir",
    "parent",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to create the project in.",
)
def init(name: str, parent: Path) -> None:
    """Create project NAME: an example model, a model graph, tests, a README."""
    root = write_project(name, parent)
    click.echo(f"created {root}")
    click.echo(f"  cd {root} && pip install -e '.[dev]'")
    click.echo("  lume-assets run-graph bounces     # materialize the graph")
    click.echo("  lume-assets dev                   # or: dg dev — serve it in Dagit")
