"""Tests of lume_assets as a library: projects, installed models, the code location."""
