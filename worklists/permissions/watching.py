"""A permission file edited while the server runs is put in force without a restart.

An admin changes `permissions.yml` to give a new hire access; asking them to restart the server
(and so log everyone out of nothing, but interrupt the worker's timers) for that would be odd.
`PolicyWatcher` looks at the file's modification time and size at most every `interval`
seconds — one `stat()` call, cheap next to a request — and re-reads it when they changed. A file
that no longer parses is not put in force: the rules in force stay, and the refusal is logged
and written to the audit log once per content, naming the file's problems (so a typo cannot
lock everyone out, nor go unnoticed).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

from .policy import PermissionFileError, Policy

log = logging.getLogger("crmflow.permissions")

DEFAULT_INTERVAL = 2.0  # seconds between looks at the file


@runtime_checkable
class PolicyAudit(Protocol):
    """Where a put-in-force or refused file is recorded (the audit log)."""

    def policy_loaded(self, source: str, digest: str, actor: str = "crmflow") -> bool: ...
    def write(self, actor: str | None, action: str, target: str | None = None, detail: dict | None = None) -> None: ...


class PolicyWatcher:
    """The policy of one file, re-read when the file changes on disk."""

    def __init__(
        self, policy: Policy, *, interval: float = DEFAULT_INTERVAL, audit: object = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.policy = policy
        self.path = Path(policy.source)
        self.interval = interval
        self.audit = audit if isinstance(audit, PolicyAudit) else None
        self._monotonic = monotonic
        self._next_look = monotonic() + interval
        self._seen = self._stamp()
        self._rejected: str | None = None  # digest of the last content refused (told once)

    @staticmethod
    def watches(policy: Policy) -> bool:
        """Only a policy read from a file can change under us (not the built-in one, nor text)."""
        return Path(policy.source).is_file()

    def current(self) -> Policy:
        """The policy in force now: re-read when the file changed since the last look."""
        now = self._monotonic()
        if now < self._next_look:
            return self.policy
        self._next_look = now + self.interval
        stamp = self._stamp()
        if stamp == self._seen:
            return self.policy
        self._seen = stamp
        self._reload()
        return self.policy

    def _stamp(self) -> tuple[int, int] | None:
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size

    def _reload(self) -> None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as err:
            self._refuse(f"cannot read it: {err.strerror or err}", "unreadable")
            return
        if hashlib.sha256(text.encode()).hexdigest() == self.policy.digest:
            return  # touched, not changed
        try:
            fresh = Policy.parse(text, str(self.path))
        except PermissionFileError as err:
            self._refuse(str(err), hashlib.sha256(text.encode()).hexdigest())
            return
        self.policy = fresh
        self._rejected = None
        log.info("permission file %s changed: new rules in force", self.path.name)
        if self.audit is not None:
            self.audit.policy_loaded(fresh.source, fresh.digest)

    def _refuse(self, problem: str, digest: str) -> None:
        if digest == self._rejected:
            return
        self._rejected = digest
        log.error("permission file %s changed but is not put in force; the previous rules stay: %s",
                  self.path.name, problem)
        if self.audit is not None:
            self.audit.write("crmflow", "permissions.rejected", str(self.path), {"problem": problem})
