import pytest

from alphaloop.config import ConfigError, Params, Settings, load_params
from tests.conftest import REPO


def test_repository_params_file_loads() -> None:
    params = load_params(REPO / "params.yaml")
    assert params.ingest.source.kind == "bundled"
    assert params.validate_.max_duplicate_share == 0.05
    assert params.features.rsi_periods


def test_defaults_match_params_file() -> None:
    # params.yaml spells out the defaults so users can see them; they must not drift.
    assert load_params(REPO / "params.yaml") == Params()


@pytest.mark.parametrize(("text", "where"), [
    ("validate:\n  max_null_share: 2\n", "validate.max_null_share"),
    ("features:\n  rsi_periods: [14, 14]\n", "features.rsi_periods"),
    ("ingest:\n  source: {kind: ftp}\n", "ingest.source"),
    ("validate:\n  no_such_key: 1\n", "validate.no_such_key"),
    ("ingest:\n  source: {kind: file}\n", "ingest.source.file.path"),
])
def test_bad_params_name_the_key(tmp_path, text: str, where: str) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"{path}: .*{where}"):
        load_params(path)


def test_malformed_yaml_and_missing_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "params.yaml"
    bad.write_text("features: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_params(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_params(tmp_path / "missing.yaml")


def test_settings_come_from_prefixed_env_and_hide_secrets(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ALPHALOOP_MODE", "live")
    monkeypatch.setenv("ALPHALOOP_EXCHANGE_API_SECRET", "s3cr3t")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.mode == "live"
    assert settings.exchange_api_secret is not None
    assert settings.exchange_api_secret.get_secret_value() == "s3cr3t"
    assert "s3cr3t" not in repr(settings)
