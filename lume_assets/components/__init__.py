"""Dagster Components of lume_assets: the YAML model graph (`lume_assets.ModelGraph`)."""
