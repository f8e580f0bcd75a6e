"""lume_assets.demo."""
