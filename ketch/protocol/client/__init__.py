"""Requests from the SDK (and the CLI) to the control plane.

Every request is a typed message (`ketch.protocol.message`): its type names its kind and the
type of its answer, and `ketch.server.routes` names, for each kind, the handler that answers it
and who may make it. The same messages travel in-process (an embedded control plane) and over
a socket (``ketch server``), where they are msgpack arrays of their fields.

- `admin`: ``auth`` and ``client_hello``, tokens and environments.
- `apps`: apps, functions, deployments, logs, usage, web URLs.
- `logs`: the stored lines of an app, function, server or call.
- `calls`: function calls, their input and output records, blobs.
- `objects`: named objects, dicts, queues, secrets, network file systems.
- `volumes`: volume files, commit and reload.
- `sandboxes`: sandboxes, their processes, files and tunnels; forwarded ports.
- `snapshots`: memory snapshots of gVisor sandboxes, and restoring them.

Example::

    answer = await client.request(protocol.DictLen(dict_id=d))
    print(answer.len)
"""

from ..message import Answer, Empty, Request
from .admin import *  # noqa: F403
from .apps import *  # noqa: F403
from .calls import *  # noqa: F403
from .logs import *  # noqa: F403
from .objects import *  # noqa: F403
from .sandboxes import *  # noqa: F403
from .snapshots import *  # noqa: F403
from .volumes import *  # noqa: F403

__all__ = ["Answer", "Empty", "Request"]
