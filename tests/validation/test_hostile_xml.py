"""Hostile and broken files: each refused cleanly with one clear diagnostic, nothing read,
nothing fetched, nothing expanded — and the secret an XXE aims at never appears in any output."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner
from validation_helpers import FIXTURES, check

from crmflow.cli import app
from engine.errors import DefinitionError
from engine.xml import MAX_BYTES, XmlRefused, parse_bytes

SECRET = "TOP-SECRET-7f3a9c"
BPMN_OPEN = '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d" targetNamespace="x">'


def doctype(subset: str, body: str) -> str:
    return f'<?xml version="1.0"?>\n<!DOCTYPE bpmn:definitions [{subset}]>\n{BPMN_OPEN}{body}</bpmn:definitions>'


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(SECRET)
    return path


def only(diagnostics: list, rule: str = "crmflow/xml"):
    assert len(diagnostics) == 1, [d.text() for d in diagnostics]
    assert diagnostics[0].rule == rule and diagnostics[0].is_error
    return diagnostics[0]


def run_cli(*args: str):
    return CliRunner().invoke(app, ["validate", *args])


def test_xxe_file_is_refused_and_secret_never_appears(tmp_path: Path, secret_file: Path) -> None:
    path = tmp_path / "xxe.bpmn"
    path.write_text(doctype(f'<!ENTITY x SYSTEM "file://{secret_file}">',
                            '<bpmn:process id="p" name="&x;" isExecutable="true"/>'))
    found = only(check(path))
    assert "DOCTYPE" in found.message and "refused unread" in found.message
    for fmt in ("text", "json"):
        result = run_cli(str(path), "--format", fmt)
        assert result.exit_code == 1 and SECRET not in result.output and "DOCTYPE" in result.output


def test_xxe_in_utf16_is_refused_after_the_parse_without_resolving(tmp_path: Path, secret_file: Path) -> None:
    for body in ('<bpmn:process id="p" name="&x;"/>', "<bpmn:documentation>&x;</bpmn:documentation>"):
        text = doctype(f'<!ENTITY x SYSTEM "file://{secret_file}">', body)
        path = tmp_path / "xxe16.bpmn"
        path.write_bytes(text.replace('version="1.0"', 'version="1.0" encoding="UTF-16"').encode("utf-16"))
        found = only(check(path))
        assert "DOCTYPE" in found.message
        assert SECRET not in json.dumps(found.to_dict())


def test_doctype_after_a_long_comment_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "late.bpmn"
    path.write_text("<?xml version='1.0'?><!--" + "x" * 10_000 + "-->\n<!DOCTYPE d SYSTEM 'http://127.0.0.1:9/x.dtd'>"
                    + BPMN_OPEN + "</bpmn:definitions>")
    assert "DOCTYPE" in only(check(path)).message


def test_network_xxe_is_refused_and_never_connects(tmp_path: Path) -> None:
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.setblocking(False)
    port = server.getsockname()[1]
    try:
        for name, text in {
            "entity.bpmn": doctype(f'<!ENTITY x SYSTEM "http://127.0.0.1:{port}/secret">',
                                   '<bpmn:process id="p" name="&x;"/>'),
            "dtd.bpmn": f'<?xml version="1.0"?><!DOCTYPE d SYSTEM "http://127.0.0.1:{port}/evil.dtd">'
                        f"{BPMN_OPEN}</bpmn:definitions>",
            "param.bpmn": doctype(f'<!ENTITY % p SYSTEM "http://127.0.0.1:{port}/p.dtd"> %p;', ""),
        }.items():
            path = tmp_path / name
            path.write_text(text)
            assert "DOCTYPE" in only(check(path)).message
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody ever connected
    finally:
        server.close()


def test_billion_laughs_is_refused_fast(tmp_path: Path) -> None:
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + str(i - 1) + ";") * 10 if i > 1 else "&lol;" * 10}">' for i in range(1, 10)
    )
    path = tmp_path / "laughs.bpmn"
    path.write_text(doctype(entities, '<bpmn:process id="p" name="&lol9;"/>'))
    started = time.monotonic()
    assert "DOCTYPE" in only(check(path)).message
    assert time.monotonic() - started < 5


def test_quadratic_blowup_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "quadratic.bpmn"
    path.write_text(doctype(f'<!ENTITY a "{"A" * 50_000}">', '<bpmn:process id="p" name="' + "&a;" * 5_000 + '"/>'))
    assert "DOCTYPE" in only(check(path)).message


def test_50_mb_file_is_refused_unread(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.bpmn"
    with path.open("wb") as f:  # sparse: 50 MB by size, nothing written
        f.truncate(50 * 1024 * 1024)

    def no_read(self: Path) -> bytes:
        raise AssertionError("the file was read")

    monkeypatch.setattr(Path, "read_bytes", no_read)
    found = only(check(path))
    assert "50 MB" in found.message and "5 MB" in found.message and "unread" in found.message


def test_oversized_bytes_are_refused_by_parse_bytes() -> None:
    with pytest.raises(XmlRefused) as err:
        parse_bytes(b" " * (MAX_BYTES + 1), "big.bpmn")
    assert err.value.kind == "size" and isinstance(err.value, DefinitionError)


def test_deep_nesting_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "deep.bpmn"
    path.write_text(BPMN_OPEN + "<bpmn:documentation>" * 10_000 + "</bpmn:documentation>" * 10_000
                    + "</bpmn:definitions>")
    found = only(check(path))
    assert "nested deeper than" in found.message and found.line >= 1


@pytest.mark.parametrize(("content", "rule", "expected"), [
    (b"", "crmflow/xml", "empty"),
    (b"   \n\t  ", "crmflow/xml", "empty"),
    (b"just some text, not a diagram\n", "crmflow/xml", "not well-formed"),
    (bytes(range(256)) * 40, "crmflow/xml", "XML"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + b"\x00" * 64, "crmflow/xml", "XML"),
    (b"\xff\xfe\x00\x00garbage\xc3\x28", "crmflow/xml", "XML"),
    (b"<bpmn:definitions xmlns:bpmn='x'><unclosed></bpmn:definitions>", "crmflow/xml", "not well-formed"),
    (b"<definitions xmlns='http://www.omg.org/spec/BPMN/20100501/MODEL'/>", "crmflow/not-bpmn", "20100501"),
    (b"<definitions/>", "crmflow/not-bpmn", "(none)"),
    (b"<html><body>hello</body></html>", "crmflow/not-bpmn", "<html>"),
    (b"<Package xmlns='http://www.wfmc.org/2008/XPDL2.1'/>", "crmflow/not-bpmn", "Package"),
])
def test_not_a_diagram(tmp_path: Path, content: bytes, rule: str, expected: str) -> None:
    path = tmp_path / "x.bpmn"
    path.write_bytes(content)
    found = only(check(path), rule)
    assert expected in found.message, found.text()
    assert found.file == str(path)


def test_not_well_formed_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.bpmn"
    path.write_text(BPMN_OPEN + "\n<bpmn:process id='p'>\n  <bpmn:task id='t'>\n</bpmn:process></bpmn:definitions>")
    found = only(check(path))
    assert found.line == 4 and found.column > 0


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    found = check([tmp_path / "nope.bpmn", tmp_path / "empty"])
    assert [d.rule for d in found] == ["crmflow/not-bpmn", "crmflow/not-bpmn"]


def test_hostile_files_among_good_ones_do_not_hide_the_rest(tmp_path: Path, secret_file: Path) -> None:
    (tmp_path / "xxe.bpmn").write_text(doctype(f'<!ENTITY x SYSTEM "file://{secret_file}">', ""))
    (tmp_path / "empty.bpmn").write_bytes(b"")
    good = (FIXTURES / "camunda7.bpmn").read_text()
    (tmp_path / "camunda7.bpmn").write_text(good)
    result = run_cli(str(tmp_path), "--format", "json")
    document = json.loads(result.output)
    assert result.exit_code == 1 and document["files"] == 3
    by_file = {Path(d["file"]).name for d in document["diagnostics"]}
    assert by_file == {"xxe.bpmn", "empty.bpmn", "camunda7.bpmn"}
    assert SECRET not in result.output
