"""lume_assets.assets."""
