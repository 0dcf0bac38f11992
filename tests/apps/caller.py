"""An app whose function calls another app's deployed function by name, from its container,
as a web app in front of a deployed model does on Modal."""

import ketch

app = ketch.App("caller")


@app.function()
def call_deployed(x: int, environment_name: str | None = None) -> str:
    which = ketch.Function.from_name("deployed", "which", environment_name=environment_name)
    try:
        return str(which.remote(x))
    except ketch.exception.Error as exc:
        return f"{type(exc).__name__}: {exc}"


@app.function()
def read_dict(name: str, environment_name: str | None = None) -> str:
    try:
        return str(ketch.Dict.from_name(name, environment_name=environment_name).get("k"))
    except ketch.exception.Error as exc:
        return f"{type(exc).__name__}: {exc}"


@app.local_entrypoint()
def main(x: int = 5, target_env: str = "", dict_name: str = ""):
    if dict_name:
        print(read_dict.remote(dict_name, target_env or None))
    else:
        print(call_deployed.remote(x, target_env or None))
