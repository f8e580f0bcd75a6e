"""lume_assets.storage."""
