"""Tiny transformers models built from configs, a bag-of-words embedder and cache isolation.

Nothing here downloads: the tiny BERTs get random weights and a tokenizer built from a
small vocabulary file, and are saved under pytest's temporary directories.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from alphaloop.models.sentiment import clear_model_cache

_WORD_TEXT = (
    "the a of to in on and for as by with from after at is are be its "
    "fed ecb rates rate hike hikes cut cuts holds bp inflation cpi prices consumer "
    "exchange hacked stolen hack exploit hackers drain drained funds million billion "
    "bitcoin ether etf etfs inflows outflows flows token list lists delist "
    "company beats misses earnings profit revenue guidance raises quarter "
    "sec sues court ban regulator law merger acquired takeover deal "
    "record strong weak loss surge plunge rally falls rises up down"
)
WORDS = tuple(_WORD_TEXT.split())
SENTIMENT_LABELS = {0: "negative", 1: "neutral", 2: "positive"}
NLI_LABELS = {0: "contradiction", 1: "neutral", 2: "entailment"}


def build_tiny_bert(directory: Path, id2label: dict[int, str], seed: int = 0) -> Path:
    """Save a random 2-layer BERT sequence classifier and its tokenizer to ``directory``."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    directory.mkdir(parents=True, exist_ok=True)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS,
             *"abcdefghijklmnopqrstuvwxyz0123456789$%,.'"]
    vocab_file = directory / "vocab.txt"
    vocab_file.write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(vocab_file))
    config = BertConfig(vocab_size=len(dict.fromkeys(vocab)), hidden_size=32,
                        num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
                        max_position_embeddings=128, id2label=id2label,
                        label2id={v: k for k, v in id2label.items()})
    torch.manual_seed(seed)
    BertForSequenceClassification(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_sentiment_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT with ``id2label = {0: negative, 1: neutral, 2: positive}``."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), SENTIMENT_LABELS)


@pytest.fixture(scope="session")
def tiny_nli_bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny BERT with NLI labels (contradiction / neutral / entailment)."""
    return build_tiny_bert(tmp_path_factory.mktemp("tiny-nli"), NLI_LABELS, seed=1)


class BagOfWordsEncoder:
    """Deterministic embedder: L2-normalised counts of ``vocabulary`` words in each text."""

    def __init__(self, vocabulary: Sequence[str]) -> None:
        self.index = {w: i for i, w in enumerate(vocabulary)}
        self.calls = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), len(self.index)), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                if word in self.index:
                    out[row, self.index[word]] += 1.0
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.clip(norms, 1e-12, None)


# Each class is one keyword phrasing, so the bag-of-words tagger is exact.
FAKE_CATALYSTS = {
    "macro-CPI": "inflation cpi | consumer prices",
    "rates-central-bank": "fed rates | ecb rates",
    "hack-exploit": "hacked stolen | exploit drained",
    "etf-flows": "etf inflows | etf outflows",
}


@pytest.fixture
def bow_encoder() -> BagOfWordsEncoder:
    return BagOfWordsEncoder(WORDS)


@pytest.fixture(autouse=True)
def _fresh_model_cache() -> Iterator[None]:
    """Every test starts and ends with an empty model registry."""
    clear_model_cache()
    yield
    clear_model_cache()


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_sentiment_bert: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved ``SentimentModel``: the tiny BERT as ONNX int8 encoder plus a fitted head."""
    from alphaloop.models.sentiment import (
        OnnxEncoder,
        SentimentHead,
        SentimentModel,
        export_encoder,
    )

    export = export_encoder(tiny_sentiment_bert, tmp_path_factory.mktemp("encoder"))
    encoder = OnnxEncoder.load(export, quantized=True, max_length=32)
    texts = ["record profit surge", "exchange hacked stolen", "fed holds rates"] * 10
    labels = ["positive", "negative", "neutral"] * 10
    head = SentimentHead.fit(encoder.encode(texts), labels)
    directory = tmp_path_factory.mktemp("model")
    SentimentModel(encoder, head).save(directory)
    return directory
