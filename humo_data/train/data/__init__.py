"""Trainer data: streaming triplet shards / HuMoSet folders -> TrainBatch (see stream.py).

Import-light: torch is only needed by ``stream`` (the IterableDataset and collate).
"""
