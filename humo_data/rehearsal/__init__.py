"""A rehearsal of the GPU profile (configs/gpu.yaml) on any machine: tiny random weights in each real
backend's layout (``tiny_onnx``, ``tiny_torch``), the profile derived with their paths (``profile``),
one job on a local Ray that declares GPUs (``run``), what it proves (``checks``) and its per-stage
numbers (``report``). ``humo-data rehearse`` and ``benchmarks/gpu_profile.py`` run it."""
