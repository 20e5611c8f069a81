"""Cost of deinterlacing 576i in the cutter's reader: bwdif CPU ms per frame, written as JSON (not a test).

Makes a 720x576 interlaced H.264 copy of a shared talking-head video (ffmpeg ``tinterlace`` +
``-flags +ilme+ildct``, 25 interlaced frames/s = 50 fields/s), then measures, in process CPU time
(a busy machine does not skew it; best of ``--repeats``):

- ``bwdif``: the filter alone on the decoded frames (decoding excluded), one slice thread, in
  ``send_frame`` (one frame per frame, the reader's mode when the frame rate fills the 25 fps
  grid) and ``send_field`` (one frame per field) modes, per input frame;
- ``reader``: the whole ``SourceReader`` pass (decode, deinterlace, scale to 480p, shot-detection
  copy) with deinterlacing on and off, per output frame, one decoder thread.

    python benchmarks/deinterlace.py --media ../shared/media
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import av
import typer

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from humo_data.media.decode import SourceReader  # noqa: E402
from humo_data.media.deinterlace import Deinterlacer  # noqa: E402
from humo_data.media.ffmpeg import run_ffmpeg, safe_path  # noqa: E402

SOURCE = "sadtalker_WDA_AlexandriaOcasioCortez_000.mp4"


def make_576i(src: Path, out: Path) -> None:
    """25 interlaced frames/s: the 25p source doubled to 50p, two fields woven per frame."""
    run_ffmpeg(
        ["-i", safe_path(src), "-vf", "scale=720:576,setsar=1,fps=50,tinterlace=interleave_top",
         "-c:v", "libx264", "-pix_fmt", "yuv420p", "-flags", "+ilme+ildct", "-c:a", "aac", "-y", safe_path(out)]
    )  # fmt: skip


def bwdif_cpu(path: Path, mode: str) -> dict:
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.codec_context.thread_count = 1
        frames = list(c.decode(stream))
    deint = Deinterlacer(mode, threads=1)
    t = time.process_time()
    out = sum(len(deint.push(f)) for f in frames) + len(deint.flush())
    cpu = time.process_time() - t
    return {
        "frames_in": len(frames),
        "frames_out": out,
        "cpu_s": cpu,
        "ms_per_input_frame": 1000 * cpu / len(frames),
    }


def reader_cpu(path: Path, deinterlace: bool) -> dict:
    t = time.process_time()
    with SourceReader(str(path), fps=25, short_side=480, threads=1, deinterlace=deinterlace) as r:
        n = sum(1 for _ in r.frames())
        interlaced = r.interlaced
    cpu = time.process_time() - t
    return {"frames": n, "cpu_s": cpu, "ms_per_frame": 1000 * cpu / n, "deinterlaced": interlaced}


def main(
    media: Path = typer.Option(REPO.parent / "shared" / "media", help="Folder with the shared media."),
    repeats: int = typer.Option(3, help="Best of this many runs."),
    out: Path = typer.Option(REPO / "benchmarks" / "results" / "deinterlace.json", help="JSON result file."),
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "576i.mp4"
        make_576i(media / SOURCE, src)
        result: dict = {
            "source": f"{SOURCE} as 720x576 25i H.264 (tinterlace, +ilme+ildct)",
            "repeats": repeats,
        }
        for mode in ("send_frame", "send_field"):
            runs = [bwdif_cpu(src, mode) for _ in range(repeats)]
            result[f"bwdif_{mode}"] = min(runs, key=lambda r: r["cpu_s"])
        for on in (False, True):
            runs = [reader_cpu(src, on) for _ in range(repeats)]
            result[f"reader_deinterlace_{'on' if on else 'off'}"] = min(runs, key=lambda r: r["cpu_s"])
        on, off = result["reader_deinterlace_on"], result["reader_deinterlace_off"]
        result["reader_added_ms_per_frame"] = on["ms_per_frame"] - off["ms_per_frame"]
        result["note"] = "process CPU time, one thread, best of repeats; shared 2-core machine"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    typer.run(main)
