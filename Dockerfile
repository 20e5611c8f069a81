# GPU worker image for Ray clusters: CUDA runtime + Python 3.11 + humo-data with the model and
# training extras. Build: docker build -t humo-data:gpu .
# Weights are NOT baked in: mount them and point configs/gpu.yaml at the paths.
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
# The NVIDIA container runtime mounts the driver's NVDEC/NVENC libraries (libnvcuvid,
# libnvidia-encode) only with the `video` capability; the CUDA images ask for compute,utility.
# PyAV's own FFmpeg loads them at run time (clips.decoder / clips.encoder = auto).
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility,video
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev ffmpeg git \
 && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY pyproject.toml README.md requirements-nodeps.txt ./
COPY humo_data ./humo_data
COPY pipelines ./pipelines
COPY schemas ./schemas
COPY configs ./configs
# torch from PyPI is the CUDA build on Linux x86_64 (pin it like the dev extra: torch 2.14.1 +
# torchvision 0.29.1); vLLM captioning: add the `vllm` extra.
RUN pip install -U pip && pip install -e ".[models,train]"
# insightface and rapidocr-onnxruntime pin the GUI opencv-python: install them without their
# dependencies (their runtime needs come with the `models` extra).
RUN pip install --no-deps -r requirements-nodeps.txt
# onnxruntime's CUDA build for SCRFD/ArcFace, Silero, MDX and the segmentation model on the GPU
# (the CPU package has no CUDA provider; the two must not be installed side by side).
RUN pip uninstall -y onnxruntime && pip install "onnxruntime-gpu>=1.17"

CMD ["humo-data", "--help"]
