"""Fixtures of the scale-out fault tests (defined in scaleout_harness, a uniquely named module)."""

from scaleout_harness import make_pool, own_cluster, scratch_db, smtp_server  # noqa: F401 - pytest fixtures
