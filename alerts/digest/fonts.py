"""Fonts that render Chinese and Vietnamese, found offline.

Charts and PDF reports need one font with CJK ideographs and Vietnamese letters with stacked
diacritics (ệ, ỗ, ữ). Debian's default image has only DejaVu (no CJK), so the font comes from a
PyPI package: ``pylopdf-fonts-zh-cn`` ships Noto Sans SC (SIL OFL 1.1), which covers both scripts
(checked with fontTools: every character of the zh and vi UI strings is in its cmap). The setting
``alerts.digest_font_file`` points to another TTF/OTF instead. Nothing is ever downloaded.
"""

from __future__ import annotations

import functools
from pathlib import Path

# Searched when the package is missing: common Debian/Ubuntu CJK font paths (fonts-noto-cjk, wqy).
_SYSTEM_CANDIDATES = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)


class FontNotFound(Exception):
    """No font covering Chinese and Vietnamese could be found."""


@functools.cache
def cjk_font_path(configured: str = "") -> Path:
    """The font file to use for charts and PDF; ``configured`` is ``alerts.digest_font_file``."""
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise FontNotFound(f"alerts.digest_font_file: {path} does not exist")
        return path
    try:
        import pylopdf_fonts_zh_cn

        path = Path(pylopdf_fonts_zh_cn.sans_path())
        if path.is_file():
            return path
    except ImportError:
        pass
    for candidate in _SYSTEM_CANDIDATES:
        if Path(candidate).is_file():
            return Path(candidate)
    raise FontNotFound(
        "no font covering Chinese and Vietnamese: install the pylopdf-fonts-zh-cn package "
        "or set alerts.digest_font_file to a TTF/OTF file"
    )
