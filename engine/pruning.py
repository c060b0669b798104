"""Keep an instance's task tree short, so a step costs the same at round 10 and 10,000.

SpiffWorkflow keeps every task it ever created, chained parent → child. A loop makes the
chain as long as its round count: state grows without bound, each save re-serializes it,
and the library's own iterators stop at depth 1000, so a 3-task loop silently stalls
after ~333 rounds.

We compress finished trunk: walking up from the unfinished tasks, every finished task
more than `keep` levels above the nearest unfinished work — and the finished side
branches hanging off it — is removed, and the oldest surviving task is re-attached to
the root. Ancestry among the surviving tasks is preserved (joins and boundary events only
look a few levels up), the data of surviving tasks is untouched (each task carries its
own copy), and what was removed is already in the history table.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.specs.mixins.unstructured_join import UnstructuredJoin
from SpiffWorkflow.util.task import TaskState

KEEP_LEVELS = 10
PRUNE_AT_DEPTH = 24


def tree_depth_exceeds(workflow: Any, limit: int) -> bool:
    """Cheap check: is any unfinished task deeper than `limit` below the root?"""
    for task in workflow.tasks.values():
        if task.state & TaskState.NOT_FINISHED_MASK and task.state != TaskState.MAYBE:
            depth, node = 0, task
            while node._parent is not None and depth <= limit:
                node = workflow.tasks.get(node._parent)
                if node is None:
                    break
                depth += 1
            if depth > limit:
                return True
    return False


def compress(workflow: Any, keep: int = KEEP_LEVELS) -> int:
    """Drop finished trunk above the newest `keep` levels; return how many tasks went."""
    tasks = workflow.tasks
    root = workflow.task_tree
    unfinished = [t for t in tasks.values() if t.state & TaskState.NOT_FINISHED_MASK]
    if not unfinished:
        return 0
    if any(t.state == TaskState.READY and isinstance(t.task_spec, UnstructuredJoin) for t in unfinished):
        # A join about to fire merges the data of its cancelled sibling tokens, which may
        # hang off old trunk: never prune between a join becoming ready and running.
        return 0
    # Every task within `keep` levels above an unfinished task stays, and so does the
    # whole subtree under the highest such ancestor (side branches of recent history).
    anchors: set[Any] = set()
    for task in unfinished:
        node, level = task, 0
        while node._parent is not None and level < keep:
            node = tasks[node._parent]
            level += 1
        anchors.add(node.id)
    # Anchors that descend from another anchor are covered by it.
    tops = []
    for anchor_id in anchors:
        node = tasks[anchor_id]
        covered = False
        while node._parent is not None:
            node = tasks[node._parent]
            if node.id in anchors:
                covered = True
                break
        if not covered:
            tops.append(tasks[anchor_id])
    if any(t is root for t in tops):
        return 0
    keep_ids: set[Any] = {root.id}
    for top in tops:
        stack = [top]
        while stack:
            node = stack.pop()
            keep_ids.add(node.id)
            stack.extend(tasks[c] for c in node._children)
    removed = [tid for tid in tasks if tid not in keep_ids]
    if not removed:
        return 0
    for tid in removed:
        del tasks[tid]
    root._children = [top.id for top in tops]
    for top in tops:
        top._parent = root.id
    if workflow.last_task is not None and workflow.last_task.id not in tasks:
        workflow.last_task = None
    return len(removed)


def _drop_orphan_subprocesses(top: Any) -> None:
    """Finished subprocesses whose calling task was pruned go too (recursively)."""
    while True:
        live = set(top.tasks)
        for sp in top.subprocesses.values():
            live.update(sp.tasks)
        orphans = [tid for tid in top.subprocesses if tid not in live]
        if not orphans:
            return
        for tid in orphans:
            top.subprocesses.pop(tid, None)


def compress_all(workflow: Any, keep: int = KEEP_LEVELS, at_depth: int = PRUNE_AT_DEPTH) -> int:
    """Compress the top workflow and every live subprocess whose tree has grown deep."""
    removed = 0
    for wf in [workflow, *workflow.subprocesses.values()]:
        if tree_depth_exceeds(wf, at_depth):
            removed += compress(wf, keep)
    if removed:
        _drop_orphan_subprocesses(workflow)
    return removed
