"""A status badge drawn as SVG, in shields.io's flat style: a grey label on the left, the status
word on its colour on the right, Verdana 11 px.

The text is not measured (no font here): each character's advance width in Verdana at 11 px
(its advance in font units x 11 / 2048) is looked up and summed, and the SVG pins each text to that
width with ``textLength``, so the badge looks right where Verdana is missing too."""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from crontopus_schemas.badges import BADGE_COLOURS

FONT_SIZE = 11
UNITS_PER_EM = 2048
# Verdana's advance widths, in font units, for printable ASCII (space to tilde).
_ADVANCES = (
    720, 806, 940, 1676, 1302, 2204, 1488, 550, 930, 930, 1302, 1676, 745, 930, 745, 930,  # space to /
    1302, 1302, 1302, 1302, 1302, 1302, 1302, 1302, 1302, 1302,  # 0 to 9
    930, 930, 1676, 1676, 1676, 1117, 2048,  # : to @
    1401, 1405, 1430, 1577, 1294, 1178, 1587, 1540, 862, 934, 1423, 1141, 1726,  # A to M
    1532, 1612, 1235, 1612, 1424, 1400, 1262, 1499, 1401, 2025, 1403, 1260, 1403,  # N to Z
    930, 930, 930, 1676, 1302, 1302,  # [ to `
    1233, 1270, 1061, 1270, 1221, 720, 1270, 1290, 561, 700, 1196, 561, 1984,  # a to m
    1290, 1229, 1270, 1270, 874, 1059, 807, 1290, 1196, 1673, 1194, 1196, 1071,  # n to z
    1302, 930, 1302, 1676,  # { to ~
)  # fmt: skip
WIDTHS = {chr(32 + i): units * FONT_SIZE / UNITS_PER_EM for i, units in enumerate(_ADVANCES)}
OTHER_WIDTH = 2048 * FONT_SIZE / UNITS_PER_EM * 0.62  # a character outside the table: a wide one
PADDING = 5  # on each side of each text
LABEL_COLOUR = "555"


def text_width(text: str) -> float:
    """The width of ``text`` in Verdana 11 px, in pixels."""
    return sum(WIDTHS.get(char, OTHER_WIDTH) for char in text)


def render(label: str, status: str) -> str:
    """The badge ``<label> | <status>``: accessible (``role="img"``, its words in ``aria-label``
    and ``<title>``), self-contained, no script."""
    colour = BADGE_COLOURS[status]
    label_text, status_text = text_width(label), text_width(status)
    left = round(label_text + 2 * PADDING)
    right = round(status_text + 2 * PADDING)
    width = left + right
    words = f"{label}: {status}"
    texts = "".join(
        _text(text, centre, length)
        for text, centre, length in ((label, left / 2, label_text), (status, left + right / 2, status_text))
    )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="20" role="img" '
        f"aria-label={quoteattr(words)}>"
        f"<title>{escape(words)}</title>"
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" stop-opacity=".1"/>'
        '<stop offset="1" stop-opacity=".1"/></linearGradient>'
        f'<clipPath id="r"><rect width="{width}" height="20" rx="3" fill="#fff"/></clipPath>'
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="#{LABEL_COLOUR}"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="#{colour}"/>'
        f'<rect width="{width}" height="20" fill="url(#s)"/></g>'
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'text-rendering="geometricPrecision" font-size="110">'
        f"{texts}</g></svg>"
    )


def _text(text: str, centre: float, length: float) -> str:
    """The text and its shadow, drawn at 10x and scaled down (as shields does: finer positions)."""
    x, span = round(centre * 10), round(length * 10)
    body = escape(text)
    shadow = (
        f'<text aria-hidden="true" x="{x}" y="150" fill="#010101" fill-opacity=".3" transform="scale(.1)" '
        f'textLength="{span}">{body}</text>'
    )
    return shadow + f'<text x="{x}" y="140" transform="scale(.1)" fill="#fff" textLength="{span}">{body}</text>'
