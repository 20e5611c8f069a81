"""Settings of the audio-visual sync stage. Owned by humo_data/sync/."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from humo_data.config_base import CPU_BATCH_SIZE, Resources, StrictModel


class SyncConfig(StrictModel):
    enabled: bool = Field(True, description="Run the sync stage in the streaming pass.")
    backend: Literal["landmark-envelope-xcorr", "syncnet"] = Field(
        "landmark-envelope-xcorr",
        description="Sync scorer: landmark-envelope-xcorr (offline default, no learned weights: dlib mouth "
        "opening against the speech envelope; corrects offsets it is sure of, cannot verify sync) or syncnet "
        "(weights from `weights`, syncnet_v2 layout; sets sync_verified only with verifier weights, see "
        "verifier_sha256 / min_heldout_accuracy).",
    )
    weights: str | None = Field(None, description="syncnet: syncnet_v2.model (state dict) or .safetensors.")
    verifier_sha256: list[str] = Field(
        default_factory=list,
        description="syncnet: sha256 of weights known to verify sync, e.g. the published syncnet_v2.model "
        "(`sha256sum syncnet_v2.model`; humo-data ships no weights and could not confirm the published "
        "file's digest, so the list starts empty). Weights listed here set sync_verified when the gates pass.",
    )
    min_heldout_accuracy: float = Field(
        0.9,
        ge=0.5,
        le=1.0,
        description="syncnet: weights written by `humo-data sync-train` verify when the held-out pair accuracy "
        "recorded beside them (<weights>.json, bound to the file by its sha256) reaches this (Wav2Lip's "
        "expert SyncNet: 91% on LRS2 test pairs). Other weights score but never verify.",
    )
    min_heldout_pairs: int = Field(
        1000, ge=1, description="syncnet: held-out pairs the recorded accuracy must rest on to count."
    )
    device: str = Field("cpu", description="syncnet: torch device.")
    batch_frames: int = Field(
        20, ge=1, description="syncnet: video frames per forward pass (syncnet_python: 20)."
    )
    max_offset_frames: int = Field(
        15, ge=1, le=50, description="Offsets searched: +/- this many video frames (SyncNet's vshift: 15)."
    )
    max_abs_offset_frames: int = Field(
        6, ge=0, description="Stage-2 gate out_of_sync: |best offset| above this (LatentSync: 6)."
    )
    min_confidence_syncnet: float = Field(
        3.0, description="Stage-2 gate low_sync_confidence for syncnet: LSE-C below this (LatentSync: 3)."
    )
    crop_scale: float = Field(
        0.4, ge=0, description="syncnet: face crop padding (syncnet_python's crop_scale)."
    )
    box_scale: float = Field(
        1.0,
        gt=0,
        description="syncnet: scale of the landmark face box before cropping (S3FD boxes run larger).",
    )
    min_confidence_xcorr: float = Field(
        2.0,
        description="Stage-2 gate low_sync_confidence for landmark-envelope-xcorr: its confidence is how far "
        "the curve's peak stands above the peaks the same mouth finds against unrelated audio (the clip's "
        "own audio features rolled in time), in standard deviations of those peaks; below this the "
        "reading is chance-level and nothing is moved.",
    )
    xcorr_null_rolls: int = Field(
        16,
        ge=4,
        description="landmark-envelope-xcorr: unrelated-audio curves (time rolls) behind the confidence.",
    )
    xcorr_consistency_frames: int = Field(
        2,
        ge=0,
        description="landmark-envelope-xcorr: the peak found with each third of the clip left out must lie "
        "within this many frames of the whole clip's peak, else low_sync_confidence (one event, e.g. a "
        "pause or a landmark glitch, must not decide the offset).",
    )
    xcorr_min_seconds: float = Field(
        3.0,
        ge=0,
        description="landmark-envelope-xcorr: shorter clips get low_sync_confidence (on 2 s windows its "
        "reading is near chance: benchmarks/results/sync_recovery.json).",
    )
    xcorr_min_shift_frames: int = Field(
        3,
        ge=1,
        description="landmark-envelope-xcorr: audio is moved only when |offset| reaches this; a confident "
        "reading within one frame of 0 passes as cut, one from 2 frames up to this is ambiguous (in-sync "
        "speech or a small shift read short) and gated low_sync_confidence, neither passed nor moved. "
        "Natural audio-visual asynchrony alone spans 40 ms audio lead to 200 ms audio lag in running speech "
        "(Schwartz & Savariaux 2014), so a reading within +-2 frames (80 ms) of the literature lead below is "
        "no evidence of a shift (benchmarks/results/sync_recovery.json: in-sync windows read -2..+1).",
    )
    xcorr_lips_lead_ms: float = Field(
        40.0,
        description="landmark-envelope-xcorr: how far the lips lead the sound they make in running speech; "
        "subtracted from every reading (so in-sync speech reads 0). Schwartz & Savariaux (2014, PLoS Comput "
        "Biol 10:e1003743) measured audio-visual asynchrony in chained syllables between 20 ms audio lead "
        "and 70 ms audio lag, up to 200 ms lag in more complex speech; 40 ms (one frame at 25 fps) lies "
        "inside both ranges. A literature figure, not fitted to any clip this project measures on; the "
        "speaker-to-speaker spread around it (about +-1 frame) is in the benchmark's in-sync error.",
    )
    xcorr_bands: int = Field(
        4, ge=1, le=16, description="landmark-envelope-xcorr: log-energy bands 150-7000 Hz."
    )
    xcorr_floor_db: float = Field(
        40.0,
        gt=0,
        description="landmark-envelope-xcorr: band energies are floored this far below each band's loud "
        "(95th percentile) level, so digital silence (zero padding where a source has no audio) is a "
        "quiet frame, not an outlier that decides the fit.",
    )
    xcorr_ridge: float = Field(
        1.0, gt=0, description="landmark-envelope-xcorr: ridge penalty of the per-lag fit."
    )
    min_speech_ratio: float = Field(
        0.5,
        ge=0,
        le=1,
        description="Sync gate no_speech: the share of the clip Silero VAD (Silero's published segment rules, humo_data.audio.config.VadConfig defaults) hears as speech "
        "in the audio the scorer reads must reach this, else nothing is scored or moved (music, silence: "
        "no evidence of speech sync). The sync stage runs its own VAD and never reads the audio stage's gate.",
    )
    min_face_fraction: float = Field(
        0.5, ge=0, le=1, description="Frames with a located face needed to score (else no_face_track)."
    )
    redetect_every: int = Field(
        25, ge=1, description="Without a face_track: re-run dlib's detector every this many frames."
    )
    decode_threads: int = Field(1, ge=0, description="FFmpeg threads to decode a clip (0 = auto).")
    #: one clip per call on CPU (CPU_BATCH_SIZE); configs/gpu.yaml batches for the GPU
    resources: Resources = Resources(num_cpus=1.0, batch_size=CPU_BATCH_SIZE)

    #: where/how fast, never what: left out of the output hash
    unhashed: ClassVar[frozenset[str]] = frozenset({"device", "batch_frames", "decode_threads"})
