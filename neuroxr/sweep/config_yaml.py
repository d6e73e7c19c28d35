"""YAML 1.2 reading and writing of sweep configurations: numbers by YAML 1.2's core schema, names
kept as strings (:func:`_yaml_loader`), values written as a config file spells them (:func:`yaml_text`)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

import numpy as np

from ..errors import SweepConfigError

_LEADING_ZERO = re.compile(r"^[-+]?0[0-9]+$")
_INT = re.compile(r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$")
_FLOAT = re.compile(r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$")
_ZERO_TAG = "tag:neuroxr,2024:leading-zero-int"
#: keys whose values are names (of the store's sets, regions, a scheduler); ``layers``: also its model keys
_NAME_KEYS = ("models", "layers", "neural", "regions", "scheduler")
#: options of ``metric_options`` whose values are names (a stimulus coord)
_NAME_OPTIONS = ("stratify_by",)
#: the plain-scalar readings that are not a string, as the message names them
_NOT_NAMES = {"tag:yaml.org,2002:bool": "the boolean", "tag:yaml.org,2002:int": "the number",
              "tag:yaml.org,2002:float": "the number", "tag:yaml.org,2002:timestamp": "the date"}

_MERGE = "tag:yaml.org,2002:merge"


def _merged_keys(node: Any) -> list[Any]:
    """The key nodes a mapping node takes through its merge keys (``<<: *a`` or ``<<: [*a, *b]``, nested
    merges too): a key there and in the mapping, or in two merged mappings, is a key given twice (YAML
    keeps one of them without a word)."""
    import yaml

    out = []
    for key_node, value_node in node.value:
        if key_node.tag != _MERGE:
            continue
        for sub in value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]:
            if isinstance(sub, yaml.MappingNode):
                out += [k for k, _ in sub.value if k.tag != _MERGE] + _merged_keys(sub)
    return out


@lru_cache(maxsize=1)
def _yaml_loader() -> type:
    """A ``yaml.SafeLoader`` whose numbers follow YAML 1.2's core schema (decimal, ``0o`` and ``0x`` ints;
    floats such as ``1e-1``; no YAML 1.1 octal ``010`` or sexagesimal ``1:30``) and which refuses an int
    written with a leading zero, a key given twice, and a plain mapping key or name (the values of
    :data:`_NAME_KEYS` and :data:`_NAME_OPTIONS`) that reads as a boolean (YAML 1.1's ``on``, ``no``),
    a number (``1e3``, ``1.10``) or a date, in one line naming the key and its line."""
    import yaml

    int_tag, float_tag = "tag:yaml.org,2002:int", "tag:yaml.org,2002:float"

    class Loader(yaml.SafeLoader):
        yaml_implicit_resolvers = {c: [(t, r) for t, r in rs if t not in (int_tag, float_tag)]
                                   for c, rs in yaml.SafeLoader.yaml_implicit_resolvers.items()}

        def construct_mapping(self, node: Any, deep: bool = False) -> Any:
            seen: dict[Any, int] = {}
            paths = self.__dict__.setdefault("paths", {})  # id(mapping node) -> its keys' path (``metric_options.cka``)
            for key_node in _merged_keys(node):  # a merged mapping's (``<<: *defaults``) keys count as given here
                if isinstance(key_node, yaml.ScalarNode) and key_node.value in seen:
                    raise SweepConfigError(f"key {key_node.value!r} is given twice (lines {seen[key_node.value]} and "
                                           f"{key_node.start_mark.line + 1}, through a merge '<<'); keep one.")
                seen[key_node.value] = key_node.start_mark.line + 1
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    continue
                key, line = key_node.value, key_node.start_mark.line + 1
                path = f"{paths[id(node)]}.{key}" if id(node) in paths else str(key)  # a nested key with its path
                paths[id(value_node)] = path
                if isinstance(key_node, yaml.ScalarNode) and key in seen:
                    raise SweepConfigError(f"key {path!r} is given twice (lines {seen[key]} and {line}); keep one.")
                seen[key] = line
                self.check_name(key_node, "key")
                if key in _NAME_KEYS or key in _NAME_OPTIONS:
                    self.check_names(value_node, path)
                for v in value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]:
                    if v.tag == _ZERO_TAG:
                        raise SweepConfigError(
                            f"{path}: {v.value!r} (line {v.start_mark.line + 1}) is an integer with a leading zero, "
                            f"which YAML 1.1 reads as octal; write it without the leading zero (or 0o... for octal).")
            return super().construct_mapping(node, deep=deep)

        def check_names(self, node: Any, key: str) -> None:
            """Every scalar of a name-valued key (sequence items, mapping keys and values) read as a string."""
            if isinstance(node, yaml.SequenceNode):
                for item in node.value:
                    self.check_names(item, key)
            elif isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    self.check_names(k, key)
                    self.check_names(v, key)
            else:
                self.check_name(node, key)

        def check_name(self, node: Any, key: str) -> None:
            """One line where a plain scalar due as a name (or a key) reads as a boolean, a number or a
            date (YAML 1.1: ``on``, ``no``; ``1e3``, ``1.10``): quote it; never read as another value."""
            what = _NOT_NAMES.get(node.tag) if isinstance(node, yaml.ScalarNode) and not node.style else None
            if what is not None:
                value = str(self.construct_object(node)).lower() if what == "the boolean" else self.construct_object(node)
                raise SweepConfigError(
                    f"{key}{':' if key != 'key' else ''} {node.value} (line {node.start_mark.line + 1}) reads as {what} "
                    f"{value} in YAML, not as the name {node.value!r}; quote it ('{node.value}') where a name is meant.")

    digits = list("-+0123456789")
    Loader.add_implicit_resolver(_ZERO_TAG, _LEADING_ZERO, digits)
    Loader.add_implicit_resolver(int_tag, _INT, digits)
    Loader.add_implicit_resolver(float_tag, _FLOAT, [*digits, "."])

    def _int(loader: Any, node: Any) -> int:
        v = loader.construct_scalar(node)
        return int(v[2:], 8 if v[1] == "o" else 16) if v[:2] in ("0o", "0x") else int(v)

    def _float(loader: Any, node: Any) -> float:
        v = loader.construct_scalar(node).lower()
        return float(v.replace(".inf", "inf").replace(".nan", "nan"))

    def _zero(loader: Any, node: Any) -> None:
        raise SweepConfigError(f"{node.value!r} (line {node.start_mark.line + 1}) is an integer with a leading zero, "
                               f"which YAML 1.1 reads as octal; write it without the leading zero.")

    Loader.add_constructor(int_tag, _int)
    Loader.add_constructor(float_tag, _float)
    Loader.add_constructor(_ZERO_TAG, _zero)
    Loader.add_constructor("tag:yaml.org,2002:map", lambda loader, node: loader.construct_yaml_map(node))
    return Loader


def yaml_text(value: Any) -> str:
    """``value`` as a configuration file writes it (one line of YAML: ``true``, ``null``, ``bca``, ``'no'``,
    ``[a, b]``, ``{cka: 3}``), a string quoted only where :func:`load_config` would read it as another value."""
    import yaml

    class Dumper(yaml.SafeDumper):  # quotes what this module's reader resolves to a non-string
        yaml_implicit_resolvers = _yaml_loader().yaml_implicit_resolvers

    if isinstance(value, np.generic):
        value = value.item()
    text = yaml.dump(value, Dumper=Dumper, default_flow_style=True, width=float("inf"), allow_unicode=True)
    return text.removesuffix("\n").removesuffix("\n...").strip()
