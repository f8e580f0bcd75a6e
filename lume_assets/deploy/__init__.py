"""Deployment: per-model placement tags, the placed Docker run launcher, launching jobs."""
