"""A tiny name -> object registry whose lookups fail with the valid choices."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from dd_tune.base.errors import ConfigError, did_you_mean

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps names to objects (classes, factories, specs) of one kind.

    >>> MODELS = Registry("model")
    >>> MODELS.get("convnet3")  # doctest: +SKIP
    ConfigError: unknown model 'convnet3' (did you mean 'convnet'?); choose from ['convnet', 'lenet']
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def deco(obj: T) -> T:
            self.add(name, obj)
            return obj

        return deco

    def add(self, name: str, obj: T) -> None:
        if name in self._items:
            raise ValueError(f"{self.kind} {name!r} registered twice")
        self._items[name] = obj

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise ConfigError(
                f"unknown {self.kind} {name!r}{did_you_mean(str(name), self.names())}; choose from {self.names()}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
