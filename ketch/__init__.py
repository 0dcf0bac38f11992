"""ketch: self-hosted serverless compute for Python, with Modal's API.

Example::

    import ketch

    app = ketch.App("hello")

    @app.function()
    def square(x):
        return x * x

    @app.local_entrypoint()
    def main():
        print(square.remote(4))
"""

from . import billing, exception, types, usage
from .app import App, LocalEntrypoint
from .app_server import Server
from .client import Client
from .cloud_bucket_mount import CloudBucketMount
from .cls import Cls, Obj, parameter
from .context import current_function_call_id, current_input_id, interact, is_local
from .dict import Dict
from .environments import Environment
from .exception import Error
from .file_pattern_matcher import FilePatternMatcher
from .function_call import FunctionCall
from .functions import Function
from .image import Image
from .network_file_system import NetworkFileSystem
from .output import enable_output
from .partial import batched, concurrent, enter, exit, method
from .probe import Probe
from .proxy import Proxy
from .queue import Queue
from .retries import Retries
from .sandbox import Sandbox
from .sandbox_snapshot import SandboxSnapshot
from .schedule import Cron, Period
from .scheduler_placement import SchedulerPlacement
from .secret import Secret
from .stream_type import StreamType
from .tunnel import Tunnel, forward
from .volume import Volume
from .web import asgi_app, fastapi_endpoint, web_endpoint, web_server, wsgi_app
from .workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "App",
    "Client",
    "CloudBucketMount",
    "Cls",
    "Cron",
    "Dict",
    "Environment",
    "Error",
    "FilePatternMatcher",
    "Function",
    "FunctionCall",
    "Image",
    "NetworkFileSystem",
    "LocalEntrypoint",
    "Obj",
    "Period",
    "Probe",
    "Proxy",
    "Queue",
    "Retries",
    "Sandbox",
    "SandboxSnapshot",
    "SchedulerPlacement",
    "Secret",
    "Server",
    "StreamType",
    "Tunnel",
    "Volume",
    "Workspace",
    "asgi_app",
    "fastapi_endpoint",
    "forward",
    "web_endpoint",
    "web_server",
    "wsgi_app",
    "batched",
    "concurrent",
    "current_function_call_id",
    "current_input_id",
    "enable_output",
    "enter",
    "exception",
    "exit",
    "interact",
    "is_local",
    "method",
    "parameter",
    "billing",
    "types",
    "usage",
]
