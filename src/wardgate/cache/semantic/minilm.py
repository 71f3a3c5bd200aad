"""The bundled embedding model now lives in wardgate.embedding (the topics guard uses it too); this name stays."""

from wardgate.embedding.minilm import PACKAGE, PIP_NAME, MiniLM, Vector, model_dir, read_safetensors

__all__ = ["PACKAGE", "PIP_NAME", "MiniLM", "Vector", "model_dir", "read_safetensors"]
