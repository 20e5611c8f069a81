from humo_data.shots.detectors import SHOT_DETECTORS, ShotDetector, build_shot_detector

__all__ = ["SHOT_DETECTORS", "ShotDetector", "build_shot_detector"]
