"""Bytes to correct Unicode for pages, feeds and sitemaps in UTF-8, GBK/GB18030, Big5, Windows-1258.

Order, most trustworthy first (the reasons matter more than the order):

1. A byte-order mark: nothing else can put one there by accident. Without one, UTF-16 and UTF-32
   still show in the zero bytes around the document's first ASCII characters (``<?xml``).
2. The source's declared ``encoding`` (sources.yaml): staff override a site they know mislabels.
3. The HTTP ``Content-Type`` charset, then a ``<meta charset>`` / XML declaration in the body.
   A declared charset is *verified*: if the bytes do not decode strictly, the label is wrong and
   we fall through. One extra rule: bytes that are valid UTF-8 *and* contain multi-byte sequences
   are UTF-8 even when labelled GBK or Windows-1258 (random legacy text is almost never valid
   UTF-8, while "UTF-8 page served with the CMS's old GBK header" is a common Chinese site quirk).
4. Detection (charset-normalizer) on what is left, with Korean and Japanese readings (EUC-KR,
   Shift_JIS, EUC-JP) weighed before the Chinese default: their bytes decode as GB18030 too.
5. UTF-8 with replacement characters, flagged, as the last resort.

GB2312 and GBK labels decode as GB18030 (a strict superset that browsers also use), Big5 as
CP950. Every result is NFC-normalized: Vietnamese pages often carry decomposed diacritics
(Windows-1258 is a combining-mark code page), and NFC keeps matching and dedupe byte-stable.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass

_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
_ALIASES = {
    "gb2312": "gb18030", "gbk": "gb18030", "x-gbk": "gb18030", "gb_2312-80": "gb18030", "cp936": "gb18030",
    "big5": "cp950", "big5-hkscs": "big5hkscs", "x-x-big5": "cp950",
    "utf8": "utf-8", "unicode-1-1-utf-8": "utf-8",
    "iso-8859-1": "cp1252", "latin1": "cp1252", "latin-1": "cp1252", "us-ascii": "cp1252", "ascii": "cp1252",
    "windows-1258": "cp1258", "cp1258": "cp1258",
}
_CT_CHARSET = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_META_CHARSET = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.I)
_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*encoding\s*=\s*[\"']([A-Za-z0-9_.:-]+)[\"']", re.I)
SNIFF_BYTES = 4096


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str  # the Python codec used
    how: str  # bom / wide-pattern / declared / header / meta / utf8-override / detected / fallback


def normalize_label(label: str | None) -> str | None:
    """A charset label as found on the web -> a Python codec name, or None when unknown."""
    if not label:
        return None
    name = label.strip().strip("\"'").lower()
    name = _ALIASES.get(name, name)
    try:
        return codecs.lookup(name).name if name not in _ALIASES.values() else name
    except LookupError:
        return None


def header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    match = _CT_CHARSET.search(content_type)
    return match.group(1) if match else None


def sniff_declared(body: bytes) -> str | None:
    """The charset a document declares about itself (XML declaration or HTML meta tag)."""
    head = body[:SNIFF_BYTES]
    match = _XML_DECL.search(head) or _META_CHARSET.search(head)
    return match.group(1).decode("ascii", "replace") if match else None


def _strict(body: bytes, codec: str) -> str | None:
    try:
        return body.decode(codec)
    except (UnicodeDecodeError, LookupError):
        return None


def _is_multibyte_utf8(body: bytes) -> bool:
    return not body.isascii() and _strict(body, "utf-8") is not None


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# The first characters of a document are ASCII ("<?xml", "<rss", "<!DOCTYPE", whitespace); in
# UTF-16 / UTF-32 without a byte-order mark they show as this pattern of zero bytes (the XML
# specification's own autodetection table, appendix F).
_WIDE_PATTERNS = (
    (re.compile(rb"^(?:[\x01-\x7f]\x00\x00\x00){2}"), "utf-32-le"),
    (re.compile(rb"^(?:\x00\x00\x00[\x01-\x7f]){2}"), "utf-32-be"),
    (re.compile(rb"^(?:[\x01-\x7f]\x00){4}"), "utf-16-le"),
    (re.compile(rb"^(?:\x00[\x01-\x7f]){4}"), "utf-16-be"),
)


def sniff_wide_encoding(body: bytes) -> str | None:
    """UTF-16 or UTF-32 (and which byte order) of a document with no byte-order mark, or None."""
    for pattern, codec in _WIDE_PATTERNS:
        if pattern.match(body[:16]):
            return codec
    return None


def decode_body(body: bytes, content_type: str | None = None, forced: str | None = None) -> Decoded:
    """Decode ``body`` following the order in the module docstring."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            return Decoded(nfc(body.decode(codec, "replace")), codec, "bom")
    wide = sniff_wide_encoding(body)
    if wide is not None:
        # Nothing else can produce this zero-byte pattern; a label (often "UTF-16" with no byte
        # order, or a stale "utf-8") cannot be more right than the bytes are.
        text = _strict(body, wide)
        if text is not None:
            return Decoded(nfc(text), wide, "wide-pattern")
        return Decoded(nfc(body.decode(wide, "replace")), wide, "fallback")

    candidates: list[tuple[str | None, str]] = [
        (normalize_label(forced), "declared"),
        (normalize_label(header_charset(content_type)), "header"),
        (normalize_label(sniff_declared(body)), "meta"),
    ]
    for label, how in candidates:
        if label is None:
            continue
        if how != "declared" and label != "utf-8" and _is_multibyte_utf8(body):
            return Decoded(nfc(body.decode("utf-8")), "utf-8", "utf8-override")
        decoded = _strict(body, label)
        if decoded is not None:
            return Decoded(nfc(decoded), label, how)

    if body.isascii():
        return Decoded(body.decode("ascii"), "ascii", "detected")
    text = _strict(body, "utf-8")
    if text is not None:
        return Decoded(nfc(text), "utf-8", "detected")
    from charset_normalizer import from_bytes

    best = from_bytes(body[:262144]).best()
    if best is not None and best.encoding:
        codec = normalize_label(best.encoding) or best.encoding
        # Korean and Japanese legacy encodings (EUC-KR, Shift_JIS, EUC-JP) mostly decode as
        # GB18030 too, into nonsense Han characters: a ko / ja reading that gives hangul or
        # kana wins over the Chinese override below.
        cjk_other = _korean_or_japanese(body)
        if cjk_other is not None:
            return cjk_other
        # Short Chinese pages are sometimes guessed as a Cyrillic/Latin code page; GB18030
        # decoding strictly with mostly CJK output is the better answer for our sources.
        gb = _strict(body, "gb18030")
        if gb is not None and _cjk_ratio(gb) > 0.3 and codec not in ("gb18030", "cp950", "big5hkscs"):
            return Decoded(nfc(gb), "gb18030", "detected")
        text = _strict(body, codec)
        if text is not None:
            return Decoded(nfc(text), codec, "detected")
    return Decoded(nfc(body.decode("utf-8", "replace")), "utf-8", "fallback")


_KO_JA_CODECS = ("cp949", "euc_jp", "cp932", "iso2022_jp")
# GB2312's common-character rows overlap EUC-KR's hangul rows byte for byte, so a Chinese page
# also "decodes" as Korean; what Chinese never has is Korean's word spacing. A Korean reading is
# believed when most non-ASCII characters are hangul and hangul words are followed by spaces
# (real Korean: about one space per 3-4 syllables; Chinese read as EUC-KR: next to none).
# A Japanese reading needs hiragana (particles の, に, を...): Chinese read as Shift_JIS gives
# half-width katakana, read as EUC-JP gives kanji, neither gives hiragana.
# Korean's most frequent syllables (particles and endings) make up about a third of running text;
# Chinese bytes read as EUC-KR land on them a few percent of the time.
KO_COMMON = frozenset("이다는의에을를하고가서지한기로사으리자도어대나수인아정해일것적시부있게주전들장상만원법")
KO_MIN_HANGUL_SHARE = 0.5
KO_MIN_SPACES_PER_SYLLABLE = 0.05
KO_MIN_COMMON_SHARE = 0.15
JA_MIN_HIRAGANA_SHARE = 0.15


def _korean_or_japanese(body: bytes) -> Decoded | None:
    for codec in _KO_JA_CODECS:
        text = _strict(body, codec)
        if text is None:
            continue
        non_ascii = [c for c in text if ord(c) > 0x7F]
        if not non_ascii:
            continue
        if codec == "cp949":
            hangul = sum(1 for c in non_ascii if "\uac00" <= c <= "\ud7a3")
            spaced = len(re.findall(r"[\uac00-\ud7a3] ", text))
            common = sum(1 for c in non_ascii if c in KO_COMMON)
            if hangul / len(non_ascii) >= KO_MIN_HANGUL_SHARE and spaced >= KO_MIN_SPACES_PER_SYLLABLE * hangul \
                    and common >= KO_MIN_COMMON_SHARE * hangul:
                return Decoded(nfc(text), codec, "detected")
        elif sum(1 for c in non_ascii if "\u3040" <= c <= "\u309f") / len(non_ascii) >= JA_MIN_HIRAGANA_SHARE:
            return Decoded(nfc(text), codec, "detected")
    return None


def _cjk_ratio(text: str) -> float:
    non_ascii = [c for c in text if ord(c) > 0x7F]
    if not non_ascii:
        return 0.0
    return sum(1 for c in non_ascii if "\u4e00" <= c <= "\u9fff") / len(non_ascii)


def to_utf8_xml(body: bytes, content_type: str | None = None, forced: str | None = None) -> tuple[bytes, Decoded]:
    """An XML document re-encoded as UTF-8 with its declaration fixed, for parsers that trust labels."""
    decoded = decode_body(body, content_type, forced)
    text = re.sub(r"^(\s*<\?xml[^>]*?)encoding\s*=\s*[\"'][^\"']*[\"']", r'\1encoding="utf-8"', decoded.text,
                  count=1)
    return text.encode("utf-8"), decoded
