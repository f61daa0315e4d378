from alphaloop.registry.gate import GateParams, decide

MAJORITY = {"accuracy": 0.52}


def test_below_floor_is_not_promoted_and_says_why() -> None:
    decision = decide({"accuracy": 0.51}, MAJORITY, None, GateParams(accuracy_floor=0.53))
    assert not decision.promote
    assert "below the floor" in decision.reasons[0]


def test_clearing_floor_without_champion_promotes() -> None:
    decision = decide({"accuracy": 0.56}, MAJORITY, None, GateParams())
    assert decision.promote
    assert decision.champion_score is None


def test_majority_baseline_blocks_when_required() -> None:
    params = GateParams(accuracy_floor=0.5)
    candidate, majority = {"accuracy": 0.54}, {"accuracy": 0.55}
    assert not decide(candidate, majority, None, params).promote
    relaxed = params.model_copy(update={"require_beat_majority": False})
    decision = decide(candidate, majority, None, relaxed)
    assert decision.promote
    assert any("does not beat the majority" in r for r in decision.reasons)


def test_champion_must_be_matched_plus_min_improvement() -> None:
    params = GateParams(min_improvement=0.01)
    assert not decide({"accuracy": 0.565}, MAJORITY, {"accuracy": 0.56}, params).promote
    assert decide({"accuracy": 0.575}, MAJORITY, {"accuracy": 0.56}, params).promote
