"""`crmflow draw` and `crmflow picture`: diagrams and running instances as SVG pictures.

The drawing itself lives in `engine.drawing` (BPMN only); these commands fetch the XML
(a file, or the deployed source of a version) and an instance's state, and write the file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from crmflow.commands.common import CliError, DbOpt, JsonOpt, emit, open_engine
from engine import Engine
from engine.drawing import instance_marks, render_svg
from engine.errors import DefinitionError

commands = typer.Typer()

SvgOpt = Annotated[Path, typer.Option("--svg", help="Where to write the SVG ('-' for standard output).")]


def read_diagram(path: Path) -> bytes:
    """The file's bytes, or one clear line saying why not."""
    try:
        return path.read_bytes()
    except IsADirectoryError:
        raise CliError(f"{path} is a directory; give a .bpmn file") from None
    except OSError as err:
        raise DefinitionError(f"{path}: cannot read file: {err.strerror}") from None


def write_svg(target: Path, svg: str) -> None:
    if str(target) == "-":
        sys.stdout.write(svg + "\n")
        return
    try:
        target.write_text(svg, encoding="utf-8")
    except OSError as err:
        raise CliError(f"cannot write {target}: {err.strerror}") from None


def instance_picture(eng: Engine, instance: Any) -> str:
    """The SVG of an instance (an `InstanceDetail` with history) on its own version's diagram."""
    xml = eng.diagram_source(instance.process_id, instance.version)
    title = f"{instance.process_id} v{instance.version}, instance {instance.id} ({instance.status})"
    return render_svg(
        xml,
        instance_marks(instance),
        process_id=instance.process_id,
        title=title,
        filename=f"{instance.process_id} v{instance.version}",
    )


def write_instance_picture(eng: Engine, instance: Any, target: Path) -> None:
    """For `crmflow show --svg`: write the picture and say where, on stderr (stdout stays the report)."""
    write_svg(target, instance_picture(eng, instance))
    if str(target) != "-":
        typer.echo(f"wrote {target}", err=True)


def _summary(ctx: typer.Context, as_json: bool, target: Path, info: dict[str, Any]) -> None:
    if str(target) == "-":
        return
    emit(ctx, as_json, {"svg": str(target), **info}, f"wrote {target}")


@commands.command()
def draw(
    ctx: typer.Context,
    svg: SvgOpt,
    diagram: Annotated[
        Path | None, typer.Argument(help="A .bpmn / .bpmn20.xml file (or leave out and give --process).")
    ] = None,
    process: Annotated[
        str | None, typer.Option("--process", help="Process id: which pool/plane of the file, or a deployed process.")
    ] = None,
    version: Annotated[
        int | None, typer.Option("--version", min=1, help="Deployed version (default: latest).")
    ] = None,
    diagram_id: Annotated[
        str | None, typer.Option("--diagram", help="BPMNDiagram id to draw (default: the main process or "
                                                    "collaboration, not a sub-process drill-down).")
    ] = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw a diagram's layout as SVG, from a file (.bpmn or .bpmn20.xml) or from a deployed process version."""
    if diagram is not None:
        if version is not None:
            raise CliError("--version applies to deployed processes; leave out the file to use it")
        xml = read_diagram(diagram)
        picture = render_svg(xml, process_id=process, filename=str(diagram), diagram_id=diagram_id)
        info: dict[str, Any] = {"source": str(diagram), "process_id": process}
    elif process:
        with open_engine(ctx, db, with_handlers=False) as eng:
            xml = eng.diagram_source(process, version)
        label = f"{process} v{version}" if version else f"{process} (latest)"
        picture = render_svg(xml, process_id=process, filename=label, diagram_id=diagram_id)
        info = {"source": "deployed", "process_id": process, "version": version}
    else:
        raise CliError("give a diagram file (crmflow draw FILE.bpmn --svg OUT.svg) or --process PROCESS_ID")
    write_svg(svg, picture)
    _summary(ctx, as_json, svg, info)


@commands.command()
def picture(
    ctx: typer.Context,
    instance_id: Annotated[int, typer.Argument(help="Instance id.")],
    svg: SvgOpt,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw an instance on its diagram: done, active, waiting, failed and cancelled elements marked."""
    with open_engine(ctx, db, with_handlers=False) as eng:
        inst = eng.get_instance(instance_id, with_history=True)
        drawing = instance_picture(eng, inst)
    write_svg(svg, drawing)
    marks = instance_marks(inst)
    _summary(
        ctx,
        as_json,
        svg,
        {"instance_id": inst.id, "process_id": inst.process_id, "version": inst.version, "marks": marks},
    )
