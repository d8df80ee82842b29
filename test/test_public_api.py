"""Snapshot of the public API, so that no restructuring drops or changes a
name silently: every name in `quick_server.__all__` (kind, signature,
bases, the public members its quick_server classes define), the public
attributes of a fresh `QuickServer`, the deep imports and `python -m`
entry points README.rst and docs/ document. The snapshot is
test/public_api.txt; a failure prints a diff (- snapshot, + now).

A deliberate change is one command plus a reviewed diff:

    QS_UPDATE_API_SNAPSHOT=1 python -m pytest -q test/test_public_api.py
    git diff test/public_api.txt

Signatures render the same on Python 3.10-3.13: names, kinds and defaults
of the parameters, and the annotations as written in the source (the
package uses `from __future__ import annotations`), without `typing.` and
without quick_server's internal module paths, so moving a class to another
module changes nothing here. Without pytest:
`PYTHONPATH=. python test/test_public_api.py` checks the same."""
from __future__ import annotations

import dataclasses
import difflib
import glob
import importlib
import importlib.util
import inspect
import os
import re
import sys
import types
import typing
from typing import Any

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SNAPSHOT = os.path.join(ROOT, "test", "public_api.txt")
UPDATE_ENV = "QS_UPDATE_API_SNAPSHOT"
PAGES = [os.path.join(ROOT, "README.rst")] + sorted(
    glob.glob(os.path.join(ROOT, "docs", "*.rst")))

# Deep imports the docs name in prose (the pages are scanned for more).
DEEP_IMPORTS = [
    "quick_server.devcert.DevCertError",  # docs/https.rst
    "quick_server.log.TIME_FORMAT",  # docs/running.rst
    "quick_server.log.msg",  # the logger TIME_FORMAT configures
    "quick_server.service.run_service",  # README.rst, docs/services.rst
    "quick_server.tokens.TokenHandler",  # docs/tokens.rst
]
ENTRY_POINTS = ["quick_server", "quick_server.service"]  # python -m ...

FROM_IMPORT = re.compile(r"from (quick_server(?:\.\w+)+) import ([\w, ()]+)")
DOTTED = re.compile(r"\b(quick_server(?:\.[a-z_][a-z0-9_]*)+\.[A-Za-z_]\w*)")
RUN_MODULE = re.compile(r"python3? -m (quick_server(?:\.\w+)*)")
# `quick_server.http.routing.ReqArgs` -> `ReqArgs`: module paths are not API
INTERNAL_PATH = re.compile(r"\bquick_server(?:\.[a-z_][a-z0-9_]*)*\.(?=\w)")
ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
HEADER = ("# The public API of quick_server, checked by "
          "test/test_public_api.py.\n# Rewrite it after a deliberate "
          f"change: {UPDATE_ENV}=1 python -m pytest -q "
          "test/test_public_api.py\n")


def clean(text: str) -> str:
    """One rendering on every Python: no `typing.`, no internal module
    paths, no memory addresses, single spaces."""
    text = text.replace("typing.", "").replace("collections.abc.", "")
    text = ADDRESS.sub("", INTERNAL_PATH.sub("", text))
    return " ".join(text.split())


def annotation(ann: Any) -> str:
    if isinstance(ann, str):
        return clean(ann)
    if isinstance(ann, typing.ForwardRef):
        return clean(ann.__forward_arg__)
    return clean(inspect.formatannotation(ann))


def builtin_origin(obj: Any) -> str:
    """The builtin that does the work of `obj` (a wrapped builtin method,
    a class constructed by a builtin's `__init__`), or ''."""
    if isinstance(obj, type):
        owner = next(klass for klass in obj.__mro__
                     if "__init__" in vars(klass) or "__new__" in vars(klass))
        return owner.__qualname__ if owner.__module__ == "builtins" else ""
    inner = inspect.unwrap(obj)
    if inspect.isbuiltin(inner) or inspect.ismethoddescriptor(inner) or \
            isinstance(inner, types.WrapperDescriptorType):
        return inner.__qualname__
    return ""


def signature(obj: Any) -> str:
    """`(a: int, /, b: str = 'x', *args, c, **kw) -> T`, built by hand so
    that string annotations show as written (no quotes)."""
    builtin = builtin_origin(obj)
    if builtin:  # its text signature differs between Python versions
        return f"(as {builtin})"
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return "(signature unavailable)"
    parts: list[str] = []
    kind = inspect.Parameter
    star_done = slash_due = False
    for index, param in enumerate(sig.parameters.values()):
        if slash_due and param.kind is not kind.POSITIONAL_ONLY:
            parts.append("/")
            slash_due = False
        if param.kind is kind.POSITIONAL_ONLY:
            slash_due = True
        if param.kind is kind.KEYWORD_ONLY and not star_done:
            parts.append("*")
        star_done = star_done or param.kind in (kind.VAR_POSITIONAL,
                                                kind.KEYWORD_ONLY)
        stars: dict[Any, str] = {kind.VAR_POSITIONAL: "*",
                                 kind.VAR_KEYWORD: "**"}
        text = stars.get(param.kind, "") + param.name
        if param.annotation is not param.empty and not (
                index == 0 and param.name in ("self", "cls")):
            text += ": " + annotation(param.annotation)
        if param.default is not param.empty:
            text += " = " + clean(repr(param.default))
        parts.append(text)
    if slash_due:
        parts.append("/")
    rendered = "(" + ", ".join(parts) + ")"
    if sig.return_annotation is not sig.empty:
        rendered += " -> " + annotation(sig.return_annotation)
    return rendered


def ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] == "quick_server"


def base_names(cls: type, publics: dict[int, str]) -> list[str]:
    """The classes an instance is also an instance of, by the names users
    know: public quick_server names, builtins, stdlib `module.Class`."""
    names = []
    for base in cls.__mro__[1:]:
        if base is object or base.__module__ == "typing":
            continue
        if ours(base):
            if id(base) in publics:
                names.append(publics[id(base)])
        elif base.__module__ == "builtins":
            names.append(base.__qualname__)
        else:
            names.append(f"{base.__module__}.{base.__qualname__}")
    return names


def member(value: Any) -> str:
    """How a class attribute defined by a quick_server class looks to a
    user: a method with its signature, or an attribute."""
    if isinstance(value, staticmethod):
        return "staticmethod " + signature(value.__func__)
    if isinstance(value, classmethod):
        return "classmethod " + signature(value.__func__)
    if inspect.isfunction(value):
        return "method " + signature(value)
    if isinstance(value, property):
        return "attribute" if value.fset is not None else \
            "attribute (read-only)"
    if isinstance(value, type):
        return "class " + signature(value)
    return "attribute"


def members(cls: type) -> dict[str, str]:
    """Public members defined by the quick_server classes of `cls`'s MRO
    (not those it inherits from the standard library)."""
    found: dict[str, str] = {}
    for klass in cls.__mro__:
        if not ours(klass):
            continue
        for name, value in vars(klass).items():
            if not name.startswith("_") and name not in found:
                found[name] = member(value)
    if dataclasses.is_dataclass(cls):
        for field in dataclasses.fields(cls):
            if not field.name.startswith("_"):
                found.setdefault(field.name, "attribute")
    return found


def kind_of(obj: Any) -> str:
    if typing.get_origin(obj) is not None:  # before `type`: dict[str, Any]
        return "alias"  # is a type on Python 3.10
    if isinstance(obj, type):
        if typing.is_typeddict(obj):
            return "typeddict"
        if getattr(obj, "_is_protocol", False):
            return "protocol"
        if issubclass(obj, BaseException):
            return "exception"
        if dataclasses.is_dataclass(obj):
            return "dataclass"
        return "class"
    if inspect.ismodule(obj):
        return "module"
    if inspect.isroutine(obj):
        return "function"
    return "data"


def describe(name: str, obj: Any, publics: dict[int, str],
             extra: dict[str, str] | None = None) -> list[str]:
    """The snapshot lines of one public object (`extra`: more members)."""
    kind = kind_of(obj)
    if kind in ("function", "class", "exception", "dataclass"):
        head = f"{name}: {kind} {signature(obj)}"
    elif kind == "alias":
        head = f"{name}: alias {clean(repr(obj))}"
    elif kind == "data":
        head = f"{name}: data {type(obj).__name__}"
    else:
        head = f"{name}: {kind}"
    lines = [head]
    if not isinstance(obj, type):
        return lines
    bases = base_names(obj, publics)
    if bases:
        lines.append(f"{name}: bases {', '.join(bases)}")
    if kind == "typeddict":
        required: frozenset[str] = getattr(obj, "__required_keys__")
        for key, ann in obj.__annotations__.items():
            need = "required" if key in required else "optional"
            lines.append(f"{name}[{key!r}]: {annotation(ann)} ({need})")
        return lines
    for attr, text in sorted({**(extra or {}), **members(obj)}.items()):
        lines.append(f"{name}.{attr}: {text}")
    return lines


def server_attributes(stored: str) -> dict[str, str]:
    """The public attributes a fresh QuickServer has (its settings, set in
    `__init__`), beside its class members. A name the snapshot holds that
    the server no longer lists but still answers (an alias through
    `__getattr__`) counts as present."""
    from quick_server import QuickServer  # pylint: disable=C0415
    try:
        server = QuickServer(("127.0.0.1", 0), bind_and_activate=False)
    except TypeError:  # a constructor without bind_and_activate
        server = QuickServer(("127.0.0.1", 0))
    try:
        known = set(members(QuickServer))
        names = {name for name in dir(server)
                 if not name.startswith("_") and name not in known
                 and not hasattr(type(server), name)}
        prefix = "quick_server.QuickServer."
        for line in stored.splitlines():
            if line.startswith(prefix) and line.endswith(": attribute"):
                name = line[len(prefix):-len(": attribute")]
                if name not in known and name not in names \
                        and hasattr(server, name):
                    names.add(name)
        return dict.fromkeys(names, "attribute")
    finally:
        server.server_close()


def documented() -> tuple[list[str], list[str]]:
    """Deep imports and `python -m` modules: those listed above and those
    README.rst and docs/*.rst write (`from quick_server.x import y`,
    `quick_server.x.y`, `python -m quick_server.x`)."""
    deep, runnable = set(DEEP_IMPORTS), set(ENTRY_POINTS)
    for page in PAGES:
        with open(page, encoding="utf-8") as handle:
            text = handle.read()
        for module, names in FROM_IMPORT.findall(text):
            deep.update(f"{module}.{name.split()[0]}"
                        for name in names.strip("()").split(",")
                        if name.strip())
        deep.update(DOTTED.findall(text))
        runnable.update(RUN_MODULE.findall(text))
    return sorted(deep), sorted(runnable)


def resolve(path: str) -> Any:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def runs(module: str) -> bool:
    """Whether `python -m module` finds something to run."""
    spec = importlib.util.find_spec(module)
    if spec is not None and spec.submodule_search_locations is not None:
        spec = importlib.util.find_spec(module + ".__main__")
    return spec is not None


def render(stored: str = "") -> str:
    """The snapshot text of the API as it is now."""
    import quick_server  # pylint: disable=C0415
    lines = [HEADER.rstrip("\n")]
    publics: dict[int, str] = {}
    objects: dict[str, Any] = {}
    for name in sorted(quick_server.__all__, key=lambda n: (n.lower(), n)):
        try:
            objects[name] = getattr(quick_server, name)
        except AttributeError as err:
            lines.append(f"quick_server.{name}: MISSING ({err})")
            continue
        if isinstance(objects[name], type):
            publics.setdefault(id(objects[name]), name)
    for name, obj in objects.items():
        extra = server_attributes(stored) if name == "QuickServer" else None
        lines.extend(describe(f"quick_server.{name}", obj, publics, extra))
    deep, runnable = documented()
    for path in deep:
        try:
            obj = resolve(path)
        except (ImportError, AttributeError) as err:
            lines.append(f"{path}: MISSING ({type(err).__name__})")
            continue
        same = [name for name, top in objects.items() if top is obj
                and not isinstance(obj, (str, int, float, type(None)))]
        if same:
            lines.append(f"{path}: same as quick_server.{same[0]}")
        else:
            lines.extend(describe(path, obj, publics))
    for module in runnable:
        state = "runs" if runs(module) else "MISSING"
        lines.append(f"python -m {module}: {state}")
    return "\n".join(lines) + "\n"


def read_snapshot() -> str:
    try:
        with open(SNAPSHOT, encoding="utf-8") as handle:
            return handle.read()
    except FileNotFoundError:
        return ""


def test_public_api_matches_snapshot() -> None:
    """Every public name, signature and member is as the snapshot says;
    `QS_UPDATE_API_SNAPSHOT=1` rewrites the snapshot instead."""
    stored = read_snapshot()
    now = render(stored)
    if os.environ.get(UPDATE_ENV) == "1":
        if now != stored:
            with open(SNAPSHOT, "w", encoding="utf-8") as handle:
                handle.write(now)
        return
    if now == stored:
        return
    diff = difflib.unified_diff(
        stored.splitlines(), now.splitlines(),
        "test/public_api.txt (snapshot)", "the API now", n=0, lineterm="")
    raise AssertionError(
        "The public API differs from its snapshot (- lines are gone or "
        "changed, + lines are new):\n\n" + "\n".join(diff) + "\n\n"
        "If a - line is a name users import, keep it (an alias will do). "
        "If the change is deliberate, rewrite the snapshot and review it:\n"
        f"    {UPDATE_ENV}=1 python -m pytest -q test/test_public_api.py\n"
        "    git diff test/public_api.txt")


if __name__ == "__main__":
    test_public_api_matches_snapshot()
    DONE = "is rewritten" if os.environ.get(UPDATE_ENV) == "1" else "matches"
    print(f"{os.path.relpath(SNAPSHOT)} {DONE} "
          f"(Python {sys.version.split()[0]})")


def test_every_public_name_has_a_home_to_be_loaded_from():
    """`__all__` (read by type checkers) and the lazy names' table of
    `quick_server/__init__.py` name the same things."""
    import quick_server
    assert set(quick_server.__all__) - {"__version__"} == \
        set(quick_server._WHERE)
