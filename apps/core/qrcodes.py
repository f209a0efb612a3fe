"""QR code images for any text: SVG data URIs for pages, PNG bytes for the API.

Generic on purpose (DESIGN.md section 6): booking check-in codes use it today, and
member cards (the check-in issue) can pass their own signed token. The text is
encoded as-is; callers decide what goes in it (a `django.core.signing` token, never
personal data).
"""

from __future__ import annotations

import base64
import io

import qrcode
import qrcode.constants
import qrcode.image.svg

# M (15 % recovery) survives a scratched phone screen or a smudged card and keeps
# a ~100-character token at version 6 (41x41 modules), which any phone camera reads.
ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M
BORDER = 4  # modules of quiet zone, the minimum the QR standard asks for


def _qr(text: str, *, box_size: int) -> qrcode.QRCode:
    code = qrcode.QRCode(error_correction=ERROR_CORRECTION, box_size=box_size, border=BORDER)
    code.add_data(text)
    code.make(fit=True)
    return code


def qr_svg(text: str) -> str:
    """The QR code of `text` as an SVG document (one `<path>`, scalable, no Pillow)."""
    image = _qr(text, box_size=10).make_image(image_factory=qrcode.image.svg.SvgPathImage)
    return str(image.to_string(encoding="unicode"))


def qr_svg_data_uri(text: str) -> str:
    """`data:image/svg+xml;base64,...` for `<img src="...">`; no request, no file."""
    encoded = base64.b64encode(qr_svg(text).encode()).decode("ascii")
    return f"data:image/svg+xml;base64,{encoded}"


def qr_png_bytes(text: str, *, box_size: int = 8) -> bytes:
    """The QR code of `text` as PNG bytes (black on white, `box_size` pixels a module)."""
    image = _qr(text, box_size=box_size).make_image(fill_color="black", back_color="white")
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
