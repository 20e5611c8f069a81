"""Face backends by name (``FacesConfig.backend``); importing this package registers them all."""

from humo_data.faces.backends import dlib_hog, insightface_onnx  # noqa: F401  (registration)
from humo_data.faces.backends.base import FACE_BACKENDS, Face, FaceBackend


def load_backend(config) -> FaceBackend:
    """The configured backend (not yet set up: call ``setup()`` in the worker)."""
    return FACE_BACKENDS.get(config.backend)(config)


__all__ = ["FACE_BACKENDS", "Face", "FaceBackend", "load_backend"]
