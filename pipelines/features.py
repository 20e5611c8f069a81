"""Ray job entry point for the trainer's feature cache (logic: humo_data.train.features_job).

ray job submit --working-dir . -- python pipelines/features.py --config stage2 --output out/features --num-gpus 1
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from humo_data.cli import app

    app(["features", *sys.argv[1:]])
