"""Sentence-embedding throughput of MiniLM: PyTorch fp32 vs ONNX Runtime fp32 vs ONNX int8.

Usage: python bench/sentiment.py [--repeats N] [--batch B] [--threads T] [--results PATH]

The packaged all-MiniLM-L6-v2 is exported with optimum (plus a dynamic-int8 copy) into a
temporary folder. The labelled headlines (``data/text/headlines.csv``) are tokenised once, in
batches of ``--batch`` (only full batches are timed); every engine then runs the same inputs
through the encoder and the attention-mask mean pooling. One untimed warm-up pass, then
``--repeats`` timed passes with the engines interleaved (so load on a shared machine hits
all of them alike); headlines/s from the best and the median pass. Also reported: the
largest |difference| of fp32 ONNX vs PyTorch embeddings, the cosine of int8 vs PyTorch, and
the held-out accuracy of the logistic-regression head on fp32 vs int8 embeddings. The result
replaces the ``## Sentiment throughput`` section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from alphaloop.models.sentiment import (
    OnnxEncoder,
    SentimentHead,
    SentimentParams,
    TorchEncoder,
    export_encoder,
    load_headlines,
    minilm_path,
)
from alphaloop.models.sentiment.model import label_metrics, split_indices

sys.path.insert(0, str(Path(__file__).resolve().parent))
from results import RESULTS, machine, today, update_section

HEADLINES = Path(__file__).resolve().parents[1] / "data" / "text" / "headlines.csv"
TARGET_RATIO = 2.0
Batch = dict[str, np.ndarray]


def time_passes(engines: dict[str, Callable[[Batch], np.ndarray]], batches: list[Batch],
                repeats: int) -> dict[str, list[float]]:
    """Seconds per full pass over ``batches`` for each engine, interleaved, after a warm-up."""
    for forward in engines.values():
        for batch in batches:
            forward(batch)
    times: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(repeats):
        for name, forward in engines.items():
            start = time.perf_counter()
            for batch in batches:
                forward(batch)
            times[name].append(time.perf_counter() - start)
    return times


def head_accuracy(texts: list[str], labels: list[str], fp32: np.ndarray,
                  int8: np.ndarray, params: SentimentParams) -> dict[str, float]:
    """Held-out accuracy of heads trained on fp32 / int8 embeddings, scored on both."""
    train, test = split_indices(labels, params)
    y = np.asarray(labels)
    out = {}
    for trained_on, emb in (("fp32", fp32), ("int8", int8)):
        head = SentimentHead.fit(emb[train], y[train], C=params.head_C, seed=params.seed)
        for served_on, served in (("fp32", fp32), ("int8", int8)):
            metrics = label_metrics(y[test].tolist(), head.predict(served[test]))
            out[f"{trained_on}->{served_on}"] = metrics["accuracy"]
    return out


def render(rows: list[tuple[str, float, float]], n_texts: int, batch: int, repeats: int,
           threads: int, parity: dict[str, float], accuracy: dict[str, float],
           n_test: int, load: float) -> str:
    """Markdown section with the measured numbers."""
    base_best, base_median = rows[0][1], rows[0][2]
    int8_ratio = rows[2][1] / base_best
    verdict = "pass" if int8_ratio >= TARGET_RATIO else "FAIL"
    lines = [
        "## Sentiment throughput\n",
        f"`python bench/sentiment.py`: all-MiniLM-L6-v2 sentence embeddings (encoder + "
        f"mean pooling + L2 norm) for {n_texts} headlines of `data/text/headlines.csv` in "
        f"batches of {batch}, the same tokenised inputs for every engine, {threads} threads "
        f"each; best and median of {repeats} interleaved passes after a warm-up. 1-minute "
        f"load average at the start: {load:.2f} (medians suffer most on a shared machine).\n",
        "| engine | headlines/s (best) | headlines/s (median) | vs PyTorch (best) "
        "| vs PyTorch (median) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, best, median in rows:
        lines.append(f"| {name} | {best:,.0f} | {median:,.0f} | {best / base_best:.2f}x "
                     f"| {median / base_median:.2f}x |")
    lines += [
        "",
        f"int8 vs PyTorch: {int8_ratio:.2f}x (target >= {TARGET_RATIO}x: {verdict}). "
        f"Embeddings: max |ONNX fp32 - PyTorch| = {parity['fp32_max_abs']:.1e}; cosine of "
        f"int8 vs PyTorch min {parity['int8_min_cos']:.4f}, mean {parity['int8_mean_cos']:.4f}.",
        "",
        f"Held-out accuracy of the logistic-regression head ({n_test} headlines, stratified "
        f"split, seed 42), trained on -> served on: "
        + ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items()) + ".",
        "",
        f"Machine: {machine()}; date {today()}.\n",
    ]
    return "\n".join(lines)


def main() -> int:
    """Run the benchmark; exit status 1 when int8 misses the speed-up target."""
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    load = os.getloadavg()[0]
    params = SentimentParams()
    frame = load_headlines(HEADLINES)
    texts, labels = frame["headline"].tolist(), frame["label"].tolist()
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        export_encoder(minilm_path(), Path(tmp), quantize=True)
        print(f"export + int8 quantisation: {time.perf_counter() - start:.1f} s")
        pytorch = TorchEncoder.load(minilm_path(), max_length=params.max_length)
        fp32 = OnnxEncoder.load(Path(tmp), quantized=False, max_length=params.max_length,
                                threads=args.threads)
        int8 = OnnxEncoder.load(Path(tmp), quantized=True, max_length=params.max_length,
                                threads=args.threads)
        n_full = len(texts) // args.batch * args.batch
        batches = [fp32.tokenize(texts[i:i + args.batch]) for i in range(0, n_full, args.batch)]
        engines = {"PyTorch fp32": pytorch.forward, "ONNX fp32": fp32.forward,
                   "ONNX int8": int8.forward}
        times = time_passes(engines, batches, args.repeats)
        rows = [(name, n_full / min(t), n_full / statistics.median(t))
                for name, t in times.items()]
        emb = {name: enc.encode(texts) for name, enc in
               (("torch", pytorch), ("fp32", fp32), ("int8", int8))}

    cosine = np.sum(emb["int8"] * emb["torch"], axis=1)
    parity = {"fp32_max_abs": float(np.abs(emb["fp32"] - emb["torch"]).max()),
              "int8_min_cos": float(cosine.min()), "int8_mean_cos": float(cosine.mean())}
    accuracy = head_accuracy(texts, labels, emb["fp32"], emb["int8"], params)
    n_test = len(split_indices(labels, params)[1])

    for name, best, median in rows:
        print(f"{name:13s} {best:8.0f} headlines/s best, {median:8.0f} median, "
              f"{best / rows[0][1]:.2f}x PyTorch")
    print(f"fp32 ONNX vs PyTorch max |diff|: {parity['fp32_max_abs']:.2e}; int8 cosine min "
          f"{parity['int8_min_cos']:.4f} mean {parity['int8_mean_cos']:.4f}")
    print("head accuracy (trained->served): "
          + ", ".join(f"{k} {v:.3f}" for k, v in accuracy.items()))
    update_section("Sentiment throughput",
                   render(rows, n_full, args.batch, args.repeats, args.threads, parity,
                          accuracy, n_test, load), args.results)
    print(f"updated {args.results}")
    return 0 if rows[2][1] / rows[0][1] >= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())
