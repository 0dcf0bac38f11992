"""Imports every name of Modal 1.5.4's ``modal.__all__`` (client commit a8fee7250), as a
program written for Modal may, and says which of them ketch leaves as placeholders."""

import modal
from modal import (
    App,
    Client,
    CloudBucketMount,
    Cls,
    Cron,
    Dict,
    Environment,
    Error,
    FilePatternMatcher,
    Function,
    FunctionCall,
    Image,
    NetworkFileSystem,
    Period,
    Probe,
    Proxy,
    Queue,
    Retries,
    Sandbox,
    SandboxSnapshot,
    SchedulerPlacement,
    Secret,
    Server,
    Tunnel,
    Volume,
    Workspace,
    __version__,
    asgi_app,
    batched,
    billing,
    concurrent,
    current_function_call_id,
    current_input_id,
    enable_output,
    enter,
    exit,
    fastapi_endpoint,
    forward,
    interact,
    is_local,
    method,
    parameter,
    types,
    web_endpoint,
    web_server,
    wsgi_app,
)

from ketch.modal_names import _Unimplemented  # ketch's own, to tell placeholders apart

MODAL_ALL = (
    "__version__ App Client Cls Cron Dict Environment Error FilePatternMatcher Function "
    "FunctionCall Image NetworkFileSystem Period Probe Proxy Queue Retries CloudBucketMount "
    "Sandbox SandboxSnapshot SchedulerPlacement Secret Server Tunnel Volume Workspace "
    "asgi_app batched billing concurrent current_function_call_id current_input_id "
    "enable_output enter exit fastapi_endpoint forward is_local interact method parameter "
    "types web_endpoint web_server wsgi_app").split()
imported = (App, Client, CloudBucketMount, Cls, Cron, Dict, Environment, Error,
            FilePatternMatcher, Function, FunctionCall, Image, NetworkFileSystem, Period, Probe,
            Proxy, Queue, Retries, Sandbox, SandboxSnapshot, SchedulerPlacement, Secret, Server,
            Tunnel, Volume, Workspace, __version__, asgi_app, batched, billing, concurrent,
            current_function_call_id, current_input_id, enable_output, enter, exit,
            fastapi_endpoint, forward, interact, is_local, method, parameter, types,
            web_endpoint, web_server, wsgi_app)
app = modal.App("compat-modal-all")


@app.local_entrypoint()
def main():
    assert len(imported) == len(MODAL_ALL) == 46
    assert all(getattr(modal, name) is not None for name in MODAL_ALL)
    print("names", len(MODAL_ALL))
    print("placeholders", [name for name in MODAL_ALL
                           if isinstance(getattr(modal, name), _Unimplemented)])
    print("types", types.LogEntry.__module__, billing.BillingReportItem is types.BillingReportItem)
