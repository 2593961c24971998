"""Fixtures for pre-labeling tests: offline hub, tiny random models built on the fly.

The tiny YOLO model is written by hand in protobuf wire format (the ``onnx`` package is
not a dependency): its graph ignores ``images`` and returns a constant YOLO-layout tensor,
enough to exercise loading, letterboxing, decoding and NMS.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _offline_hub(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def tiny_nli(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 1-layer BERT NLI classifier and its tokenizer, saved locally."""
    transformers = pytest.importorskip("transformers")
    path = tmp_path_factory.mktemp("tiny-nli")
    special = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."]
    words = ["this", "example", "is", "about", "sports", "business", "news", "the"]
    vocab = [*special, *words, "team", "won", "stocks", "fell", "a"]
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = transformers.BertTokenizerFast(vocab_file=str(path / "vocab.txt"))
    config = transformers.BertConfig(
        vocab_size=len(vocab), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=16, max_position_embeddings=64,
        id2label={0: "entailment", 1: "neutral", 2: "contradiction"},
        label2id={"entailment": 0, "neutral": 1, "contradiction": 2},
    )
    model = transformers.BertForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_detr(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised tiny DETR (ResNet backbone without weights), saved locally."""
    transformers = pytest.importorskip("transformers")
    path = tmp_path_factory.mktemp("tiny-detr")
    backbone = transformers.ResNetConfig(
        embedding_size=8, hidden_sizes=[8, 8, 8, 8], depths=[1, 1, 1, 1], layer_type="basic",
        out_features=["stage4"],
    )
    config = transformers.DetrConfig(
        use_timm_backbone=False, backbone_config=backbone, use_pretrained_backbone=False,
        d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=16, decoder_ffn_dim=16, num_queries=5,
        id2label={0: "cell", 1: "blob"}, label2id={"cell": 0, "blob": 1},
    )
    transformers.DetrForObjectDetection(config).save_pretrained(path)
    transformers.DetrImageProcessor(size={"shortest_edge": 32, "longest_edge": 64}).save_pretrained(
        path
    )
    return path


@pytest.fixture(scope="session")
def tiny_yolo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 32x32 YOLO-ONNX model with classes cell/blob and three fixed candidate boxes.

    Box 0: cell 0.9 centred at (16, 16), 8x8; box 1: the same cell shifted by half a
    pixel at 0.8 (NMS must drop it); box 2: blob at 0.1 (below any sensible min_score).
    """
    out = np.zeros((1, 6, 3), dtype=np.float32)
    out[0, :, 0] = [16, 16, 8, 8, 0.9, 0.0]
    out[0, :, 1] = [16.5, 16, 8, 8, 0.8, 0.0]
    out[0, :, 2] = [5, 5, 4, 4, 0.0, 0.1]
    path = tmp_path_factory.mktemp("tiny-yolo") / "tiny.onnx"
    return write_constant_yolo(path, out, size=32, names="{0: 'cell', 1: 'blob'}")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _int(field: int, value: int) -> bytes:
    return _varint(field << 3) + _varint(value)


def _bytes(field: int, payload: bytes | str) -> bytes:
    data = payload.encode() if isinstance(payload, str) else payload
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _value_info(name: str, shape: tuple[int, ...]) -> bytes:
    dims = b"".join(_bytes(1, _int(1, d)) for d in shape)
    tensor_type = _int(1, 1) + _bytes(2, dims)  # elem_type FLOAT, shape
    return _bytes(1, name) + _bytes(2, _bytes(1, tensor_type))


def write_constant_yolo(path: Path, output: np.ndarray, *, size: int, names: str) -> Path:
    """Save a model whose ``output0`` is always ``output`` (shape ``1 x (4+k) x N``)."""
    data = output.astype("<f4")
    tensor = b"".join(_int(1, d) for d in data.shape) + _int(2, 1) + _bytes(9, data.tobytes())
    attribute = _bytes(1, "value") + _bytes(5, tensor) + _int(20, 4)
    node = _bytes(2, "output0") + _bytes(3, "const") + _bytes(4, "Constant") + _bytes(5, attribute)
    graph = (
        _bytes(1, node)
        + _bytes(2, "tiny-yolo")
        + _bytes(11, _value_info("images", (1, 3, size, size)))
        + _bytes(12, _value_info("output0", data.shape))
    )
    model = (
        _int(1, 8)
        + _bytes(2, "labelloop-tests")
        + _bytes(7, graph)
        + _bytes(8, _bytes(1, "") + _int(2, 13))
        + _bytes(14, _bytes(1, "names") + _bytes(2, names))
    )
    path.write_bytes(model)
    return path
