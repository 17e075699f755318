"""The live room (namespace /live), split as Owncast splits its chat core: the namespace and
its handlers (namespace.py), the process's in-memory state (state.py), the background jobs
(tickers.py) and what each recipient sees (payloads.py)."""

from server.sockets.live.namespace import LiveNamespace
from server.sockets.live.payloads import message_payload, question_payload

__all__ = ["LiveNamespace", "message_payload", "question_payload"]
