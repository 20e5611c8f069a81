"""The frame window of ``video.decode_window``, decoded with decord instead of PyAV.

Same contract and timeline (output frame k shows the last source frame with pts <= k/fps; the
last frame lasts one source interval), same cover-resize + centre crop: decord's decoder scales
to the cover size in FFmpeg (swscale, as PyAV's reformat does) and the crop is a view. Only the
frames the window needs are fetched (``get_batch`` of unique indices), decoding from the nearest
keyframe.

decord is an optional dependency (the ``decord`` extra): importing this module does not need it;
calling ``decode_window_decord`` without it raises ImportError naming the extra.
"""

from __future__ import annotations

import io

import numpy as np

from humo_data.train.data.video import ClipTooShort, Crop, DecodedClip, clip_info


def decord_available() -> bool:
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def output_indices(rel_times: np.ndarray, src_fps: float, fps: float) -> np.ndarray:
    """Source frame index of every output frame at ``fps`` (the PyAV reader's rule, vectorised).

    rel_times: presentation times of the source frames in seconds, from 0, ascending."""
    if rel_times.size == 0:
        return np.zeros(0, np.int64)
    end_t = float(rel_times[-1]) + 1.0 / src_fps
    total = 0
    while total / fps < end_t - 1e-6:  # the same float comparisons as the PyAV reader's loop
        total += 1
    k = np.arange(total) / fps
    return np.searchsorted(rel_times - 1e-6, k, side="right") - 1


def decode_window_decord(
    data: bytes, *, frames: int, fps: float, height: int, width: int, start: int, threads: int = 0
) -> DecodedClip:
    """Frames [start, start+frames) at ``fps``, cover-resized to (height, width) and centre-cropped.

    threads: decord's decoder threads (0 = FFmpeg's automatic count). Raises ClipTooShort (with
    ``total``) like the PyAV reader when the clip has fewer output frames than the window needs.
    """
    try:
        import decord
    except ImportError as err:
        raise ImportError("data.video_reader=decord needs decord: pip install 'humo-data[decord]'") from err

    _, src_h, src_w = clip_info(data)  # container header only: the crop fixes the decoder's output size
    if not src_h or not src_w:
        raise ValueError("no decodable video frame")
    crop = Crop.cover(src_h, src_w, height, width)
    vr = decord.VideoReader(
        io.BytesIO(data), ctx=decord.cpu(0), width=crop.scaled_w, height=crop.scaled_h, num_threads=threads
    )
    n = len(vr)
    if n == 0:
        raise ValueError("no decodable video frame")
    times = vr.get_frame_timestamp(np.arange(n))[:, 0].astype(np.float64)
    idx = output_indices(times - times[0], float(vr.get_avg_fps() or fps), fps)
    if idx.size < start + frames:
        err = ClipTooShort(f"clip has {idx.size} frames at {fps:g} fps, window needs {start}+{frames}")
        err.total = idx.size  # type: ignore[attr-defined]
        raise err
    want = idx[start : start + frames]
    unique, inverse = np.unique(want, return_inverse=True)  # a lower source rate repeats frames
    try:
        batch = vr.get_batch(unique.tolist()).asnumpy()
    except decord.DECORDError as err:
        if "DECORDArrayCopyFromTo" in str(err):  # padded rows it copies as if unpadded
            raise ValueError(
                f"decord cannot return frames {crop.scaled_w} px wide (decord 0.6 fails at some small "
                "widths: 8, 12, 16, 24, 48, 72 px); use data.video_reader=pyav"
            ) from err
        raise
    out = batch[inverse, crop.top : crop.top + crop.out_h, crop.left : crop.left + crop.out_w]
    return DecodedClip(np.ascontiguousarray(out), start, crop, None)
