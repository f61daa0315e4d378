"""Prefect flows and their deployments (scheduled retraining). Thin shells over pipelines."""
