"""Speaker activity with the pyannote/segmentation checkpoint whisperx ships, read without torch:
the checkpoint is what its task specification says, the numpy forward pass equals torch's layers,
and on real speech one speaker reads 1, two overlapped speakers read 2 (several_speakers in the
audio stage, on rows the real cutter makes), silence reads 0."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
import soundfile as sf

from humo_data.audio.config import AudioConfig, DiarizationConfig
from humo_data.audio.diarization import build_diarizer
from humo_data.audio.diarization.pyannet import PyanNet, read_specs
from humo_data.audio.diarization.pyannote_numpy import whisperx_model_path
from humo_data.audio.diarization.torch_zip import read_checkpoint
from humo_data.audio.stage import AudioStage
from humo_data.config import load_config
from humo_data.jobs.plan import cut_source
from humo_data.media.audio import decode_audio_bytes
from humo_data.media.ffmpeg import run_ffmpeg, safe_path
from tests.shared_media import media_file, needs_media

SR = 16000


@pytest.fixture(scope="module")
def model_path() -> str:
    try:
        return whisperx_model_path()
    except FileNotFoundError as err:
        pytest.skip(str(err))


@pytest.fixture(scope="module")
def diarizer(model_path):
    return build_diarizer(DiarizationConfig())


def wav(name: str) -> np.ndarray:
    return decode_audio_bytes(media_file(name).read_bytes(), SR)


def english_then_mandarin(overlap: float = 2.0, each: float = 5.0) -> tuple[np.ndarray, float]:
    """5 s of the English radio speaker, then 5 s of the Mandarin newsreader starting ``overlap``
    seconds before the English ends (a different voice, language and recording). Returns the mix and
    the time the second speaker starts."""
    a, b = (
        wav("sadtalker_RD_Radio31_000.wav")[: int(each * SR)],
        wav("sadtalker_chinese_news.wav")[: int(each * SR)],
    )
    start = len(a) - int(overlap * SR)
    out = np.zeros(start + len(b), np.float32)
    out[: len(a)] += a
    out[start:] += b
    return out, start / SR


def test_the_checkpoint_is_a_multilabel_pyannet(model_path):
    ckpt = read_checkpoint(model_path)
    specs = read_specs(ckpt, model_path)
    # pyannote/segmentation: 5 s chunks, 3 local speakers, 16.875 ms frames (270 samples), sigmoid outputs
    assert specs.chunk_seconds == 5.0 and specs.classes == ("speaker#1", "speaker#2", "speaker#3")
    assert specs.hop == 270 and specs.receptive == 991 and specs.num_frames(5 * SR) == 293
    meta = ckpt["pyannote.audio"]["introspection"].state  # pyannote's own frame arithmetic, stored
    assert meta["inc_num_samples"] == specs.hop and meta["min_num_samples"] == specs.receptive + specs.hop
    hp = ckpt["hyper_parameters"]
    assert (
        hp["lstm"]["num_layers"] == 4 and hp["lstm"]["hidden_size"] == 128 and hp["linear"]["num_layers"] == 2
    )
    sd = ckpt["state_dict"]
    assert sd["classifier.weight"].shape == (3, 128) and sd["lstm.weight_ih_l3_reverse"].shape == (512, 256)


def test_a_powerset_checkpoint_is_refused(model_path):
    ckpt = read_checkpoint(model_path)
    ckpt["pyannote.audio"]["specifications"].state["powerset_max_classes"] = 2
    with pytest.raises(ValueError, match="powerset"):
        read_specs(ckpt, "x.bin")


def test_numpy_forward_equals_torch_layers(model_path):
    """torch's own LSTM / conv1d / instance norm / max pool on the same weights (and our sinc
    filters, the one part built from parameters) give the same activities."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    model = PyanNet(model_path)
    sd = {k: torch.from_numpy(np.array(v)) for k, v in read_checkpoint(model_path)["state_dict"].items()}
    lstm = torch.nn.LSTM(60, 128, num_layers=4, bidirectional=True, batch_first=True)
    lstm.load_state_dict({k[5:]: v for k, v in sd.items() if k.startswith("lstm.")})
    wave = wav("sadtalker_RD_Radio31_000.wav")
    chunks = np.stack([wave[: 5 * SR], wave[2 * SR : 7 * SR]]).astype(np.float32)
    with torch.no_grad():
        x = F.instance_norm(torch.from_numpy(chunks)[:, None], weight=sd["sincnet.wav_norm1d.weight"],
                            bias=sd["sincnet.wav_norm1d.bias"])  # fmt: skip
        for c in range(3):
            if c == 0:
                x = F.conv1d(x, torch.from_numpy(model.filters), stride=10).abs()
            else:
                x = F.conv1d(x, sd[f"sincnet.conv1d.{c}.weight"], sd[f"sincnet.conv1d.{c}.bias"])
            x = F.instance_norm(F.max_pool1d(x, 3, 3), weight=sd[f"sincnet.norm1d.{c}.weight"],
                                bias=sd[f"sincnet.norm1d.{c}.bias"])  # fmt: skip
            x = F.leaky_relu(x)
        x, _ = lstm(x.transpose(1, 2))
        for i in range(2):
            x = F.leaky_relu(F.linear(x, sd[f"linear.{i}.weight"], sd[f"linear.{i}.bias"]))
        ref = torch.sigmoid(F.linear(x, sd["classifier.weight"], sd["classifier.bias"])).numpy()
    ours = model(chunks)
    assert ours.shape == ref.shape == (2, 293, 3)
    assert np.abs(ours - ref).max() < 1e-4


@needs_media
@pytest.mark.parametrize(
    "name", ["sadtalker_RD_Radio31_000.wav", "sadtalker_chinese_news.wav", "humo_audio1.wav"]
)
def test_one_speaker_reads_one(diarizer, name):
    (act,) = diarizer.analyse([wav(name)])
    assert act.speaker_count == 1, act.turns
    assert act.overlap_ratio is not None and act.overlap_ratio < 0.05
    assert {t[0] for t in act.turns} == {0}


@needs_media
def test_two_overlapped_speakers_read_two_with_their_overlap_and_turns(diarizer):
    mix, second = english_then_mandarin(overlap=2.0)
    (act,) = diarizer.analyse([mix])
    assert act.speaker_count == 2, act.turns
    # truth: 2 s of the 8 s of speech have both voices
    assert 0.15 < act.overlap_ratio < 0.35
    starts = {}
    for speaker, start, _ in act.turns:
        starts.setdefault(speaker, start)
    assert set(starts) == {0, 1} and starts[0] < 0.5 and abs(starts[1] - second) < 0.6, act.turns
    # the same voices one after the other, no overlap: two speakers, no overlap
    (seq,) = diarizer.analyse([english_then_mandarin(overlap=0.0)[0]])
    assert seq.speaker_count == 2 and seq.overlap_ratio < 0.05


def test_silence_and_noise_read_nobody(diarizer):
    rng = np.random.default_rng(0)
    silence, noise = np.zeros(6 * SR, np.float32), (0.05 * rng.standard_normal(4 * SR)).astype(np.float32)
    for act in diarizer.analyse([silence, noise, np.zeros(500, np.float32)]):
        assert act.speaker_count == 0 and act.overlap_ratio is None and act.turns == []


def test_batched_clips_read_as_alone(diarizer):
    """Clips of different lengths share model batches; each reads as it does alone."""
    mix, _ = english_then_mandarin()
    waves = [mix, mix[: 3 * SR], np.zeros(2 * SR, np.float32), mix[SR:]]
    together = diarizer.analyse(waves)
    for w, act in zip(waves, together, strict=True):
        (alone,) = diarizer.analyse([w])
        assert (act.speaker_count, act.overlap_ratio, act.turns) == (
            alone.speaker_count,
            alone.overlap_ratio,
            alone.turns,
        )


def test_missing_model_file_says_how_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        build_diarizer(DiarizationConfig(model_path=str(tmp_path / "nope.bin")))
    (tmp_path / "bad.bin").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="zip-format"):
        build_diarizer(DiarizationConfig(model_path=str(tmp_path / "bad.bin")))


# --- the audio stage on rows the real cutter makes ----------------------------------------------


def cut_live(path) -> pa.Table:
    table = cut_source(str(path), load_config("default"))
    clips = table.filter(pc.equal(table.column("_kind"), "clip"))
    return clips.filter(clips.column("_reject_reason").is_null())


@needs_media
def test_audio_stage_gates_two_voices_and_passes_one(tmp_path, model_path):
    talking = media_file("sadtalker_WDA_AlexandriaOcasioCortez_000.mp4")
    mix, _ = english_then_mandarin(overlap=2.0, each=5.0)
    sf.write(tmp_path / "mix.wav", mix, SR)
    dubbed = tmp_path / "talking_two_voices.mp4"
    run_ffmpeg(["-i", safe_path(talking), "-i", safe_path(tmp_path / "mix.wav"), "-map", "0:v", "-map", "1:a",
                "-c:v", "copy", "-c:a", "aac", "-shortest", "-y", safe_path(dubbed)])  # fmt: skip
    stage = AudioStage(AudioConfig())
    (one,) = stage(cut_live(talking)).to_pylist()
    (two,) = stage(cut_live(dubbed)).to_pylist()
    (silent,) = stage(cut_live(media_file("liveportrait_d19.mp4"))).to_pylist()
    assert one["speaker_count"] == 1 and one["audio_gate"] != "several_speakers"
    assert one["speaker_backend"] == "pyannote-segmentation" and "pyannote" not in one["speech_backend"]
    assert two["speaker_count"] == 2 and two["audio_gate"] == "several_speakers"
    assert two["overlap_ratio"] > 0.1 and {t["speaker"] for t in two["speaker_turns"]} == {0, 1}
    assert silent["speaker_count"] == 0 and silent["speaker_turns"] == [] and silent["overlap_ratio"] is None
    assert silent["audio_gate"] == "not_enough_speech"
    # no speaker model: unknown, and the gate falls back to visible people only
    off = AudioStage(AudioConfig(diarization=DiarizationConfig(backend="none")))
    (unknown,) = off(cut_live(dubbed)).to_pylist()
    assert unknown["speaker_count"] is None and unknown["speaker_backend"] is None
    assert unknown["audio_gate"] != "several_speakers"


def test_without_whisperx_the_message_says_how_to_install_it(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "whisperx" else real(name, *a)
    )
    with pytest.raises(FileNotFoundError, match="pip install --no-deps -r requirements-nodeps.txt"):
        AudioStage(AudioConfig()).preflight()  # the job checks every stage before it starts
    assert AudioStage(AudioConfig()).weights()["diarization_model"] is None  # `humo-data plan` still works
    assert AudioStage(AudioConfig(diarization=DiarizationConfig(backend="none"))).preflight() is None
