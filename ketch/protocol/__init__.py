"""The messages that cross ketch's process boundaries.

- `message`: the typed messages' base, and their one encoding (msgpack arrays, msgspec).
- `wire`: framing shared by every boundary (length-prefixed msgpack frames).
- `client`: SDK ↔ control plane requests.
- `container`: container agent ↔ control plane messages.
- `handoff`: gateway ↔ web container: client connections handed over, and their load.
- `worker`: control plane ↔ worker interface (container specs and events).

Each boundary's messages are typed in its module; other code builds those types.
"""
