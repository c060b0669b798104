"""Command modules: each file here exposes a `commands` Typer that `crmflow.cli` adds to its app.

Areas (worklists, validation, workers, reports) keep their commands in their own module so they
grow without editing the core CLI. What they share (options, opening an engine or a worklist,
output, parsing) is in `common`; no module here imports `crmflow.cli`, so the CLI's imports
run one way: `cli` -> `commands.<area>` -> `commands.common`.
"""
