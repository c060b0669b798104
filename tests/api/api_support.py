"""Types the API tests share (a module of its own: `conftest` names clash across test folders)."""

from collections.abc import Callable

#: `auth("ann")` → the Authorization header carrying ann's API token
Auth = Callable[[str], dict[str, str]]
