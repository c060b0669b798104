"""Bound how deep call activities nest, so a process that calls itself stops with an incident.

SpiffWorkflow starts a called process while it sets up the call activity (its `_update`),
without any limit: a self-calling diagram nests subprocess after subprocess until the step
budget runs out minutes later. The runner asks `check` before it sets up a task; a call
activity that would start a process deeper than the limit fails there, and its incident
names it.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask

DEFAULT_MAX_CALL_DEPTH = 50


class CallDepthExceeded(Exception):
    """A call activity would start a (sub)process nested deeper than the engine allows."""


def would_start(task: Any) -> bool:
    """Setting up `task` would start a new subprocess (it has none yet)."""
    if not isinstance(task.task_spec, SubWorkflowTask):
        return False
    return task.workflow.top_workflow.subprocesses.get(task.id) is None


def check(task: Any, limit: int) -> None:
    """Raise CallDepthExceeded when setting up `task` would nest deeper than `limit`."""
    if not would_start(task):
        return
    depth = task.workflow.depth + 1
    if depth > limit:
        spec = task.task_spec
        element = spec.bpmn_id or spec.name
        raise CallDepthExceeded(
            f"{element} would start '{spec.spec}' at nesting depth {depth}, more than the engine's "
            f"limit of {limit} (Engine(max_call_depth=...)); does the process call itself without "
            "a way out?"
        )
