"""Replace the audio track of an MP4 in memory: video packets copied as they are (no re-encode),
new AAC audio encoded from float32 mono PCM. Used after a sync shift or vocal separation, so the
clip's MP4 and its stored ``audio`` carry the same sound."""

from __future__ import annotations

import io

import av
import numpy as np


def replace_audio_track(
    mp4: bytes, samples: np.ndarray, sample_rate: int, bitrate: int | None = None
) -> bytes:
    """``mp4`` with its audio replaced by ``samples`` (float32 mono at ``sample_rate``) as AAC.
    A file without an audio stream gets one; extra streams other than the first video are dropped."""
    out_buf = io.BytesIO()
    with av.open(io.BytesIO(mp4)) as src, av.open(out_buf, "w", format="mp4") as dst:
        if not src.streams.video:
            raise ValueError("no video stream to keep")
        vin = src.streams.video[0]
        vout = dst.add_stream_from_template(vin)
        aout = dst.add_stream("aac", rate=sample_rate, layout="mono")
        if bitrate:
            aout.bit_rate = bitrate
        for packet in src.demux(vin):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            packet.stream = vout
            dst.mux(packet)
        frame = av.AudioFrame.from_ndarray(
            np.clip(np.nan_to_num(samples), -1.0, 1.0).astype(np.float32).reshape(1, -1),
            format="flt",
            layout="mono",
        )
        frame.sample_rate = sample_rate
        frame.pts = 0
        dst.mux(aout.encode(frame))
        dst.mux(aout.encode(None))
    return out_buf.getvalue()
