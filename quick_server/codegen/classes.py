"""The generated module's types: an Enum class per Enum (its members'
names from `x-python-enum-names`), a dataclass per dataclass (defaults
and default factories), a NewType per `x-python-newtype`, and an alias
for any other named schema."""
from __future__ import annotations

from typing import Any

from .names import MODULE_NAMES, TYPE_NAMES, CodegenError, docstring, \
    identifier, literal
from .schema_types import Types, is_class, is_enum

# the default factories whose value the schema's `default` is
PLAIN_FACTORIES = ("list", "dict", "tuple", "str", "int", "float", "bool")


def reachable(types: Types, roots: list[Any]) -> list[str]:
    """The keys of the named schemas `roots` use, at any depth, in the
    order first met."""
    found: list[str] = []
    todo = list(roots)
    while todo:
        node = todo.pop(0)
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str):
                key = types.key(ref)
                if key not in found:
                    found.append(key)
                    todo.append(types.schemas[key])
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return found


def render_types(types: Types, keys: list[str]) -> str:
    """The source of the Enums, NewTypes, aliases and dataclasses of
    `keys` (Enums first: defaults name their members; NewTypes then)."""
    enums, others, classes = [], [], []
    for key in keys:  # named first: a factory finds its class
        types.name(key)
    for key in keys:
        schema = types.schemas[key]
        if is_enum(schema):
            enums.append(_enum(types.name(key), schema))
        elif is_class(schema):
            classes.append(_dataclass(types, types.name(key), schema))
        else:
            rest = {k: v for k, v in schema.items() if k != "title"}
            others.append(f"{types.name(key)}: _typing.TypeAlias = "
                          f"{types.annotation(rest)}\n")
    newtypes = [f"{name} = _typing.NewType({name!r}, {base})\n"
                for name, base in types.newtypes.items()]
    return "\n\n".join(part for part in (
        "\n\n".join(enums), "".join(newtypes), "".join(others),
        "\n\n".join(classes)) if part)


def _enum(name: str, schema: dict[str, Any]) -> str:
    values, names = schema["enum"], schema["x-python-enum-names"]
    if not isinstance(values, list) or not isinstance(names, list) or \
            len(values) != len(names) or not values:
        raise CodegenError(f"the enum {name}: its values and member names "
                           f"do not match")
    base = {"int": "_enum.IntEnum", "str": "str, _enum.Enum"}.get(
        schema.get("x-python-enum-type"), "_enum.Enum")  # type: ignore
    lines = [f"class {name}({base}):"]
    if isinstance(schema.get("description"), str):
        lines.append(docstring(schema["description"], "    "))
    seen = set()
    for member, value in zip(names, values):
        member = identifier(member, f"the member of {name}")
        if member.startswith("_") or member in seen or member == "mro":
            raise CodegenError(f"the member {member!r} of {name} cannot "
                               f"be an Enum member")
        seen.add(member)
        if base == "_enum.IntEnum" and type(value) is not int or \
                base.startswith("str") and type(value) is not str:
            raise CodegenError(f"{name}.{member} = {value!r:.80} is not "
                               f"of the enum's type")
        lines.append(f"    {member} = {literal(value)}")
    return "\n".join(lines) + "\n"


def _dataclass(types: Types, name: str, schema: dict[str, Any]) -> str:
    props = schema["properties"]
    if not isinstance(props, dict):
        raise CodegenError(f"the properties of {name} are not an object")
    required = schema.get("required", [])
    lines = ["@_dataclasses.dataclass", f"class {name}:"]
    if isinstance(schema.get("description"), str):
        lines.append(docstring(schema["description"], "    "))
    seen_default = False
    for field, prop in props.items():
        field = identifier(field, f"the field of {name}")
        if field in TYPE_NAMES or field in MODULE_NAMES or \
                field in types.names.values() or field in types.newtypes:
            raise CodegenError(f"the field {name}.{field} would hide a "
                               f"name the generated module needs: rename "
                               f"it on the server")
        if isinstance(prop, dict) and isinstance(prop.get("description"),
                                                 str):
            text = " ".join(prop["description"].split())
            lines.append(f"    # {text if text.isprintable() else repr(text)}")
        annotation = types.annotation(prop)
        default = None if field in required else _default(types, prop)
        if default is None and seen_default:  # required, after defaults
            default = "_dataclasses.field(kw_only=True)"
        seen_default = seen_default or default is not None
        lines.append(f"    {field}: {annotation}" +
                     ("" if default is None else f" = {default}"))
    if not props and len(lines) == 2:
        lines.append("    pass")
    return "\n".join(lines) + "\n"


def _default(types: Types, prop: Any) -> str | None:
    """The source after `field: T = ` (None: no default the client can
    make: a factory of the server's own, which it does not have)."""
    if not isinstance(prop, dict):
        return None
    factory = prop.get("x-python-default-factory")
    if isinstance(factory, str):
        if factory in PLAIN_FACTORIES:
            return f"_dataclasses.field(default_factory={factory})"
        last = factory.rsplit(".", 1)[-1]
        for key, made in types.names.items():
            schema = types.schemas[key]
            if made == last and is_class(schema) and \
                    not schema.get("required"):
                return f"_dataclasses.field(default_factory=lambda: " \
                       f"{made}())"
        return None
    if "default" not in prop:
        return None
    value = prop["default"]
    source = types.value(prop, value)
    if isinstance(value, dict) or isinstance(value, list) and not (
            source.startswith("(") and "[" not in source and
            "{" not in source):  # a new one for each instance
        return f"_dataclasses.field(default_factory=lambda: {source})"
    return source
