"""The audio/sync report fragment: funnel per gate, languages, histograms, honest backend wording."""

import re

from humo_data.report.audio_section import render


def rows():
    base = {
        "speech_ratio": 0.9,
        "speech_to_background_db": 25.0,
        "sync_confidence": 0.5,
        "transcript": "hello there",
    }
    return [
        {**base, "stage2": True, "stage2_reason": None, "language": "en", "sync_backend": "landmark-envelope-xcorr",
         "sync_offset_frames": -2, "audio_offset_frames": -2, "clip_id": "a" * 16},
        {**base, "stage2": False, "stage2_reason": "not_enough_speech", "language": None, "speech_ratio": 0.1,
         "sync_backend": None, "sync_offset_frames": None, "clip_id": "b" * 16},
        {**base, "stage2": False, "stage2_reason": "out_of_sync", "language": "zh", "sync_backend": "syncnet",
         "sync_offset_frames": 9, "sync_confidence": 4.0, "sync_verified": False, "clip_id": "c" * 16,
         "sync_gate": "out_of_sync"},
        {**base, "stage2": True, "stage2_reason": None, "language": "zh", "sync_backend": "syncnet",
         "sync_offset_frames": 0, "sync_confidence": 7.5, "sync_verified": True, "clip_id": "d" * 16},
    ]  # fmt: skip


def test_fragment_shows_funnel_languages_histograms_and_meaning():
    page = render(rows())
    assert page.startswith("<section") and page.endswith("</section>")
    assert "not_enough_speech" in page and "out_of_sync" in page and "stage 2" in page
    assert "<td>zh</td><td style='text-align:right'>2</td><td style='text-align:right'>1</td>" in page
    assert "offset corrected" in page  # the offline scorer is named for what stage 2 means with it
    assert "1 clips verified by SyncNet" in page and "<b>1 had their audio moved</b>" in page
    assert "3 clips scored" in page and "1 out of sync" in page and "0 could not be told" in page
    assert page.count("<svg") == 2 + 2 * 2  # speech ratio, s2b, then offset + confidence per backend
    assert "hello there" in page


def test_offline_wording_absent_when_only_syncnet_ran():
    page = render([r for r in rows() if r["sync_backend"] != "landmark-envelope-xcorr"])
    assert "offset corrected" not in page


def test_language_section_names_the_sync_backend_that_ran():
    offline = [r for r in rows() if r["sync_backend"] != "syncnet"]
    for r in offline:
        r.update(language=None, asr_backend="pocketsphinx-en-us")
    section = render(offline)
    languages = section[
        section.index("<h3>Per language") : section.index("</table>", section.index("<h3>Per language"))
    ]
    assert "SyncNet" not in languages and "landmark-envelope-xcorr" in languages
    assert "pocketsphinx-en-us does not identify languages" in languages
    assert "verified by SyncNet" not in section
    mixed = render(rows())
    languages = mixed[mixed.index("<h3>Per language") :]
    assert "SyncNet is known to be less reliable" in languages and "landmark-envelope-xcorr" in languages


def test_empty_histogram_bins_draw_no_bar():
    """Speech ratios 0.9 (three clips) and 0.1 (one): two of ten bins hold clips, two bars drawn."""
    section = render(rows())
    start = section.index("speech ratio (VAD)")
    svg = section[start : section.index("</svg>", start)]
    assert len(re.findall(r"<rect ", svg)) == 2
