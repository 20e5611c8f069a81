# GPU worker image for Ray clusters: CUDA runtime + Python 3.11 + humo-data with the model and
# training extras. Build: docker build -t humo-data:gpu .
# Weights are NOT baked in: mount them and point configs/gpu.yaml at the paths.
FROM nvidia/cuda:12.4.1-cudnn-runtime-ubuntu22.04

ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PYTHONUNBUFFERED=1
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3.11 python3.11-venv python3.11-dev ffmpeg git \
 && rm -rf /var/lib/apt/lists/*
RUN python3.11 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /app
COPY pyproject.toml README.md ./
COPY humo_data ./humo_data
COPY pipelines ./pipelines
COPY schemas ./schemas
COPY configs ./configs
# torch from PyPI is the CUDA build on Linux x86_64.
RUN pip install -U pip && pip install -e ".[models,train]"
# whisperx and insightface pin old dependencies; install them without theirs (their runtime
# needs — faster-whisper, ctranslate2, onnxruntime — come with the `models` extra).
RUN pip install --no-deps whisperx insightface

CMD ["humo-data", "--help"]
