"""Settings of cutting shots into clips and of the frames the cutter samples for later stages."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field, model_validator

from humo_data.config_base import Resources, StrictModel


class ClipsConfig(StrictModel):
    fps: float = Field(25.0, gt=0, description="Output frame rate (HuMo: 25).")
    min_seconds: float = Field(
        2.0, gt=0, description="Shots shorter than this are rejected; shorter tails dropped."
    )
    max_seconds: float = Field(10.0, gt=0, description="Longest clip; longer shots are split.")
    frame_rule: Literal["4k+1", "any"] = Field(
        "4k+1", description="Snap clip lengths to 4k+1 frames (Wan VAE temporal compression) or keep any."
    )
    shot_margin_seconds: float = Field(
        0.12,
        ge=0,
        description="Trimmed at each end of a shot so transition frames never start or end a clip.",
    )
    short_side: int = Field(
        480, ge=16, description="Resize so the short side is this (keeps aspect, even sizes)."
    )
    upscale: bool = Field(False, description="Allow upscaling sources smaller than short_side.")
    video_codec: Literal["libx264"] = "libx264"
    encoder: Literal["x264", "auto", "nvenc"] = Field(
        "x264",
        description="H.264 encoder of the clips: x264 (CPU, byte-reproducible across machines); auto = "
        "h264_nvenc on a worker whose preflight (a 1-frame trial encode) passes, else x264 with one log "
        "line (A100/H100 have no NVENC); nvenc = NVENC or fail. NVENC encodes at constant quality cq=crf. "
        "Each clip records its encoder (video_encoder); not hashed: clip boundaries and every decision "
        "stay the same.",
    )
    decoder: Literal["cpu", "auto", "nvdec"] = Field(
        "cpu",
        description="Video decoder of the sources: cpu (FFmpeg's decoders); auto = NVDEC (FFmpeg's CUDA hwaccel) "
        "on a worker whose preflight (a small H.264 clip decoded on the GPU) passes, else the CPU with one log "
        "line; nvdec = NVDEC or fail. A source NVDEC cannot decode (no NVDEC path for its codec, a profile the "
        "GPU refuses) is decoded on the CPU and the reason counted in the manifest (decoder_fallbacks). Each "
        "clip records its decoder (video_decoder); not hashed: NVDEC decodes clean H.264/HEVC to the same "
        "pixels and the reader repacks its layouts, so clips are the same (damaged streams may differ: NVDEC "
        "reports no slice-data errors).",
    )
    nvenc_preset: str = Field("p4", description="NVENC preset (p1 fastest .. p7 best) when NVENC encodes.")
    crf: int = Field(18, ge=0, le=51, description="x264 constant rate factor.")
    preset: str = Field("veryfast", description="x264 preset.")
    x264_params: str | None = Field(
        "me=dia:subme=1:partitions=i8x8,i4x4",
        description="x264 options over the preset (key=value:...). The default trims veryfast's motion "
        "search (0.6x its encode CPU, same PSNR/SSIM at CRF 18, ~10% more bits; "
        "benchmarks/results/encoder_presets.json); null = the plain preset.",
    )
    decode_threads: int = Field(
        0,
        ge=0,
        description="FFmpeg decoder threads per source; 0 = the node's CPUs shared by the sources in flight.",
    )
    encode_threads: int = Field(0, ge=0, description="x264 threads per clip encoder; 0 = as decode_threads.")
    audio_sample_rate: int = Field(16000, description="Audio sample rate (HuMo/Whisper: 16 kHz mono).")
    audio_format: Literal["flac", "wav"] = Field("flac", description="Encoding of the audio column.")
    split_min_seconds: float | None = Field(
        240.0,
        ge=0,
        description="Sources at least this long are cut in time ranges by several workers at once "
        "(clips/ranges.py), with the same clips, ids and rejects as one pass: a long file no longer runs "
        "alone at the end of a job. 0 or null = never split.",
    )
    split_when: Literal["alone", "always"] = Field(
        "alone",
        description="alone: split only a source bigger than the run's bytes per CPU (it would run alone at "
        "the end while the rest keep every CPU busy; splitting costs some extra decoding), on a cluster of "
        "at least split_min_cpus CPUs; always: every source at least split_min_seconds long.",
    )
    split_min_cpus: int = Field(
        4,
        ge=1,
        description="split_when=alone splits only on a cluster of at least this many CPUs: one source's pass "
        "already keeps about two busy (decoder threads, x264's thread, the thread that scales and detects); "
        "on 2 CPUs ranges were slower (benchmarks/results/split_source.json).",
    )
    split_range_seconds: float = Field(
        60.0,
        gt=0,
        description="Length of one range of a split source (ranges are equal, at least this long). Each "
        "range pays split_warmup_seconds plus the rest of the shot it starts in, decoded and not kept.",
    )
    split_warmup_seconds: float = Field(
        2.0,
        ge=0,
        description="Decoded before a range's start (from the keyframe before) so the shot detector's "
        "state matches one pass; a range whose state does not match at its first cut is redone from the "
        "source start, so this trades speed, never outputs.",
    )
    resources: Resources = Resources(num_cpus=1.0)

    unhashed: ClassVar[frozenset[str]] = frozenset(
        {"decode_threads", "encode_threads", "encoder", "decoder", "nvenc_preset", "split_min_seconds",
         "split_when", "split_min_cpus", "split_range_seconds", "split_warmup_seconds"}
    )  # fmt: skip

    @property
    def encoder_backend(self) -> str:
        """The encoder as the manifest and the plan name it (auto: decided per worker)."""
        return {"x264": "libx264", "nvenc": "h264_nvenc"}.get(self.encoder, "auto(h264_nvenc|libx264)")

    @property
    def decoder_backend(self) -> str:
        """The decoder as the manifest and the plan name it (auto: decided per worker): plain
        ``pyav`` for the CPU, so the default names stay as they were."""
        return {"cpu": "pyav", "nvdec": "pyav[nvdec]"}.get(self.decoder, "pyav[auto(nvdec|cpu)]")

    @property
    def video_backend(self) -> str:
        """Decoder, encoder and audio codec of the cut stage, e.g. ``pyav-libx264+aac``."""
        return f"{self.decoder_backend}-{self.encoder_backend}+aac"

    @property
    def snap(self) -> int:
        """Clip lengths are multiples of this plus one (frame_rule 4k+1: 4)."""
        return 4 if self.frame_rule == "4k+1" else 1

    def frame_bounds(self) -> tuple[int, int]:
        """Shortest and longest clip in frames (planner.frame_bounds of these settings)."""
        from humo_data.clips.planner import frame_bounds

        return frame_bounds(self.min_seconds, self.max_seconds, self.fps, self.snap)

    @model_validator(mode="after")
    def _bounds(self) -> ClipsConfig:
        if self.min_seconds > self.max_seconds:
            raise ValueError(
                f"min_seconds ({self.min_seconds}) must not exceed max_seconds ({self.max_seconds})"
            )
        try:
            self.frame_bounds()
        except ValueError as err:
            raise ValueError(f"{err}; widen min_seconds..max_seconds or set frame_rule=any") from None
        return self


class FramesConfig(StrictModel):
    """Frames sampled by the cutter while it holds the decoded source, for every later stage
    (quality, faces, captions): no model stage decodes a source again."""

    fractions: tuple[float, ...] = Field(
        (0.05, 0.25, 0.5, 0.75, 0.95),
        description="Where in each clip to sample, as fractions of its length (Phantom-Data: .05/.5/.95).",
    )
    every_seconds: float = Field(
        0.4,
        gt=0,
        description="Candidate spacing while a clip is open (its length is known only at its end); each "
        "fraction takes the nearest candidate.",
    )
    short_side: int = Field(
        720, ge=64, description="Sampled frames keep source resolution, capped at this short side."
    )
    format: Literal["jpeg", "png"] = Field("jpeg", description="Encoding of the sampled frames.")
    jpeg_quality: int = Field(92, ge=50, le=100, description="JPEG quality of sampled frames.")
