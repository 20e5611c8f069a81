"""The ``template`` captioner: a caption assembled from what the pipeline measured, nothing else.

It is the offline default and a placeholder: it knows how many people the face stage saw, how
large the main face is (shot scale), whether the audio stage heard speech and in which language,
how much the picture moves and how it is lit, and the frame's orientation. A fact that no stage
provided (a null column) is left out rather than guessed. Rerun the captions stage with a VLM
backend to replace these captions with descriptions of appearance, clothing and action.

    A close-up of one person speaking English, in a portrait frame. Little motion; dim,
    low-contrast lighting.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from humo_data.captions.config import TemplateConfig

TEMPLATE_VERSION = "template-v1"

#: ISO 639-1 -> English name, for the languages ASR backends commonly report
LANGUAGES = {
    "ar": "Arabic", "bn": "Bengali", "cs": "Czech", "da": "Danish", "de": "German", "el": "Greek",
    "en": "English", "es": "Spanish", "fa": "Persian", "fi": "Finnish", "fr": "French", "he": "Hebrew",
    "hi": "Hindi", "hu": "Hungarian", "id": "Indonesian", "it": "Italian", "ja": "Japanese",
    "ko": "Korean", "ms": "Malay", "nl": "Dutch", "no": "Norwegian", "pl": "Polish", "pt": "Portuguese",
    "ro": "Romanian", "ru": "Russian", "sv": "Swedish", "sw": "Swahili", "ta": "Tamil", "th": "Thai",
    "tl": "Tagalog", "tr": "Turkish", "uk": "Ukrainian", "ur": "Urdu", "vi": "Vietnamese",
    "yue": "Cantonese", "zh": "Chinese",
}  # fmt: skip
NUMBERS = ["no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]

#: triplet columns the template reads (all optional)
FACT_COLUMNS = (
    "people_count", "face_count", "face_track", "width", "height", "has_audio", "speech_ratio",
    "transcript", "language", "quality_motion", "quality_exposure", "quality_contrast",
)  # fmt: skip


@dataclass
class Facts:
    people: int | None = None
    face_height: float | None = None  # main face box height / frame height
    speech: str | None = None  # "speaking", "silent", "no_audio" or None (unknown / in between)
    language: str | None = None
    motion: float | None = None
    exposure: float | None = None
    contrast: float | None = None
    orientation: str | None = None


def facts_from_row(row: dict[str, Any], cfg: TemplateConfig) -> Facts:
    """The measured facts of one row (None where the producing stage did not run)."""
    people = row.get("people_count")
    if people is None:
        people = row.get("face_count")
    track = row.get("face_track") or {}
    box, height = track.get("mean_box"), row.get("height")
    face_height = (box[3] - box[1]) / height if box and len(box) == 4 and height else None
    transcript = (row.get("transcript") or "").strip()
    ratio = row.get("speech_ratio")
    speech = None
    if row.get("has_audio") is False:
        speech = "no_audio"
    elif (ratio is not None and ratio >= cfg.speaking_min) or (transcript and ratio is None):
        speech = "speaking"
    elif ratio is not None and ratio <= cfg.silent_max and not transcript:
        speech = "silent"
    w, h = row.get("width"), row.get("height")
    orientation = None
    if w and h:
        orientation = "portrait" if h > 1.1 * w else "landscape" if w > 1.1 * h else "square"
    return Facts(
        people=None if people is None else int(people),
        face_height=face_height,
        speech=speech,
        language=row.get("language") if speech == "speaking" else None,
        motion=row.get("quality_motion"),
        exposure=row.get("quality_exposure"),
        contrast=row.get("quality_contrast"),
        orientation=orientation,
    )


def _level(value: float, bounds: tuple[float, ...], names: tuple[str, ...]) -> str:
    for bound, name in zip(bounds, names, strict=False):
        if value < bound:
            return name
    return names[-1]


def render(f: Facts, cfg: TemplateConfig) -> str:
    """One or two plain sentences from the facts that exist."""
    if f.face_height is not None and f.people:
        xcu, cu, ms = cfg.shot_scales
        scale = (
            "An extreme close-up" if f.face_height >= xcu else "A close-up" if f.face_height >= cu
            else "A medium shot" if f.face_height >= ms else "A wide shot"
        )  # fmt: skip
    else:
        scale = "A shot" if f.people is not None else "A video clip"
    if f.people is None:
        subject = ""
    elif f.people == 0:
        subject = " with no visible face"
    else:
        n = NUMBERS[f.people] if f.people < len(NUMBERS) else str(f.people)
        subject = f" of {n} {'person' if f.people == 1 else 'people'}"
    first = scale + subject
    if f.speech == "speaking":
        lang = LANGUAGES.get((f.language or "").lower(), f.language) if f.language else None
        if f.people == 1:
            first += " speaking" + (f" {lang}" if lang else "")
        else:
            first += ", with speech" + (f" in {lang}" if lang else "")
    elif f.speech == "silent":
        first += ", with no speech"
    elif f.speech == "no_audio":
        first += ", without sound"
    if f.orientation:
        first += f", in a {f.orientation} frame"
    parts = [first + "."]

    second = []
    if f.motion is not None:
        second.append(
            _level(
                f.motion,
                cfg.motion_levels,
                ("Almost no motion", "Little motion", "Moderate motion", "Strong motion"),
            )
        )
    light = []
    if f.exposure is not None:
        lo, hi = cfg.exposure_levels
        light.append("dim" if f.exposure < lo else "bright" if f.exposure > hi else "moderately bright")
    if f.contrast is not None:
        lo, hi = cfg.contrast_levels
        if f.contrast < lo:
            light.append("low-contrast")
        elif f.contrast > hi:
            light.append("high-contrast")
    if light:
        second.append(", ".join(light) + " lighting")
    if second:
        text = "; ".join(second)
        parts.append(text[:1].upper() + text[1:] + ".")
    return " ".join(parts)


def template_caption(row: dict[str, Any], cfg: TemplateConfig) -> str:
    return render(facts_from_row(row, cfg), cfg)
