"""The demo project: beam-envelope models, their automation and example graphs (`defs/`).

Nothing outside this folder imports it: its models, command and code location are announced
through entry points (pyproject.toml).
"""

from pathlib import Path

#: The demo's defs folder: one `lume_assets.ModelGraph` component per sub-folder.
GRAPHS_DIR = Path(__file__).resolve().parent / "defs"


def example_graph(name: str) -> Path:
    """The `defs.yaml` of the example graph `name` (beam_chain, envelope_pipeline)."""
    return GRAPHS_DIR / name / "defs.yaml"
