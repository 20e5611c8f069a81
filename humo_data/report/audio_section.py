"""Report section for audio and lip sync: the stage-2 funnel per gate and per language, and
histograms of speech ratio, speech-to-background, sync offset and confidence (inline SVG).

    html = section("out/")   # an HTML fragment; report/html.py places it in the page

Reads light columns only (no media). Says plainly what stage 2 means for the sync backend used:
"verified" for SyncNet, "offset corrected" for the offline scorer, and names in every remark the
backends that ran (the rows' ``sync_backend`` / ``asr_backend``), never one that did not.
"""

from __future__ import annotations

import html
from collections import Counter
from typing import Any

import numpy as np

COLUMNS = [
    "stage2", "stage2_reason", "language", "speech_ratio", "speech_to_background_db", "separation_applied",
    "sync_offset_frames", "sync_confidence", "sync_backend", "sync_verified", "audio_offset_frames",
    "speech_backend", "transcript", "asr_hypothesis", "asr_backend", "asr_wer", "clip_id", "sync_gate",
]  # fmt: skip
BAR_W, BAR_H = 360, 120


def section(dataset_root: str) -> str:
    from humo_data.io.dataset import open_dataset

    table = open_dataset(str(dataset_root)).read("triplets", COLUMNS)
    if table.num_rows == 0:
        return "<section id='audio-sync'><h2>Audio and lip sync</h2><p>No clips.</p></section>"
    rows = table.to_pylist()
    return render(rows)


def render(rows: list[dict[str, Any]]) -> str:
    """The fragment for already-read rows (see ``COLUMNS``)."""
    col = lambda name: [r.get(name) for r in rows]  # noqa: E731
    parts = ["<section id='audio-sync'>", "<h2>Audio and lip sync (stage 2)</h2>", _meaning(rows)]
    parts.append(_funnel(rows))
    parts.append(_languages(rows))
    parts.append("<div style='display:flex;flex-wrap:wrap;gap:16px'>")
    parts.append(_histogram("speech ratio (VAD)", col("speech_ratio"), np.linspace(0, 1, 11)))
    parts.append(
        _histogram("speech-to-background (dB)", col("speech_to_background_db"), np.arange(-20, 61, 10))
    )
    for backend in sorted({b for b in col("sync_backend") if b}):
        mine = [r for r in rows if r.get("sync_backend") == backend]
        offsets = [r.get("sync_offset_frames") for r in mine]
        parts.append(_histogram(f"best offset, frames ({backend})", offsets, np.arange(-15.5, 16, 1)))
        conf = [r.get("sync_confidence") for r in mine]
        edges = np.linspace(0, 12, 13) if backend == "syncnet" else np.linspace(0, 1.2, 13)
        parts.append(_histogram(f"sync confidence ({backend})", conf, edges))
    parts.append("</div>")
    parts.append(_examples(rows))
    parts.append("</section>")
    return "\n".join(parts)


def _meaning(rows: list[dict]) -> str:
    backends = Counter(r.get("sync_backend") for r in rows if r.get("sync_backend"))
    verified = sum(bool(r.get("sync_verified")) for r in rows)
    shifted = sum(1 for r in rows if r.get("audio_offset_frames"))
    separated = sum(bool(r.get("separation_applied")) for r in rows)
    lines = [
        f"Sync backends: {', '.join(f'{html.escape(b)} ({n})' for b, n in backends.items()) or 'none ran'}."
    ]
    if backends.get("landmark-envelope-xcorr"):
        lines.append(
            "The offline scorer (landmark-envelope-xcorr) locates an audio offset from mouth opening and the "
            "speech envelope; it cannot tell swapped or dubbed audio from the clip's own. Stage 2 with it means "
            "<b>offset corrected</b>, not verified in sync."
        )
    scored = sum(1 for r in rows if r.get("sync_backend"))
    gates = Counter(r.get("sync_gate") for r in rows if r.get("sync_backend"))
    lines.append(
        f"Sync stage: {scored} clips scored; <b>{shifted} had their audio moved</b> by the offset it measured "
        f"(audio_offset_frames); {gates.get('low_sync_confidence', 0)} could not be told "
        f"(low_sync_confidence: audio left as cut, not stage 2); {gates.get('no_speech', 0)} had no speech to "
        f"align (no_speech: music or silence, left as cut); {gates.get('out_of_sync', 0)} out of sync "
        f"beyond the gate (left as cut, not stage 2)."
    )
    lines.append(
        (
            f"{verified} clips verified by SyncNet"
            if backends.get("syncnet")
            else "No clip verified in sync (only SyncNet with verifier weights verifies; it did not run)"
        )
        + f"; vocals separated on {separated} clips before VAD/ASR/sync."
    )
    return "<p>" + "<br>".join(lines) + "</p>"


def _funnel(rows: list[dict]) -> str:
    reasons = Counter(r.get("stage2_reason") or ("stage 2" if r.get("stage2") else "unknown") for r in rows)
    total = len(rows)
    body = "".join(
        f"<tr><td>{html.escape(str(k))}</td><td style='text-align:right'>{n}</td>"
        f"<td>{_bar(n / total)}</td></tr>"
        for k, n in sorted(reasons.items(), key=lambda kv: (kv[0] != "stage 2", -kv[1]))
    )
    return f"<h3>Stage-2 funnel ({total} clips; first failed gate)</h3><table>{body}</table>"


def _languages(rows: list[dict]) -> str:
    all_lang = Counter(r.get("language") or "unknown" for r in rows)
    s2 = Counter(r.get("language") or "unknown" for r in rows if r.get("stage2"))
    body = "".join(
        f"<tr><td>{html.escape(lang)}</td><td style='text-align:right'>{n}</td>"
        f"<td style='text-align:right'>{s2.get(lang, 0)}</td></tr>"
        for lang, n in all_lang.most_common()
    )
    return (
        f"<h3>Per language</h3><p>{_language_note(rows)}</p>"
        f"<table><tr><th>language</th><th>clips</th><th>stage 2</th></tr>{body}</table>"
    )


def _language_note(rows: list[dict]) -> str:
    """What the per-language table can say, naming the backends that ran (the rows' *_backend)."""
    sync = Counter(r.get("sync_backend") for r in rows if r.get("sync_backend"))
    asr = Counter(r.get("asr_backend") for r in rows if r.get("asr_backend"))
    notes = []
    if not any(r.get("language") for r in rows):
        notes.append(
            "No language was identified"
            + (f" ({', '.join(map(html.escape, asr))} does not identify languages)" if asr else "")
            + ": every clip is counted as unknown."
        )
    if not sync:
        notes.append("No sync backend ran.")
    else:
        ran = ", ".join(f"{html.escape(b)} ({n} clips)" for b, n in sync.most_common())
        notes.append(f"Sync was scored by {ran}.")
        if sync.get("syncnet"):
            notes.append("SyncNet is known to be less reliable on some languages.")
        offline = [b for b in sync if b != "syncnet"]
        if offline:
            notes.append(
                f"How well {', '.join(map(html.escape, offline))} works per language has not been measured."
            )
        notes.append("Compare the stage-2 share per language.")
    return " ".join(notes)


def _bar(frac: float) -> str:
    w = int(round(200 * frac))
    return f"<div style='background:#4a7;height:10px;width:{w}px'></div>"


def _histogram(title: str, values: list, edges: np.ndarray) -> str:
    vals = np.array([v for v in values if v is not None], dtype=float)
    counts, _ = (
        np.histogram(np.clip(vals, edges[0], edges[-1]), bins=edges)
        if len(vals)
        else (np.zeros(len(edges) - 1), None)
    )
    top = max(int(counts.max()), 1)
    bw = BAR_W / len(counts)
    bars = "".join(
        f"<rect x='{i * bw:.1f}' y='{BAR_H - c / top * BAR_H:.1f}' width='{bw - 1:.1f}' height='{c / top * BAR_H:.1f}' "
        f"fill='#47a'><title>{edges[i]:g} to {edges[i + 1]:g}: {int(c)}</title></rect>"
        for i, c in enumerate(counts)
        if c  # an empty bin draws nothing
    )
    axis = f"<text x='0' y='{BAR_H + 12}' font-size='10'>{edges[0]:g}</text>" + (
        f"<text x='{BAR_W}' y='{BAR_H + 12}' font-size='10' text-anchor='end'>{edges[-1]:g}</text>"
    )
    return (
        f"<figure style='margin:0'><figcaption>{html.escape(title)} (n={len(vals)})</figcaption>"
        f"<svg width='{BAR_W}' height='{BAR_H + 16}' xmlns='http://www.w3.org/2000/svg'>{bars}{axis}</svg></figure>"
    )


def _examples(rows: list[dict], limit: int = 12) -> str:
    """First clips with ASR text. A hypothesis (a recogniser above the WER ceiling) is shown as
    such, with the backend's measured WER, so nobody reads it as what was said."""
    picked = [r for r in rows if r.get("transcript") or r.get("asr_hypothesis")][:limit]
    if not picked:
        return ""

    def text(r: dict) -> str:
        if r.get("transcript"):
            return html.escape(r["transcript"][:120])
        wer = r.get("asr_wer")
        note = (
            f"hypothesis, {r.get('asr_backend')} WER {wer:.2f}"
            if wer is not None
            else "hypothesis, WER unmeasured"
        )
        return f"<i>{html.escape(r['asr_hypothesis'][:120])}</i> <small>({html.escape(note)})</small>"

    body = "".join(
        "<tr>"
        f"<td><code>{html.escape(str(r.get('clip_id'))[:12])}</code></td>"
        f"<td>{html.escape(str(r.get('language') or '?'))}</td>"
        f"<td>{r.get('sync_offset_frames') if r.get('sync_offset_frames') is not None else '-'}</td>"
        f"<td>{html.escape(r.get('stage2_reason') or 'stage 2')}</td>"
        f"<td>{text(r)}</td>"
        "</tr>"
        for r in picked
    )
    return (
        "<h3>Transcripts (first clips)</h3><table><tr><th>clip</th><th>lang</th><th>offset</th>"
        f"<th>stage 2</th><th>transcript</th></tr>{body}</table>"
    )
