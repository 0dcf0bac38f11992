"""``ketch token``: the tokens that let clients (and web callers) through, and the server
certificate fingerprint a client pins (`ketch.protocol.tls`)."""

from __future__ import annotations

import json

import click

from .. import config
from ..protocol import client as protocol
from ..protocol import tls
from .requests import as_dicts, call


@click.group("token")
def token_group() -> None:
    """Make, save, show and revoke tokens."""


@token_group.command()
@click.option("--proxy", is_flag=True, help="A proxy token, for web endpoints that ask for one.")
@click.option("--env", "environments", multiple=True, metavar="NAME",
              help="Grant only this environment (repeat for more); default: every one, with "
                   "the rights to manage tokens and environments.")
@click.option("--read-only", is_flag=True, help="A token that may read but change nothing.")
@click.option("--no-save", is_flag=True, help="Print the token without saving it as yours.")
def new(proxy: bool, environments: tuple[str, ...], read_only: bool, no_save: bool) -> None:
    """Make a token (a user token is saved to KETCH_HOME/token.json)."""
    answer = call(protocol.TokenCreate(kind="proxy" if proxy else "user",
                                       environments=list(environments) or None,
                                       read_only=read_only))
    click.echo(f"token id:     {answer.token_id}\ntoken secret: {answer.token_secret}")
    if not proxy and not no_save:
        path = config.save_token({"token_id": answer.token_id,
                                  "token_secret": answer.token_secret})
        click.echo(f"saved to {path}")


@token_group.command("set")
@click.option("--token-id", required=True)
@click.option("--token-secret", required=True)
@click.option("--fingerprint", default=None,
              help="The server's TLS certificate fingerprint (sha256:…), to pin it as well.")
def set_token(token_id: str, token_secret: str, fingerprint: str | None) -> None:
    """Save a token made on the server's machine, for talking to it from here."""
    fields = {"token_id": token_id, "token_secret": token_secret}
    if fingerprint:
        fields["server_fingerprint"] = tls.parse_fingerprint(fingerprint)
    click.echo(f"saved to {config.save_token(fields)}")


@token_group.command()
@click.argument("fingerprint", required=False)
@click.option("--clear", is_flag=True, help="Forget the pin: speak plain TCP to the server.")
def pin(fingerprint: str | None, clear: bool) -> None:
    """Pin the server's TLS certificate: connect over TLS, and only to a server showing it.

    FINGERPRINT is the sha256:… that `ketch server` prints at start, and `ketch token info`
    shows on the server's machine."""
    if clear == bool(fingerprint):
        raise click.UsageError("give a FINGERPRINT (sha256:…) to pin, or --clear")
    value = "" if clear else tls.parse_fingerprint(fingerprint or "")
    path = config.save_token({"server_fingerprint": value})
    click.echo(f"pin cleared in {path}" if clear else f"pinned {value} in {path}")


@token_group.command()
def info() -> None:
    """The token and server this machine uses (never the secret), and the TLS fingerprint
    pinned for it or, on the server's machine, the one it serves."""
    token = config.credentials()
    address = config.server_address()
    click.echo(f"token id: {token.get('token_id') or '(none)'}")
    click.echo(f"server:   {address or '(embedded: none configured)'}")
    pinned = config.server_pin(address) if address and not address.startswith("unix:") else None
    click.echo(f"tls:      {f'{pinned[0]} (pinned in {pinned[1]})' if pinned else 'none: plain TCP'}")


@token_group.command("list")
@click.option("--json", "as_json", is_flag=True)
def list_tokens(as_json: bool) -> None:
    """Tokens known to the server."""
    tokens = call(protocol.TokenList()).tokens
    if as_json:
        click.echo(json.dumps(as_dicts(tokens), indent=2))
        return
    for token in tokens:
        state = "revoked" if token.revoked else "live"
        rights = "every environment" if token.environments is None \
            else ", ".join(f"{name} ({role})" for name, role in token.environments.items())
        click.echo(f"{token.id}  {token.kind:<6} {state:<8} {rights}"
                   f"{' (read-only)' if token.read_only else ''}")


@token_group.command()
@click.argument("token_id")
@click.argument("environment")
@click.argument("role", type=click.Choice(["contributor", "viewer", "no-access"]))
def grant(token_id: str, environment: str, role: str) -> None:
    """Give a token ROLE in ENVIRONMENT: contributor, viewer (reads only) or no-access. A proxy
    token allowed an environment (contributor) is scoped to the environments allowed."""
    call(protocol.TokenGrant(token_id=token_id, environment=environment, role=role))  # type: ignore[arg-type]
    click.echo(f"{token_id} is now {role} in {environment}")


@token_group.command()
@click.argument("token_id")
def revoke(token_id: str) -> None:
    """Revoke a token: it is refused from now on."""
    call(protocol.TokenRevoke(token_id=token_id))
    click.echo(f"revoked {token_id}")
