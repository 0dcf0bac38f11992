"""A Modal program that manages ketch on behalf of a user whose token it was given, through
`modal.Client.from_credentials`, as Modal's docs show: app runs, named objects, sandboxes and
deployed functions, all through that client's connection."""

import sys

import modal

app = modal.App("compat-client")


@app.function()
def double(x):
    return 2 * x


if __name__ == "__main__":
    token_id, token_secret = sys.argv[1], sys.argv[2]
    try:
        modal.Client.from_credentials(token_id, "not-the-secret")
    except modal.exception.AuthError:
        print("refused a wrong secret")
    with modal.Client.from_credentials(token_id, token_secret) as client:
        client.hello()
        with app.run(client=client):
            print("run", double.remote(21))
        shelf = modal.Dict.from_name("compat-client-dict", create_if_missing=True, client=client)
        shelf["k"] = "v"
        print("dict", modal.Dict.from_name("compat-client-dict")["k"])
        lookup = modal.App.lookup("compat-client-sandboxes", create_if_missing=True,
                                  client=client)
        sb = modal.Sandbox.create("echo", "hi", app=lookup, client=client)
        sb.wait(raise_on_termination=False)
        print("sandbox", sb.stdout.read().strip(), sb.returncode)
    print("closed", client.is_closed())
    try:
        shelf["k"]
    except modal.exception.ClientClosed:
        print("its handles closed with it")
    print("env client", modal.Client.from_env() is modal.Client.from_env())
