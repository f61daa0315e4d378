from alphaloop.registry.lineage import data_version_from_lock, lineage_tags, params_hash


def test_params_hash_ignores_key_order_but_not_values() -> None:
    assert params_hash({"a": 1, "b": 2}) == params_hash({"b": 2, "a": 1})
    assert params_hash({"a": 1}) != params_hash({"a": 2})


def test_data_version_is_read_from_the_lock() -> None:
    lock = {"stages": {"features": {"outs": [
        {"path": "data/features/features.parquet", "md5": "abc123"}]}}}
    assert data_version_from_lock(lock, "features", "data/features/features.parquet") == "abc123"
    assert data_version_from_lock(lock, "train", "x") is None


def test_tags_carry_data_code_params_and_metrics() -> None:
    tags = lineage_tags(data_version="abc", git_commit="deadbeef", params={"x": 1},
                        metrics={"accuracy": 0.5412345678}, data_path="f.parquet")
    assert tags["data_version"] == "abc" and tags["git_commit"] == "deadbeef"
    assert tags["params_hash"] == params_hash({"x": 1})
    assert float(tags["metric.accuracy"]) == 0.5412345678


def test_tracking_uris_lose_their_credentials() -> None:
    from alphaloop.registry.lineage import redact

    assert redact("postgresql://bob:s3cr3t@db.local:5432/mlflow") == \
        "postgresql://***@db.local:5432/mlflow"
    assert redact("sqlite:////tmp/mlflow.db") == "sqlite:////tmp/mlflow.db"
