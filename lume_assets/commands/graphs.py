"""`lume-assets run-graph`: materialize a whole model graph (upstream first) as one run."""

from __future__ import annotations

import click

from lume_assets.commands.common import (
    echo_json,
    json_option,
    make_client,
    parse_inputs,
    progress_bar,
    table,
)


@click.command("run-graph")
@click.argument("graph")
@click.option(
    "--input",
    "-i",
    "inputs",
    multiple=True,
    metavar="NODE.NAME=VALUE",
    help="An input of one node, e.g. sim.k_f=2.3 (repeat).",
)
@click.option("--force", is_flag=True, help="Evaluate every node even if cached.")
@click.option("--timeout", type=float, help="Give up waiting after this many seconds.")
@json_option
def run_graph(
    graph: str, inputs: tuple[str, ...], force: bool, timeout: float | None, as_json: bool
) -> None:
    """Run every node of GRAPH (its `<graph>_job`) and print each node's result."""
    values = parse_inputs(inputs)
    client = make_client(None)
    try:
        run_id, nodes = client.submit_graph(graph, values, force=force)
        with progress_bar(f"{graph} run {run_id[:8]}") as update:
            client.wait(run_id, timeout=timeout, progress=update)
        results = client.graph_results(run_id, nodes)
    finally:
        client.close()
    if as_json:
        echo_json({"run_id": run_id, "nodes": {n: r.model_dump() for n, r in results.items()}})
        return
    click.echo(f"run {run_id} succeeded: graph {graph}, {len(results)} node(s)")
    for node, result in results.items():
        click.echo(
            f"\nnode {node} ({result.model} v{result.version}) inputs hash "
            f"{result.inputs_hash[:16]}"
        )
        rows = [[name, value] for name, value in result.outputs.items()]
        click.echo(table(rows, ["output", "value"]))
