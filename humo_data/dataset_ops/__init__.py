"""Dataset-level operations over a finished dataset (``humo-data dedup|split|export|remove|card``).

Each holds the dataset's lease, records itself in the manifest (phases, stages, shard records),
rewrites the dataset card OUT/README.md, and leaves ``humo-data validate`` passing:

- dedup.py (+ signatures.py, appearance.py, index.py, matching.py, neardup.py): near-duplicate clips
  across sources become rejects ``near_duplicate``;
- splits.py: identity-disjoint train/validation/test as split-separated shards;
- export.py: HuMoSet folder or WebDataset tars;
- takedown.py: remove a source or a person (rows, reference images, face features);
- card.py: the Hugging Face dataset card; shards.py, common.py: shared plumbing; cli.py: commands.
"""
