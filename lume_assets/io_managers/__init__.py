"""lume_assets.io_managers."""
