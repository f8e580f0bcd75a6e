"""lume_assets.models."""
