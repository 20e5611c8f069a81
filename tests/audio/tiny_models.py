"""Tiny randomly initialised models in the formats the real backends load (tests only).

- ``tiny_whisper(dir)``: a 2+2-layer Whisper converted to CTranslate2 (faster-whisper's format),
  with a locally trained BPE tokenizer and Whisper's special tokens (no hub).
- ``mdx_onnx(path, ...)``: an ONNX model with MDX-Net's signature [B, 4, dim_f, dim_t] -> same.
- ``segmentation_onnx(path, ...)``: pyannote segmentation's signature [B, 1, samples] -> [B, frames, 7].
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

LANGS = ("en", "zh", "de", "fr", "es")


def tiny_whisper(out: Path, seed: int = 0) -> Path:
    import ctranslate2
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        GenerationConfig,
        PreTrainedTokenizerFast,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
    )

    hf = out.parent / f"{out.name}-hf"
    hf.mkdir(parents=True, exist_ok=True)
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=300, initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(
        ["hello world this is a tiny whisper model", "the quick brown fox jumps"] * 4, trainer
    )
    # Whisper's specials after the text tokens, <|notimestamps|> last: timestamps follow it
    specials = ["<|endoftext|>", "<|startoftranscript|>", *[f"<|{lang}|>" for lang in LANGS], "<|translate|>",
                "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]  # fmt: skip
    tok.add_special_tokens(specials)
    eot = "<|endoftext|>"
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        additional_special_tokens=specials,
        eos_token=eot,
        bos_token=eot,
        unk_token=eot,
        pad_token=eot,
    )
    fast.save_pretrained(hf)
    ids = {t: tok.token_to_id(t) for t in specials}
    torch.manual_seed(seed)
    cfg = WhisperConfig(
        vocab_size=len(fast) + 1501, num_mel_bins=80, d_model=64, encoder_layers=2, decoder_layers=2,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=128, decoder_ffn_dim=128,
        max_source_positions=1500, max_target_positions=448, decoder_start_token_id=ids["<|startoftranscript|>"],
        eos_token_id=ids[eot], pad_token_id=ids[eot], bos_token_id=ids[eot], suppress_tokens=[],
        begin_suppress_tokens=[ids[eot]],
    )  # fmt: skip
    model = WhisperForConditionalGeneration(cfg).eval()
    model.generation_config = GenerationConfig(
        decoder_start_token_id=cfg.decoder_start_token_id, eos_token_id=cfg.eos_token_id,
        pad_token_id=cfg.pad_token_id, suppress_tokens=[], begin_suppress_tokens=[ids[eot]],
        lang_to_id={f"<|{lang}|>": ids[f"<|{lang}|>"] for lang in LANGS}, alignment_heads=[[1, 0], [1, 1]],
        no_timestamps_token_id=ids["<|notimestamps|>"],
    )  # fmt: skip
    model.save_pretrained(hf)
    WhisperFeatureExtractor(feature_size=80).save_pretrained(hf)  # v5 processors write none themselves
    converter = ctranslate2.converters.TransformersConverter(
        str(hf), copy_files=["tokenizer.json", "preprocessor_config.json"]
    )
    converter.convert(str(out), force=True)
    shutil.rmtree(hf)
    # CTranslate2 calls a Whisper multilingual (language detection, forced languages) when its
    # vocabulary holds the empty token, as Whisper's own does: give it one unused text token's slot
    vocab_file = out / "vocabulary.json"
    vocab = json.loads(vocab_file.read_text())
    vocab[ids["<|endoftext|>"] - 1] = ""
    vocab_file.write_text(json.dumps(vocab))
    return out


def _save(graph, path: Path) -> Path:
    import onnx
    from onnx import helper

    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def mdx_onnx(path: Path, dim_f: int, dim_t: int, identity: bool = False, seed: int = 0) -> Path:
    """MDX signature. ``identity`` passes the spectrogram through (a separator that keeps all);
    otherwise a random 1x1 convolution over the 4 channels."""
    from onnx import TensorProto, helper, numpy_helper

    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, dim_f, dim_t])
    y = helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", 4, dim_f, dim_t])
    if identity:
        nodes, inits = [helper.make_node("Identity", ["input"], ["output"])], []
    else:
        w = np.random.default_rng(seed).standard_normal((4, 4, 1, 1)).astype(np.float32) * 0.5
        nodes = [helper.make_node("Conv", ["input", "w"], ["output"])]
        inits = [numpy_helper.from_array(w, "w")]
    return _save(helper.make_graph(nodes, "mdx_tiny", [x], [y], inits), path)


def segmentation_onnx(path: Path, favour: int | None = None, frames: int = 589, seed: int = 0) -> Path:
    """pyannote segmentation signature: 7 powerset log-probabilities per frame. ``favour`` makes
    one class win everywhere (a known answer); None = random weights on framed audio energy."""
    from onnx import TensorProto, helper, numpy_helper

    hop = 160000 // frames
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 1, 160000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", frames, 7])
    rng = np.random.default_rng(seed)
    conv_w = rng.standard_normal((8, 1, hop)).astype(np.float32) * 0.1
    lin_w = rng.standard_normal((8, 7)).astype(np.float32)
    bias = np.zeros(7, np.float32)
    if favour is not None:
        lin_w[:] = 0
        bias[favour] = 10.0
    inits = [
        numpy_helper.from_array(conv_w, "cw"),
        numpy_helper.from_array(lin_w, "lw"),
        numpy_helper.from_array(bias, "b"),
    ]
    nodes = [
        helper.make_node("Conv", ["x", "cw"], ["c"], strides=[hop]),  # [N, 8, frames]
        helper.make_node("Transpose", ["c"], ["t"], perm=[0, 2, 1]),  # [N, frames, 8]
        helper.make_node("MatMul", ["t", "lw"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["z"]),
        helper.make_node("LogSoftmax", ["z"], ["y"], axis=-1),
    ]
    return _save(helper.make_graph(nodes, "seg_tiny", [x], [y], inits), path)
