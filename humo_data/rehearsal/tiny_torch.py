"""Tiny randomly initialised torch-family models, saved the way the real checkpoints ship.

- ``tiny_whisper(dir)``: a 2+2-layer Whisper converted to CTranslate2 (faster-whisper's format),
  with a locally trained BPE tokenizer and Whisper's special tokens (no hub);
- ``tiny_qwen25_vl(dir)``: a Qwen2.5-VL (config, safetensors, processor with a local byte-level BPE
  carrying Qwen's special tokens, chat template); 0.8 MB, its text is garbage, its plumbing real;
- ``tiny_open_clip(dir)``: ``open_clip_config.json`` + ``open_clip_model.safetensors`` (a 2-layer
  ViT and text tower, the package's own BPE tokenizer), loadable with ``local-dir:``;
- ``tiny_aesthetic_head(path, dim)``: LAION's improved-aesthetic-predictor MLP (layers.0/2/4/6/7);
- ``tiny_syncnet(path)``: the syncnet_v2 layout (a plain state dict without BatchNorm counters).

Used by the tests and by the GPU-profile rehearsal (``humo_data.rehearsal``); they need the
``models`` extra (torch, transformers, ctranslate2, open_clip, safetensors).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

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


SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>",
           "<|vision_pad|>", "<|image_pad|>", "<|video_pad|>"]  # fmt: skip
CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}{% for c in message['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif c['type'] == 'video' %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
CORPUS = [
    "A woman with dark hair speaks to the camera in a bright office.",
    "Two people sit at a wooden table and talk; the camera does not move.",
    "A man in a blue shirt smiles and gestures with both hands.",
]


def tiny_qwen25_vl(folder: Path, seed: int = 0) -> Path:
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import (
        PreTrainedTokenizerFast,
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    folder.mkdir(parents=True, exist_ok=True)
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=SPECIAL, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    bpe.train_from_iterator(CORPUS * 20, trainer)
    tok = PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|im_end|>", pad_token="<|endoftext|>")
    ids = {t: tok.convert_tokens_to_ids(t) for t in SPECIAL}
    images = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=112 * 112, patch_size=14, merge_size=2)
    processor = Qwen2_5_VLProcessor(
        image_processor=images,
        tokenizer=tok,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=CHAT_TEMPLATE,
    )
    eos, pad = ids["<|im_end|>"], ids["<|endoftext|>"]
    config = Qwen2_5_VLConfig(
        text_config=dict(
            vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
            num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=2048,
            rope_scaling={"type": "mrope", "mrope_section": [2, 3, 3]},
            bos_token_id=None, eos_token_id=eos, pad_token_id=pad,
        ),
        vision_config=dict(
            depth=2, hidden_size=32, intermediate_size=64, num_heads=2, out_hidden_size=64, window_size=56,
            fullatt_block_indexes=[1], patch_size=14, spatial_merge_size=2, temporal_patch_size=2,
        ),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"], vision_end_token_id=ids["<|vision_end|>"],
        eos_token_id=eos, pad_token_id=pad,
    )  # fmt: skip
    torch.manual_seed(seed)
    Qwen2_5_VLForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


TINY_CLIP = {
    "embed_dim": 32,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
}


def tiny_open_clip(folder: Path, seed: int = 0) -> Path:
    import open_clip
    import torch
    from safetensors.torch import save_file

    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    model = open_clip.CLIP(**TINY_CLIP)
    save_file(
        {k: v.contiguous() for k, v in model.state_dict().items()},
        str(folder / "open_clip_model.safetensors"),
    )
    preprocess = {"mean": [0.48145466, 0.4578275, 0.40821073], "std": [0.26862954, 0.26130258, 0.27577711]}
    (folder / "open_clip_config.json").write_text(
        json.dumps({"model_cfg": TINY_CLIP, "preprocess_cfg": preprocess})
    )
    return folder


def laion_mlp(dim: int):
    """improved-aesthetic-predictor's layer stack (dropouts between linear layers, no activation)."""
    import torch.nn as nn

    return nn.Sequential(
        nn.Linear(dim, 1024), nn.Dropout(0.2), nn.Linear(1024, 128), nn.Dropout(0.2),
        nn.Linear(128, 64), nn.Dropout(0.1), nn.Linear(64, 16), nn.Linear(16, 1),
    )  # fmt: skip


def tiny_aesthetic_head(path: Path, dim: int, seed: int = 0):
    """A random LAION-layout head saved at ``path`` (.safetensors or .pth); returns the torch module."""
    import torch

    torch.manual_seed(seed)
    mlp = laion_mlp(dim).eval()
    state = {f"layers.{k}": v for k, v in mlp.state_dict().items()}
    if path.suffix == ".safetensors":
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    else:
        torch.save(state, str(path))
    return mlp


def tiny_syncnet(path: Path, seed: int = 0) -> Path:
    """SyncNet with random weights and non-trivial BatchNorm statistics (as a trained checkpoint
    has), saved as the public ``syncnet_v2.model``: a plain state dict, no BatchNorm counters."""
    import torch

    from humo_data.sync.syncnet_model import SyncNet

    torch.manual_seed(seed)
    model = SyncNet()
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 2.0)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(state, path)
    return path
