"""Compact two-stage HuMo trainer (needs the ``train`` extra: torch, diffusers, transformers)."""
