"""Command modules: each file here adds its commands to `crmflow.cli.app` when imported.

Areas (worklists, validation, workers, reports) keep their commands in their own module
so they grow without editing the core CLI; `crmflow.cli` imports every module found here.
"""
