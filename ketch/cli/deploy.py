"""``ketch deploy``: make an app's current code its deployed version on a ``ketch server``."""

from __future__ import annotations

import click

from .. import config, modal_alias, synchronizer
from ..output import enable_output
from ..protocol import client as protocol
from .importing import apps_in, import_program
from .requests import call


@click.command()
@click.argument("ref")
@click.option("-m", "as_module", is_flag=True, help="REF is a module name, as with python -m.")
@click.option("--name", help="Deploy under this name instead of the app's own.")
def deploy(ref: str, as_module: bool, name: str | None) -> None:
    """Deploy the app in REF (FILE.py[::APP] or a module) to the ketch server."""
    if config.server_address() is None:
        raise click.ClickException(
            "ketch deploy needs a running ketch server: start one with `ketch server` (on this "
            "machine it is then found by itself), or set KETCH_SERVER=host:port"
        )
    modal_alias.install()
    module_ref, _, app_var = ref.partition("::")
    apps = apps_in(import_program(module_ref, as_module))
    if app_var:
        if app_var not in apps:
            raise click.UsageError(f"no app {app_var!r} in {module_ref}; it has: {', '.join(apps)}")
        app = apps[app_var]
    elif len(apps) == 1:
        app = next(iter(apps.values()))
    else:
        raise click.UsageError(f"{module_ref} defines {len(apps)} apps; name one: FILE::APP")
    if name:
        app.name = name
    if not app.name:
        raise click.UsageError("a deployed app needs a name: ketch.App('name'), or --name")
    with enable_output():
        synchronizer.run(app._start(snapshot=True))
    answer = call(protocol.AppDeploy(app_id=app.app_id or ""))
    click.echo(f"deployed {app.name} as version {answer.version}")
    for tag, function in app.registered_functions.items():
        urls = function._web_urls()  # a class's web methods as Class.method
        if tag not in urls:
            click.echo(f"  {tag}: ketch.Function.from_name({app.name!r}, {tag!r})")
        for name, url in urls.items():
            click.echo(f"  {name}: {url}")
