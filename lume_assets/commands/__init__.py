"""The `lume-assets` subcommands, one module per concern; `lume_assets.cli` registers them."""
