"""Backends of `LumeClient`: in-process (local) and a remote dagster-webserver (GraphQL)."""
