"""Hardened XML loading for diagrams: analysts' files are input, not trusted code.

No entity expansion, no DTD loading, no network, bounded size. A file that declares a
DOCTYPE is refused outright: BPMN and DMN never need one, and every entity trick
(XXE, billion laughs, quadratic blowup) starts with one.
"""

from __future__ import annotations

from pathlib import Path

from lxml import etree

from .errors import DefinitionError

MAX_BYTES = 20 * 1024 * 1024


def safe_parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_bytes(content: bytes, filename: str) -> etree._ElementTree:
    """Parse diagram XML or raise a `DefinitionError` naming the file and the reason."""
    if len(content) > MAX_BYTES:
        raise DefinitionError(
            f"{filename}: file is {len(content) // (1024 * 1024)} MB; diagrams are limited to "
            f"{MAX_BYTES // (1024 * 1024)} MB"
        )
    head = content[:4096].lower()
    if b"<!doctype" in head or b"<!entity" in content.lower():
        raise DefinitionError(
            f"{filename}: a DOCTYPE or ENTITY declaration is not allowed in diagrams (refused unread)"
        )
    try:
        root = etree.fromstring(content, safe_parser())
    except etree.XMLSyntaxError as err:
        line = getattr(err, "lineno", None) or (err.position[0] if err.position else "?")
        raise DefinitionError(f"{filename}:{line}: not well-formed XML: {err.msg}") from None
    return etree.ElementTree(root)


def parse_file(path: Path) -> tuple[etree._ElementTree, bytes]:
    try:
        size = path.stat().st_size
    except OSError as err:
        raise DefinitionError(f"{path}: cannot read file: {err.strerror}") from None
    if size > MAX_BYTES:
        raise DefinitionError(f"{path}: file is {size // (1024 * 1024)} MB; diagrams are limited to 20 MB")
    content = path.read_bytes()
    return parse_bytes(content, str(path)), content
