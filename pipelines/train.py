"""Ray job entry point for training: ``ray job submit --working-dir . -- python pipelines/train.py
--config stage2 --set ray.num_workers=8`` (the same as ``humo-data train --ray``)."""

from __future__ import annotations

import argparse
import json


def main(argv: list[str] | None = None) -> None:
    from humo_data.train.config import load_train_config
    from humo_data.train.ray_train import run_ray_train

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--config", default="stage1", help="Profile in configs/train/ or a YAML path.")
    p.add_argument("--set", dest="overrides", action="append", default=[], help="section.key=value")
    args = p.parse_args(argv)
    cfg = load_train_config(args.config, args.overrides)
    print(json.dumps(run_ray_train(cfg), default=str))


if __name__ == "__main__":
    main()
