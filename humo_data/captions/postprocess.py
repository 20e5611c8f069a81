"""Cleaning a VLM's answer into a caption, or saying why there is none.

``clean_caption(text, min_words, max_words)`` returns ``(caption, None)`` or ``(None, reason)``:

- boilerplate goes: chat preambles ("Sure! Here is a description:"), "The video shows" /
  "In these frames," openings, markdown (headings, bullets, bold), trailing offers of more help;
- an empty answer is ``vlm_empty``; a refusal ("I'm sorry, I can't ...") is ``vlm_refused``;
- an answer stuck in a loop (under half its word 4-grams distinct) is ``repetitive``;
- a caption longer than ``max_words`` is cut at its last sentence end within the bound (or at the
  bound, with a full stop); one shorter than ``min_words`` is ``too_short``.
Reasons start with the machine name, then the detail: ``too_short 3 words < 8``.
"""

from __future__ import annotations

import re

_PREAMBLE = re.compile(
    r"^\s*(?:(?:sure|certainly|of course|okay|ok|absolutely)[!,.]*\s*)?"
    r"(?:here(?:'s| is) (?:a |the )?(?:detailed |dense )?(?:description|caption)[^:\n]*:\s*)",
    re.IGNORECASE,
)
_LABEL = re.compile(r"^\s*(?:description|caption|answer)\s*:\s*", re.IGNORECASE)
_ACK = re.compile(r"^\s*(?:sure|certainly|of course|okay|absolutely)[!,.]+\s*", re.IGNORECASE)
_OPENING = re.compile(
    r"^\s*(?:in (?:this|the) (?:video|clip|footage|sequence|series of (?:frames|images)|frames?|images?)"
    r"(?: clip)?,?\s*"
    r"|(?:the|this) (?:video|clip|footage|sequence|series of (?:frames|images)|frames?|images?)"
    r"(?: clip)? (?:shows?|depicts?|features?|captures?|presents?|displays?)(?: that)?\s+)",
    re.IGNORECASE,
)
_TRAILER = re.compile(
    r"\s*(?:let me know[^.]*|i hope this (?:helps|description)[^.]*|if you (?:need|want|would like)[^.]*)[.!]?\s*$",
    re.IGNORECASE,
)
_REFUSAL = re.compile(
    r"^\s*(?:i'?m sorry|i am sorry|sorry,|i cannot|i can'?t|i can not|i'?m (?:not able|unable)|i am (?:not able|unable)"
    r"|as an ai|unfortunately,? i)"
    r"|\b(?:i (?:can(?:no|')t|am unable to|'m unable to) (?:help|assist|describe|provide|identify|comply))",
    re.IGNORECASE,
)
_MARKDOWN = re.compile(r"(^\s*#+\s*|^\s*(?:[-*•]|\d+[.)])\s+|\*\*|__|`)", re.MULTILINE)
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def strip_boilerplate(text: str) -> str:
    """The answer without chat preambles, openings about 'the video', markdown and sign-offs."""
    t = _MARKDOWN.sub("", text or "")
    t = " ".join(t.split())
    t = _PREAMBLE.sub("", t)
    t = _ACK.sub("", t)
    t = _LABEL.sub("", t)
    t = _OPENING.sub("", t)
    prev = None
    while prev != t:
        prev, t = t, _TRAILER.sub("", t).strip()
    t = t.strip(" \"'")
    return t[:1].upper() + t[1:] if t else t


def truncate_words(text: str, max_words: int) -> str:
    """At most ``max_words`` words, cut at the last sentence end inside the bound if there is one."""
    words = text.split()
    if len(words) <= max_words:
        return text
    head = " ".join(words[:max_words])
    ends = [m.end() for m in _SENTENCE_END.finditer(head)]
    if ends and len(head[: ends[-1]].split()) >= max(1, max_words // 2):
        return head[: ends[-1]]
    return head.rstrip(",;:-") + "."


def distinct_ngram_ratio(text: str, n: int = 4) -> float:
    """Share of distinct word n-grams: ~1 for prose, low for a model stuck in a loop."""
    words = text.lower().split()
    grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def is_refusal(text: str) -> bool:
    return bool(_REFUSAL.search((text or "")[:200]))


def clean_caption(text: str | None, min_words: int, max_words: int) -> tuple[str | None, str | None]:
    """(caption, None) when usable, else (None, reason)."""
    raw = (text or "").strip()
    if not raw:
        return None, "vlm_empty the model returned no text"
    if is_refusal(raw):
        return None, f"vlm_refused {' '.join(raw.split())[:120]!r}"
    cleaned = strip_boilerplate(raw)
    if len(cleaned.split()) >= 20 and distinct_ngram_ratio(cleaned) < 0.5:
        return None, f"repetitive {distinct_ngram_ratio(cleaned):.2f} distinct 4-grams < 0.50"
    caption = truncate_words(cleaned, max_words)
    n = len(caption.split())
    if n == 0:
        return None, "vlm_empty only boilerplate in the answer"
    if n < min_words:
        return None, f"too_short {n} words < {min_words}"
    return caption, None
