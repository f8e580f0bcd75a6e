"""lume_assets.automation."""
