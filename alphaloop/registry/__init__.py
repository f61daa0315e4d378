"""Model registry: MLflow tracking set-up, lineage tags, the promotion gate and alias moves."""
