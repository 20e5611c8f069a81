"""Device choice of the model backends (humo_data/devices.py): a CUDA request where no GPU is
visible runs on the CPU and says so once per backend; 'auto' follows the GPU; a CPU stays a CPU."""

from __future__ import annotations

import logging

from humo_data import devices


def test_cuda_without_a_gpu_falls_back_to_cpu_with_one_warning(caplog):
    devices._warned.discard("test backend")
    with caplog.at_level(logging.WARNING, logger="humo_data.devices"):
        assert devices.resolve_device("cuda", "test backend", has_gpu=lambda: False) == "cpu"
        assert devices.resolve_device("cuda:1", "test backend", has_gpu=lambda: False) == "cpu"
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "test backend: device 'cuda' asked for" in lines[0]
    assert "torch sees no GPU" in lines[0] and "running on cpu" in lines[0]


def test_auto_and_explicit_devices():
    assert devices.resolve_device("auto", "b", has_gpu=lambda: True) == "cuda"
    assert devices.resolve_device("cuda:1", "b", has_gpu=lambda: True) == "cuda:1"
    assert devices.resolve_device("auto", "b", has_gpu=lambda: False) == "cpu"
    assert devices.resolve_device("cpu", "b", has_gpu=lambda: True) == "cpu"


def test_faster_whisper_on_cpu_drops_gpu_compute_types():
    import pytest

    ct2 = pytest.importorskip("ctranslate2")
    from humo_data.audio.asr.whisper import whisper_device

    if ct2.get_cuda_device_count():
        pytest.skip("a GPU is visible")
    assert whisper_device("cuda", "float16") == ("cpu", "float32")
    assert whisper_device("cuda", "int8") == ("cpu", "int8")
    assert whisper_device("cpu", "int8") == ("cpu", "int8")
