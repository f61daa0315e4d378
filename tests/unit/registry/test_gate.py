from alphaloop.registry.gate import GateParams, GateRule, decide

MAJORITY = {"accuracy": 0.52}
RULE = GateRule()


def test_defaults_match_the_documented_gates() -> None:
    params = GateParams()
    assert (params.ensemble.metric, params.ensemble.floor) == ("accuracy", 0.53)
    assert params.ensemble.baseline == "majority"
    assert not params.regime.greater_is_better


def test_a_rule_given_in_part_keeps_its_models_defaults() -> None:
    params = GateParams.model_validate({"regime": {"floor": 0.004},
                                        "sentiment": {"require_beat_baseline": False}})
    assert (params.regime.metric, params.regime.greater_is_better) == ("vol_rmse", False)
    assert (params.regime.baseline, params.regime.floor) == ("garch", 0.004)
    assert (params.sentiment.metric, params.sentiment.floor) == ("macro_f1", 0.5)
    assert not params.sentiment.require_beat_baseline


def test_below_floor_is_not_promoted_and_says_why() -> None:
    decision = decide({"accuracy": 0.51}, MAJORITY, None, RULE)
    assert not decision.promote
    assert "is below the floor" in decision.reasons[0]


def test_clearing_floor_without_champion_promotes() -> None:
    decision = decide({"accuracy": 0.56}, MAJORITY, None, RULE)
    assert decision.promote
    assert decision.champion_score is None


def test_baseline_blocks_when_required() -> None:
    rule = GateRule(floor=0.5)
    candidate, majority = {"accuracy": 0.54}, {"accuracy": 0.55}
    assert not decide(candidate, majority, None, rule).promote
    relaxed = rule.model_copy(update={"require_beat_baseline": False})
    decision = decide(candidate, majority, None, relaxed)
    assert decision.promote
    assert any("does not beat the majority baseline" in r for r in decision.reasons)


def test_a_tie_with_the_baseline_does_not_beat_it() -> None:
    assert not decide({"accuracy": 0.55}, {"accuracy": 0.55}, None, GateRule(floor=0.5)).promote


def test_champion_must_be_matched_plus_min_improvement() -> None:
    rule = GateRule(min_improvement=0.01)
    assert not decide({"accuracy": 0.565}, MAJORITY, {"accuracy": 0.56}, rule).promote
    assert decide({"accuracy": 0.575}, MAJORITY, {"accuracy": 0.56}, rule).promote


def test_lower_is_better_metrics() -> None:
    rule = GateRule(metric="vol_rmse", greater_is_better=False, floor=None, baseline="garch")
    garch = {"vol_rmse": 0.010}
    assert decide({"vol_rmse": 0.008}, garch, None, rule).promote
    assert not decide({"vol_rmse": 0.012}, garch, None, rule).promote
    assert not decide({"vol_rmse": 0.008}, garch, {"vol_rmse": 0.007}, rule).promote


def test_a_tie_with_the_champion_keeps_the_champion() -> None:
    assert not decide({"accuracy": 0.56}, MAJORITY, {"accuracy": 0.56}, RULE).promote


def test_a_champion_without_the_metric_is_never_replaced_silently() -> None:
    decision = decide({"accuracy": 0.60}, MAJORITY, {}, RULE)
    assert not decision.promote
    assert any("no finite accuracy" in r for r in decision.reasons)


def test_a_missing_baseline_refuses_instead_of_passing() -> None:
    decision = decide({"accuracy": 0.60}, None, None, GateRule(baseline="majorty"))
    assert not decision.promote


def test_rules_naming_unmeasured_metrics_fail_before_registration() -> None:
    import pytest

    from alphaloop.registry.gate import check_rule

    metrics = {"ensemble": {"accuracy": 0.5}, "majority": {"accuracy": 0.5}}
    check_rule(RULE, metrics, "ensemble", "register.ensemble")
    with pytest.raises(ValueError, match=r"register.ensemble.baseline: 'majorty'"):
        check_rule(GateRule(baseline="majorty"), metrics, "ensemble", "register.ensemble")
    with pytest.raises(ValueError, match=r"register.ensemble.metric: 'acc'"):
        check_rule(GateRule(metric="acc"), metrics, "ensemble", "register.ensemble")


def test_nan_or_missing_metric_is_refused_without_floor_or_baseline() -> None:
    from alphaloop.registry.gate import GateRule, decide

    open_rule = GateRule(floor=None, baseline=None)
    assert not decide({"accuracy": float("nan")}, None, None, open_rule).promote
    assert not decide({}, None, None, open_rule).promote
    assert decide({"accuracy": 0.51}, None, None, open_rule).promote
