"""Hardened XML loading for diagrams: analysts' files are input, not trusted code.

No entity expansion, no DTD loading, no network, bounded size and nesting depth. A file
that declares a DOCTYPE is refused outright: BPMN and DMN never need one, and every entity
trick (XXE, billion laughs, quadratic blowup) starts with one. The raw bytes are checked
before parsing; a DOCTYPE hidden from that check (UTF-16, say) is still refused after the
parse, which never resolved an entity nor loaded anything.

Refusals raise `XmlRefused` (a `DefinitionError`) carrying the reason, line and column, so
the validator can report them in its own format.
"""

from __future__ import annotations

import re
from pathlib import Path

from lxml import etree

from .errors import DefinitionError

MAX_BYTES = 5 * 1024 * 1024
"""Real diagrams are well under 1 MB; a larger file is refused unread before any validation work."""
MAX_DEPTH = 256
"""libxml2's own nesting limit without XML_PARSE_HUGE (which we never set)."""


class XmlRefused(DefinitionError):
    """A diagram file was refused before or while parsing; `str()` is `file[:line]: reason`."""

    def __init__(self, filename: str, reason: str, line: int | None = None, column: int | None = None,
                 kind: str = "syntax", hint: str | None = None) -> None:
        where = f"{filename}:{line}" if line else filename
        super().__init__(f"{where}: {reason}")
        self.filename = filename
        self.reason = reason
        self.line = line
        self.column = column
        self.kind = kind  # "size" | "doctype" | "depth" | "empty" | "syntax" | "read"
        self.hint = hint


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def _too_big(filename: str, size: int) -> XmlRefused:
    return XmlRefused(
        filename,
        f"file is {size / (1024 * 1024):.0f} MB; diagrams are limited to {MAX_BYTES // (1024 * 1024)} MB "
        "(refused unread)",
        kind="size",
        hint="split the diagram, or remove embedded data",
    )


def _doctype_refusal(filename: str) -> XmlRefused:
    return XmlRefused(
        filename,
        "a DOCTYPE or ENTITY declaration is not allowed in diagrams (refused unread)",
        kind="doctype",
        hint="BPMN and DMN never need a DOCTYPE; remove it (entities can read files or exhaust memory)",
    )


def _syntax_refusal(filename: str, err: etree.XMLSyntaxError) -> XmlRefused:
    line, column = (err.position if err.position else (getattr(err, "lineno", None), None))
    msg = str(err.msg or "").split(", line ")[0]
    if "Excessive depth" in msg:
        return XmlRefused(
            filename,
            f"elements are nested deeper than {MAX_DEPTH} levels (refused)",
            line, column, kind="depth", hint="a diagram is never this deep; the file is broken or hostile",
        )
    if "entity" in msg.lower():  # entity tricks the byte check could not see (UTF-16): same refusal
        return _doctype_refusal(filename)
    if "Document is empty" in msg:
        return XmlRefused(filename, "not an XML document: no element found", line, column, kind="empty",
                          hint="is this a diagram file?")
    return XmlRefused(filename, f"not well-formed XML: {msg}", line, column, kind="syntax")


_COMMENTS_AND_CDATA = re.compile(rb"<!--.*?-->|<!\[CDATA\[.*?\]\]>", re.S | re.I)


def _declares_doctype(content: bytes) -> bool:
    """A `<!DOCTYPE` or `<!ENTITY` outside comments and CDATA: a comment or a documentation text
    that merely mentions one is not a declaration (an unclosed comment is kept, and refused)."""
    lowered = content.lower()
    if b"<!doctype" not in lowered and b"<!entity" not in lowered:
        return False
    bare = _COMMENTS_AND_CDATA.sub(b"", lowered)
    return b"<!doctype" in bare or b"<!entity" in bare


def parse_bytes(content: bytes, filename: str) -> etree._ElementTree:
    """Parse diagram XML or raise a `DefinitionError` (`XmlRefused`) naming the file and the reason."""
    if len(content) > MAX_BYTES:
        raise _too_big(filename, len(content))
    if not content.strip():
        raise XmlRefused(filename, "file is empty", kind="empty", hint="save the diagram again from the modeler")
    if _declares_doctype(content):
        raise _doctype_refusal(filename)
    try:
        root = etree.fromstring(content, safe_parser())
    except etree.XMLSyntaxError as err:
        raise _syntax_refusal(filename, err) from None
    except ValueError as err:  # e.g. a str/encoding mix-up lxml refuses before parsing
        raise XmlRefused(filename, f"not well-formed XML: {err}") from None
    tree = etree.ElementTree(root)
    if tree.docinfo.internalDTD is not None or tree.docinfo.doctype:
        raise _doctype_refusal(filename)  # e.g. UTF-16 content the byte check could not see
    return tree


def parse_file(path: Path) -> tuple[etree._ElementTree, bytes]:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise XmlRefused(str(path), f"cannot read file: {err.strerror}", kind="read") from None
    if size > MAX_BYTES:
        raise _too_big(str(path), size)
    try:
        content = path.read_bytes()
    except OSError as err:
        raise XmlRefused(str(path), f"cannot read file: {err.strerror}", kind="read") from None
    return parse_bytes(content, str(path)), content
