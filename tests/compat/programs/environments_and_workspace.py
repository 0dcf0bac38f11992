"""Modal's Environment and Workspace handles, used as a team's admin script would: make an
environment, give a token a role there, scope a proxy token to it, read what the workspace
cost. Run with `ketch python` against a ketch server, with a token for every environment."""

import socket
import sys
from datetime import UTC, datetime, timedelta

import modal

app = modal.App("compat-environments")


@app.function()
def square(x):
    return x * x


def main(viewer_token: str) -> None:
    modal.Environment.objects.create("dev")
    print("environments", sorted(e.name for e in modal.Environment.objects.list()))
    dev = modal.Environment.from_name("dev")
    dev.roles.update(service_users={viewer_token: "viewer"})
    print("role", dev.roles.list()["service_users"][viewer_token])
    print("context", modal.Environment.from_context().hydrate().name)

    workspace = modal.Workspace.from_context().hydrate()
    print("workspace is the host", workspace.name == socket.gethostname())
    proxy = workspace.proxy_tokens.create()
    workspace.proxy_tokens.allow(proxy.token_id, "dev")
    scoped = {t.token_id: t.scoped for t in workspace.proxy_tokens.list()}
    print("proxy scoped", scoped[proxy.token_id])
    in_main = [t.token_id for t in workspace.proxy_tokens.list(environment_name="main")]
    print("proxy opens main", proxy.token_id in in_main)
    workspace.proxy_tokens.delete(proxy.token_id)
    print("proxy deleted", proxy.token_id not in {t.token_id for t in
                                                  workspace.proxy_tokens.list()})

    with app.run():
        print("square", square.remote(7))
    start = datetime.now(UTC) - timedelta(days=1)
    items = modal.Environment.from_name("main").billing.report(start=start, resolution="h")
    print("billed in main", all(item.environment_name == "main" for item in items))
    print("cpu rate", workspace.billing.rates()["cpu"] > 0)
    summary = workspace.billing.summary()
    print("summary", summary.billed_cost == summary.metered_cost and summary.metered_cost >= 0)
    modal.environments.update_environment("dev", new_name="development")
    print("renamed", sorted(e.name for e in modal.Environment.objects.list()))


if __name__ == "__main__":
    main(sys.argv[1])
