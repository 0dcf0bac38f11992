"""The messages that cross ketch's process boundaries.

- `wire`: framing shared by every boundary (length-prefixed msgpack frames).
- `client`: SDK ↔ control plane requests.
- `container`: container agent ↔ control plane messages.
- `worker`: control plane ↔ worker interface (container specs and events).

Each boundary's messages are built only by its module; other code calls those builders.
"""
