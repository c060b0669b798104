"""Messages and signals sent from outside: correlate a message, broadcast a signal."""


from engine.views import (
    InstanceView,
    SignalView,
)
from worklists.permissions import SEND

from .common import Api, MessageRequest, SignalRequest, errors


def add_message_routes(api: Api) -> None:
    router, engine, worklist, guard = api.router, api.engine, api.worklist, api.guard
    User = api.user

    # -- messages -----------------------------------------------------------------------
    @router.post("/messages", response_model=InstanceView, tags=["messages"], responses=errors(403, 404, 409),
                 dependencies=[guard.inside("send", "message:{name}", "the body names the message")])
    def send_message(user: User, body: MessageRequest) -> InstanceView:
        """Deliver a message to the instance waiting for it, or start the process it starts.
        Nobody waiting: 404 (type no-subscriber); several waiting: 409 (give a key)."""
        worklist.authz.require(user, SEND, f"message:{body.name}", doing=f"send message {body.name}")
        return engine.correlate(body.name, key=body.key, data=body.data)

    @router.post("/signals", response_model=SignalView, tags=["messages"], responses=errors(403),
                 dependencies=[guard.inside("send", "message:{name}", "the body names the signal")])
    def send_signal(user: User, body: SignalRequest) -> SignalView:
        """Broadcast a signal to every instance waiting on it and start the processes it starts.
        Sending a signal needs the same permission as sending a message of that name."""
        worklist.authz.require(user, SEND, f"message:{body.name}", doing=f"send signal {body.name}")
        return engine.signal(body.name, data=body.data)
