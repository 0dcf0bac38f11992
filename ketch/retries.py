"""`Retries`: how often, and how soon, a failed input is tried again."""

from __future__ import annotations

from typing import Any

from . import exception


class Retries:
    """A retry policy with exponential backoff.

    Example::

        @app.function(retries=ketch.Retries(max_retries=3, initial_delay=0.5))
        def flaky(): ...

    An input that raises, times out or whose container dies is retried up to ``max_retries``
    times, waiting ``initial_delay * backoff_coefficient ** (attempt - 1)`` seconds (at most
    ``max_delay``) before each new attempt.
    """

    def __init__(
        self,
        *,
        max_retries: int,
        backoff_coefficient: float = 2.0,
        initial_delay: float = 1.0,
        max_delay: float = 60.0,
    ) -> None:
        if not isinstance(max_retries, int) or not 0 <= max_retries <= 10:
            raise exception.InvalidError(f"max_retries must be an int from 0 to 10, not {max_retries!r}")
        if not 1.0 <= backoff_coefficient <= 10.0:
            raise exception.InvalidError("backoff_coefficient must be between 1.0 and 10.0")
        if not 0.0 <= initial_delay <= 60.0:
            raise exception.InvalidError("initial_delay must be between 0 and 60 seconds")
        if not 0.0 <= max_delay <= 60.0:
            raise exception.InvalidError("max_delay must be between 0 and 60 seconds")
        self.max_retries = max_retries
        self.backoff_coefficient = float(backoff_coefficient)
        self.initial_delay = float(initial_delay)
        self.max_delay = float(max_delay)

    @classmethod
    def from_option(cls, value: int | Retries | None) -> Retries | None:
        if value is None:
            return None
        if isinstance(value, Retries):
            return value
        if isinstance(value, bool) or not isinstance(value, int):
            raise exception.InvalidError(
                f"retries must be an int or ketch.Retries(...), not {value!r}"
            )
        return cls(max_retries=value, backoff_coefficient=1.0, initial_delay=1.0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_retries": self.max_retries,
            "backoff_coefficient": self.backoff_coefficient,
            "initial_delay": self.initial_delay,
            "max_delay": self.max_delay,
        }

    def __repr__(self) -> str:
        return (
            f"Retries(max_retries={self.max_retries}, backoff_coefficient="
            f"{self.backoff_coefficient}, initial_delay={self.initial_delay}, "
            f"max_delay={self.max_delay})"
        )
