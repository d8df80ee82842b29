"""What a setting is: a `Setting` (default, one-line doc, check) is a
descriptor on its `Group`'s class, so a group has exactly its settings; an
`Alias` is an old attribute name that reads and sets one of them through
the `settings` of the object it is on. The settings themselves are in
`settings.py`."""
from __future__ import annotations

import reprlib
from typing import TYPE_CHECKING, Any, Callable, ClassVar, Generic, TypeVar, \
    overload

from .setting_checks import Check

T = TypeVar("T")
MIB = 1024 * 1024


class Computed(Generic[T]):
    """A default computed when a `Settings` is made (`make()`), shown in
    the docs as the Python expression `literal`."""

    def __init__(self, make: Callable[[], T], literal: str) -> None:
        self.make = make
        self.literal = literal


class Setting(Generic[T]):
    """One setting: its default, a one-line doc (reStructuredText, for the
    docs' table) and the check of a new value. A descriptor on its group's
    class: `group.name` reads the value, `group.name = v` checks it first
    (TypeError or ValueError naming `settings.group.name`)."""

    def __init__(self, default: T | Computed[T], doc: str,
                 check: Check) -> None:
        self.default = default
        self.doc = doc
        self.check = check
        self.group = self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.group = getattr(owner, "group", "")
        self.name = name

    @property
    def path(self) -> str:
        """`group.name`, as in `Settings.as_dict`."""
        return f"{self.group}.{self.name}"

    @property
    def label(self) -> str:
        return f"settings.{self.path}"

    def make_default(self) -> T:
        default = self.default
        return default.make() if isinstance(default, Computed) else default

    @property
    def literal(self) -> str:
        """The default as a Python expression that evaluates to it (with
        `os` and `sys` imported), e.g. `10 * 1024 * 1024`."""
        default = self.default
        if isinstance(default, Computed):
            return default.literal
        if isinstance(default, int) and not isinstance(default, bool) and \
                default >= MIB and default % MIB == 0:
            return "1024 * 1024" if default == MIB else \
                f"{default // MIB} * 1024 * 1024"
        return repr(default)

    if TYPE_CHECKING:  # for mypy: reading gives the value
        @overload
        def __get__(self, obj: None, owner: Any = None) -> Setting[T]: ...

        @overload
        def __get__(self, obj: Group, owner: Any = None) -> T: ...

        def __get__(self, obj: Group | None, owner: Any = None) -> Any: ...

    # No __get__ at run time: the value lives in the group's __dict__ under
    # the setting's name, so reading it (on every request) is a plain
    # attribute lookup; setting it goes through __set__ and its check.

    def __set__(self, obj: Group, value: T) -> None:
        # pylint: disable=protected-access
        obj.__dict__[self.name] = self.check(value, self.label)
        obj._assigned.add(self.name)


def _unknown(where: str, name: str, known: list[str]) -> AttributeError:
    import difflib  # loaded on first use
    close = difflib.get_close_matches(name, known, 1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return AttributeError(f"{where} has no setting {name!r}{hint}; "
                          f"its settings: {', '.join(known)}")


class Group:
    """A group of settings (a subclass per group, its `Setting`s as class
    attributes). A name that is not one of them raises AttributeError
    listing the group's settings: a typo is never a new attribute."""

    group: ClassVar[str] = ""
    all: ClassVar[tuple[Setting[Any], ...]] = ()
    __slots__ = ("__dict__", "_assigned")  # the values: in __dict__
    _assigned: set[str]

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls.all = tuple(value for value in vars(cls).values()
                        if isinstance(value, Setting))

    def __init__(self) -> None:
        self.__dict__.update((setting.name, setting.make_default())
                             for setting in self.all)
        object.__setattr__(self, "_assigned", set())

    if not TYPE_CHECKING:  # mypy still reports a misspelt setting
        def __setattr__(self, name: str, value: Any) -> None:
            if not isinstance(getattr(type(self), name, None), Setting):
                raise _unknown(f"settings.{self.group}", name,
                               [s.name for s in self.all])
            object.__setattr__(self, name, value)

        def __getattr__(self, name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            raise _unknown(f"settings.{self.group}", name,
                           [s.name for s in self.all])

    def __repr__(self) -> str:
        return f"<settings.{self.group}: " + ", ".join(
            f"{name}={reprlib.repr(value)}"
            for name, value in self.__dict__.items()) + ">"


class Alias(Generic[T]):
    """An old attribute name of a setting: reads and sets the setting in
    the `settings` (a `settings.Settings`) of the object it is on."""

    def __init__(self, setting: Setting[T]) -> None:
        self.setting = setting
        self.__doc__ = f"Alias of `settings.{setting.path}`: {setting.doc}"

    @overload
    def __get__(self, obj: None, owner: Any = None) -> Alias[T]: ...

    @overload
    def __get__(self, obj: object, owner: Any = None) -> T: ...

    def __get__(self, obj: object, owner: Any = None) -> Any:
        if obj is None:
            return self
        return getattr(self._group(obj), self.setting.name)

    def __set__(self, obj: object, value: T) -> None:
        setattr(self._group(obj), self.setting.name, value)

    def _group(self, obj: object) -> Group:
        group: Group = getattr(getattr(obj, "settings"), self.setting.group)
        return group


