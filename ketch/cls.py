"""`Cls`: a class registered with ``@app.cls``, its parameters and its remote methods.

Example::

    @app.cls()
    class Model:
        size: int = ketch.parameter(default=1)

        @ketch.enter()
        def load(self):
            self.weights = [0] * self.size

        @ketch.method()
        def predict(self, x):
            return len(self.weights) + x

    Model(size=3).predict.remote(1)   # 4; each distinct size gets its own containers
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import exception, synchronizer
from .functions import Function
from .partial import HANDLES, Flag, hooks, marked, own_method, run_hooks
from .serialization import serialize

if TYPE_CHECKING:
    from .app import App

_MISSING = object()
PARAM_TYPES = (str, int, float, bool, bytes)


class Parameter:
    """A class attribute set from the arguments of ``Cls(...)``; see `parameter`."""

    def __init__(self, default: Any = _MISSING, init: bool = True) -> None:
        self.default = default
        self.init = init


def parameter(*, default: Any = _MISSING, init: bool = True) -> Any:
    """Declare a class parameter: ``name: str = ketch.parameter(default="x")``."""
    if default is not _MISSING and not isinstance(default, PARAM_TYPES):
        raise exception.InvalidError(
            f"parameter defaults must be str, int, float, bool or bytes, not {type(default).__name__}"
        )
    return Parameter(default, init)


def parameters(user_cls: type) -> dict[str, Parameter]:
    found: dict[str, Parameter] = {}
    for klass in reversed(user_cls.__mro__):
        for name, value in vars(klass).items():
            if isinstance(value, Parameter):
                found[name] = value
    return found


class Cls:
    def __init__(self, app: App | None, user_cls: type, service: Function) -> None:
        self.app = app
        self.raw_user_object = user_cls
        self._service = service
        self._params = parameters(user_cls)
        self._methods = marked(user_cls, Flag.METHOD)
        self.__doc__ = user_cls.__doc__

    @property
    def service_function(self) -> Function:
        return self._service

    @classmethod
    def from_name(cls, app_name: str, name: str, *, environment_name: str | None = None,
                  client: Any = None) -> Cls:
        """A deployed app's class, found when first used; its parameters are checked by the
        containers that construct it.

        Example::

            Model = ketch.Cls.from_name("inference", "Model")
            Model(size=3).predict.remote(1)
        """
        handle = cls.__new__(cls)
        handle.app = None
        handle.raw_user_object = None  # type: ignore[assignment]  # only its containers know it
        handle._service = Function.from_name(app_name, name, environment_name=environment_name,
                                             client=client)
        handle._params = {}
        handle._methods = {}
        return handle

    @property
    def _remote_only(self) -> bool:
        return self.raw_user_object is None

    def __call__(self, **kwargs: Any) -> Obj:
        if self._remote_only:
            return Obj(self, kwargs)
        unknown = set(kwargs) - set(self._params)
        if unknown:
            raise exception.InvalidError(
                f"{self.raw_user_object.__name__} has no parameter {sorted(unknown)[0]!r}; "
                f"declare it with `name: type = ketch.parameter()` (it has: "
                f"{', '.join(self._params) or 'none'})"
            )
        values = {}
        for name, param in self._params.items():
            if name in kwargs:
                value = kwargs[name]
            elif param.default is not _MISSING:
                value = param.default
            else:
                raise exception.InvalidError(
                    f"{self.raw_user_object.__name__}() is missing the parameter {name!r}"
                )
            if not isinstance(value, PARAM_TYPES):
                raise exception.InvalidError(
                    f"parameter {name!r} must be str, int, float, bool or bytes, "
                    f"not {type(value).__name__}"
                )
            values[name] = value
        return Obj(self, values)

    def _experimental_get_flash_urls(self) -> list[str] | None:
        """The URL of a class served with ``modal.experimental.http_server`` (Modal's name)."""
        synchronizer.run(self._service._resolve())
        if not self._service.definition.options.web:
            return None
        return [self._service.get_web_url()]

    def with_options(self, **options: Any) -> Cls:
        """A variant of the class with other resources, retries, timeout or scaling."""
        return Cls(self.app, self.raw_user_object, self._service.with_options(**options))

    def __repr__(self) -> str:
        return f"Cls({self.raw_user_object.__name__!r})"


class Obj:
    """An instance of a `Cls` with its parameters; its methods are `Function` handles."""

    def __init__(self, cls: Cls, params: dict[str, Any]) -> None:
        self._cls = cls
        self._param_values = params
        self._packed = serialize(params, "class parameters") if params else None
        self._local: Any = None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        if self._cls._remote_only:
            service = self._cls._service
            synchronizer.run(service._resolve())
            if name not in service.definition.methods:
                raise AttributeError(f"{service.tag} has no method {name!r}")
            return self._method(name)
        if name not in self._cls._methods and name not in marked(self._cls.raw_user_object, Flag.WEB):
            raise AttributeError(
                f"{self._cls.raw_user_object.__name__} has no method {name!r} marked with "
                "@ketch.method()"
            )
        return self._method(name)

    def _method(self, name: str) -> Function:
        service = self._cls._service
        partial = self._cls._methods.get(name)
        if partial is None and not self._cls._remote_only:
            partial = marked(self._cls.raw_user_object, Flag.WEB).get(name)
        raw = partial.raw_f if partial is not None else None
        method = Function(
            self._cls.app, f"{service.tag}.{name}", raw, service.definition, method=name,
            service=service,
        )
        method._params = self._packed
        method.raw_user_object = lambda *a, **k: own_method(self._local_instance(), name)(*a, **k)
        return method

    def _local_instance(self) -> Any:
        if self._local is None:
            instance = construct(self._cls.raw_user_object, self._param_values)
            self.bind(instance)
            run_hooks(hooks(instance, Flag.ENTER_PRE_SNAPSHOT, Flag.ENTER_POST_SNAPSHOT))
        return self._local

    def bind(self, instance: Any) -> None:
        """Make ``instance`` (with these parameters) the one ``.local`` runs on, and the one
        whose ``self.method`` is this object's handle."""
        instance.__dict__[HANDLES] = self
        self._local = instance


def construct(cls: type, params: dict[str, Any]) -> Any:
    """An instance of a user class with its parameters set, as containers make them."""
    instance: Any = object.__new__(cls)
    defaults = {name: p.default for name, p in parameters(cls).items() if p.default is not _MISSING}
    for name, value in {**defaults, **params}.items():
        setattr(instance, name, value)
    if "__init__" in vars(cls):
        instance.__init__()
    return instance
