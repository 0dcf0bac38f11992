"""``ketch token``: the tokens that let clients (and web callers) through."""

from __future__ import annotations

import json

import click

from .. import config
from ..protocol import client as protocol
from .requests import call


@click.group("token")
def token_group() -> None:
    """Make, save, show and revoke tokens."""


@token_group.command()
@click.option("--proxy", is_flag=True, help="A proxy token, for web endpoints that ask for one.")
@click.option("--no-save", is_flag=True, help="Print the token without saving it as yours.")
def new(proxy: bool, no_save: bool) -> None:
    """Make a token (a user token is saved to KETCH_HOME/token.json)."""
    answer = call(protocol.token_create("proxy" if proxy else "user"))
    click.echo(f"token id:     {answer['token_id']}\ntoken secret: {answer['token_secret']}")
    if not proxy and not no_save:
        path = config.write_private_json("token.json", answer)
        click.echo(f"saved to {path}")


@token_group.command("set")
@click.option("--token-id", required=True)
@click.option("--token-secret", required=True)
def set_token(token_id: str, token_secret: str) -> None:
    """Save a token made on the server's machine, for talking to it from here."""
    path = config.write_private_json("token.json",
                                     {"token_id": token_id, "token_secret": token_secret})
    click.echo(f"saved to {path}")


@token_group.command()
def info() -> None:
    """The token and server this machine uses (never the secret)."""
    token = config.credentials()
    click.echo(f"token id: {token.get('token_id') or '(none)'}")
    click.echo(f"server:   {config.server_address() or '(embedded: none configured)'}")


@token_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_tokens(as_json: bool) -> None:
    """Tokens known to the server."""
    tokens = call(protocol.token_list())["tokens"]
    if as_json:
        click.echo(json.dumps(tokens, indent=2))
        return
    for token in tokens:
        state = "revoked" if token["revoked"] else "live"
        click.echo(f"{token['id']}  {token['kind']:<6} {state}")


@token_group.command()
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a token: it is refused from now on."""
    call(protocol.token_revoke(token_id))
    click.echo(f"revoked {token_id}")
