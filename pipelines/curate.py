"""Ray job entry point for curation (not an installed module; the logic is humo_data.jobs.curate).

    ray job submit --working-dir . -- python pipelines/curate.py --input s3://b/videos --output s3://b/out --config gpu

It is the same as ``humo-data curate`` with the same options; inside a Ray job it connects to
the job's cluster (``RAY_ADDRESS`` is set by ``ray job submit``).
"""

from __future__ import annotations

import sys

if __name__ == "__main__":
    from humo_data.cli import app

    app(["curate", *sys.argv[1:]])
