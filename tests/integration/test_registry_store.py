"""Alias moves and the audit trail against a real MLflow sqlite store on tmp_path."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from alphaloop.registry import store

pytestmark = pytest.mark.integration

@pytest.fixture(scope="module")
def tracking(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """One sqlite store per module: creating the schema is the slow part."""
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    store.configure_tracking(None, root)
    yield root
    mlflow.set_tracking_uri(None)


@pytest.fixture
def registry(tracking: Path, request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    """Three versions of a model named after the test, so tests never share aliases."""
    import mlflow

    client = mlflow.MlflowClient()
    name = request.node.name[:60]

    class Constant(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
        def predict(self, context, model_input, params=None):  # type: ignore[no-untyped-def]
            return pd.DataFrame({"p_up": [0.5] * len(model_input)})

    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=Constant())
    client.create_registered_model(name)
    versions = [str(client.create_model_version(name, info.model_uri).version)
                for _ in range(3)]
    return client, name, versions, tracking / f"{name}.jsonl"

def test_promote_moves_champion_and_keeps_previous(registry) -> None:  # type: ignore[no-untyped-def]
    client, name, (v1, v2, _), audit = registry
    store.promote(client, name, v1, source="gate", reason="first", audit_path=audit)
    store.promote(client, name, v2, source="manual", reason="by hand", audit_path=audit)
    assert str(store.alias_version(client, name, "champion").version) == v2
    assert str(store.alias_version(client, name, "previous_champion").version) == v1
    entries = store.read_audit(audit)
    assert [(e["alias"], e["to_version"], e["source"]) for e in entries] == [
        ("champion", v1, "gate"), ("previous_champion", v1, "manual"),
        ("champion", v2, "manual")]
    tags = client.get_model_version(name, v2).tags
    assert any(k.startswith("audit.champion.") and "by hand" in v for k, v in tags.items())

def test_promoting_the_champion_again_changes_nothing(registry) -> None:  # type: ignore[no-untyped-def]
    client, name, (v1, _, _), audit = registry
    store.promote(client, name, v1, source="gate", reason="first", audit_path=audit)
    assert store.promote(client, name, v1, source="gate", reason="again",
                         audit_path=audit) == []
    assert store.alias_version(client, name, "previous_champion") is None

def test_registered_models_survive_a_new_client(registry, tracking: Path) -> None:  # type: ignore[no-untyped-def]
    import mlflow

    client, name, (v1, _, _), audit = registry
    store.move_alias(client, name, "challenger", v1, source="gate", reason="new",
                     audit_path=audit)
    # A restart: a fresh client on the same sqlite file sees the same registry state.
    fresh = mlflow.MlflowClient(tracking_uri=store.default_tracking_uri(tracking))
    assert str(store.alias_version(fresh, name, "challenger").version) == v1
    assert len(fresh.search_model_versions(f"name='{name}'")) == 3
