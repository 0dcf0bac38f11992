import ketch
from ketch import synchronizer
from ketch.client import get_client
from ketch.protocol import client as protocol

app = ketch.App("scoped")


@app.function()
def try_request(kind, object_id=None):
    """Make a control-plane request with this container's own token."""
    async def go():
        client = await get_client()
        request = {"app_list": protocol.AppList(),
                   "usage": protocol.UsageQuery(group_by="app"),
                   "logs": protocol.LogsQuery(object_id=object_id or app.app_id, tail=1)}[kind]
        return await client.request(request)

    try:
        synchronizer.run(go())
    except ketch.exception.Error as exc:
        return type(exc).__name__
    return "allowed"
