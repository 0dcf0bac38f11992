"""Errors raised by ketch, named as Modal names them.

The tree::

    Error
    ├── InvalidError            bad input from the caller: fix the code or the arguments
    │   ├── ConflictError       the request conflicts with the current state
    │   ├── SerializationError  an argument or result cannot be pickled
    │   └── RequestSizeError    a payload is over ketch's size limit
    ├── DeserializationError    a payload cannot be unpickled on this side
    ├── NotFoundError           no such app, function, call or object
    ├── AlreadyExistsError
    ├── AuthError
    ├── SandboxTerminatedError  a sandbox was ended before its command finished
    ├── SandboxFilesystemError  a file operation in a sandbox failed
    │   └── …NotFoundError, …IsADirectoryError, …NotADirectoryError (also the builtins)
    ├── ExecutionError          something went wrong while running user code
    │   ├── ContainerDiedError  the container running the input exited (crash, kill, OOM)
    │   └── InputCancellation   the input was cancelled
    ├── RemoteError             a remote exception whose type cannot be rebuilt here
    ├── ServiceError            the control plane cannot be reached or broke the protocol
    │   └── ConnectionError
    ├── ClientClosed            the SDK's event loop no longer runs (the interpreter is exiting)
    ├── InternalError
    ├── ResourceExhaustedError
    ├── OutputExpiredError      the result of a call has expired
    └── TimeoutError            (also a builtin TimeoutError)
        ├── FunctionTimeoutError
        └── SandboxTimeoutError  a sandbox reached its timeout

``DeprecationError`` and ``PendingDeprecationError`` are warning categories, as in Modal.

Modal's other exception classes are here too, on the same bases as Modal's, so that Modal
programs that catch them run unchanged; ketch itself never raises them: ``DataLossError``,
``WorkspaceManagementError``, ``SnapshotCreationError``, ``LogsFetchError``, ``VersionError``,
``InternalFailure``, ``FilesystemExecutionError``, ``ImageBuildError`` (a ``RemoteError``),
the timeouts ``ExecTimeoutError``, ``MountUploadTimeoutError``, ``VolumeUploadTimeoutError`` and
``InteractiveTimeoutError``, four more ``SandboxFilesystemError`` kinds, ``ModuleNotMountable``
(a plain ``Exception``) and the warnings ``ServerWarning`` and ``AsyncUsageWarning``.

Errors of lower layers (OS, sqlite, sockets) are mapped into these at the boundary where they
happen, so callers only ever need to catch ``ketch.exception.Error``.
"""

from __future__ import annotations

import builtins


class Error(Exception):
    """Base class for all ketch errors."""


class InvalidError(Error):
    """Raised when the caller does something invalid."""


class ConflictError(InvalidError):
    """Raised when a request conflicts with the current state."""


class SerializationError(InvalidError):
    """Raised when an argument or a return value cannot be pickled."""


class RequestSizeError(InvalidError):
    """Raised when a payload is larger than ketch accepts."""


class DeserializationError(Error):
    """Raised when a payload cannot be unpickled here."""


class NotFoundError(Error):
    """Raised when a requested object does not exist."""


class AlreadyExistsError(Error):
    """Raised when creating an object that already exists."""


class AuthError(Error):
    """Raised when a token is missing or invalid."""


class PermissionDeniedError(Error):
    """Raised when the token does not allow the operation."""


class ExecutionError(Error):
    """Raised when something unexpected happened while running user code."""


class ContainerDiedError(ExecutionError):
    """Raised for an input whose container exited before it finished."""


class InputCancellation(ExecutionError):
    """Raised when an input was cancelled."""


class RemoteError(Error):
    """Raised for a remote exception that cannot be rebuilt with its own type."""


class ServiceError(Error):
    """Raised when the control plane cannot be reached or answered wrongly."""


class ConnectionError(ServiceError):
    """Raised when the connection to the control plane fails."""


class ClientClosed(Error):
    """Raised by a blocking call made after ketch's event loop stopped, at interpreter exit."""


class InternalError(Error):
    """Raised on an internal failure of ketch itself."""


class ResourceExhaustedError(Error):
    """Raised when a quota, a limit or the node's capacity is exhausted."""


class UnimplementedError(Error):
    """Raised when an operation is not supported."""


class OutputExpiredError(Error):
    """Raised when the output of a function call has expired."""


class TimeoutError(Error, builtins.TimeoutError):
    """Base class for ketch timeouts."""


class FunctionTimeoutError(TimeoutError):
    """Raised when an input exceeds its function's ``timeout``."""


class SandboxTerminatedError(Error):
    """The sandbox was terminated (by ``terminate``, its idle_timeout or its app's end)."""


class SandboxFilesystemError(Error):
    """A file operation in a sandbox failed (``sb.filesystem``)."""


class SandboxFilesystemNotFoundError(SandboxFilesystemError, FileNotFoundError):
    """No such file or folder in the sandbox."""


class SandboxFilesystemIsADirectoryError(SandboxFilesystemError, IsADirectoryError):
    """A file was expected in the sandbox and a folder was found."""


class SandboxFilesystemNotADirectoryError(SandboxFilesystemError, NotADirectoryError):
    """A folder was expected in the sandbox (a path's parent, say) and a file was found."""


class SandboxTimeoutError(TimeoutError):
    """Raised when a sandbox exceeds its timeout."""


class DeprecationError(UserWarning):
    """Warning category for deprecated features."""


class PendingDeprecationError(UserWarning):
    """Warning category for features that will be deprecated."""


class UserCodeException(Error):
    """Wraps an exception returned by ``map(..., return_exceptions=True)``."""

    def __init__(self, exc: BaseException) -> None:
        super().__init__(repr(exc))
        self.exc = exc


# Modal's other exception classes (see the module docstring): ketch never raises these.


class DataLossError(Error):
    """Modal's: data was lost or corrupted."""


class WorkspaceManagementError(Error):
    """Modal's: a workspace could not be managed."""


class SnapshotCreationError(Error):
    """Modal's: a snapshot could not be made."""


class LogsFetchError(Error):
    """Modal's: logs could not be fetched."""


class VersionError(Error):
    """Modal's: the client's version is not supported."""


class InternalFailure(Error):
    """Modal's: an internal failure to retry."""


class FilesystemExecutionError(Error):
    """Modal's: a file operation in a sandbox failed to run."""


class ImageBuildError(RemoteError):
    """Modal's: an image failed to build."""


class ExecTimeoutError(TimeoutError):
    """Modal's: a sandbox exec ran past its timeout."""


class MountUploadTimeoutError(TimeoutError):
    """Modal's: uploading a mount timed out."""


class VolumeUploadTimeoutError(TimeoutError):
    """Modal's: uploading to a volume timed out."""


class InteractiveTimeoutError(TimeoutError):
    """Modal's: an interactive session timed out."""


class SandboxFilesystemDirectoryNotEmptyError(SandboxFilesystemError):
    """Modal's: the directory is not empty."""


class SandboxFilesystemPermissionError(SandboxFilesystemError):
    """Modal's: permission denied."""


class SandboxFilesystemFileTooLargeError(SandboxFilesystemError):
    """Modal's: the file is too large."""


class SandboxFilesystemPathAlreadyExistsError(SandboxFilesystemError):
    """Modal's: the path already exists."""


class ModuleNotMountable(Exception):
    """Modal's: a module cannot be mounted."""


class ServerWarning(UserWarning):
    """Modal's: a warning sent by the server."""


class AsyncUsageWarning(UserWarning):
    """Modal's: a blocking call was made from async code."""
