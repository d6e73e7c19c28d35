"""The library's messages in the spelling of a command's YAML file (``neuroxr sweep CONFIG``), used by
:func:`neuroxr.cli._common.flag_spelling` for a :class:`~neuroxr.cli._common.KeysCommand`.

A setting is named as the file writes it: a top-level key as ``key: value`` (``backend: cupy``), a
nested one by its dotted path (``metric_options.cka.debiased: 'yes'``, ``inference.method: bca``);
values as YAML (``true``, ``null``, strings quoted only where YAML needs it:
:func:`neuroxr.sweep.config_yaml.yaml_text`), never as Python (``debiased=False``, ``None``).

Which nested mapping a message speaks of is read from its prefix: ``metric_options.<metric>: metric
'<kind>': ...`` (the config's checks), ``<metric>: ...`` (a metric's own message, also a failed entry's),
``<metric>_bootstrap: ...`` / ``rsa_permutation: ...`` (a metric's inference entries: the metric's
options and ``inference``), ``bootstrap: ...`` / ``permutation_test: ...`` (a direction's); elsewhere a
setting that only one nested mapping has (``debiased``, ``shape_method``) is named by its path.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from functools import lru_cache

from ._callers import inference_functions
from ._common import _ASSIGN, _KEYWORD, _WORD

__all__ = ["key_spelling"]

#: a checked section's prefix (``metric_options.cka: metric 'cka': ``, ``metric_options.cka: metric 'cka' takes``)
_CHECKED = r"(?P<checked>metric_options\.(?P<key>[a-z]+): metric '[a-z_]+'(?:: | (?=takes no options)))"
#: a nested mapping's key as Python subscripts it (``metric_options['shape']``)
_SUBSCRIPT = re.compile(r"\b(?P<section>metric_options|inference)\[(?P<q>['\"])(?P<key>[A-Za-z_]+)(?P=q)\]")
#: a value the message reports (``got 'no'``, ``got None``, ``got {'cka': 3}``)
_GOT = re.compile(r"\bgot (?=['\"\[({\w.+-])")
#: the subject of a clause (``debiased must be``, ``(level sets``)
_SUBJECT = re.compile(r"(^|: |; |\()" + _WORD + r"(?= has no effect| have no effect| must | also | lists | sets )")
#: a name with an underscore (never a word of prose), not quoted and not the key of an example (``shape_method: basic``)
_UNDERSCORED = re.compile(r"(?<![\w.\-/='])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w=(':])")
#: ``name: `` of a setting (the library's own YAML spelling, ``n_components: 25``)
_COLON = re.compile(r"(?<![\w.\-/'])([a-z][a-z0-9]*(?:_[a-z0-9]+)*)(?=: )")
#: a list (or tuple) of quoted strings, as Python prints one
_Q = r"'[^'\\]*'"
_QUOTED = re.compile(rf"\[({_Q}(?:, {_Q})*)\]|\(({_Q}(?:, {_Q})+),?\)|\(({_Q}),\)")
#: names joined by commas and "and"/"or" (two or more), not the keys of an example (``level, method: bca``)
_LIST = re.compile(_WORD + r"((?:(?:, | and | or |, and |, or )[a-z][a-z0-9_]*)+)(?![\w=(:])")
#: the inference entries' own parameters, as the config's ``inference`` keys
_PROCEDURE = {"n_boot": "inference.bootstrap", "n_perm": "inference.permutations", "level": "inference.level"}


@lru_cache(maxsize=1)
def _sections() -> dict[str, dict[str, str]]:
    """Nested section (``metric_options.cka``, ``inference``) -> its settings' names -> their paths; ``""``:
    the settings of one section only (``rsa``'s own: its ``variant``), which are named by their path anywhere."""
    from ..sweep.config import SWEEP_KEYS, nested_keys

    out = {s: {k: f"{s}.{k}" for k in keys} for s, keys in nested_keys().items()}
    owners: dict[str, list[str]] = {}
    for s, names in out.items():
        for k in names:
            if k not in SWEEP_KEYS and (s != "metric_options.rsa" or k == "variant"):  # rsa's others: its variants'
                owners.setdefault(k, []).append(s)
    out[""] = {k: out[v[0]][k] for k, v in owners.items() if len(v) == 1}
    return out


@lru_cache(maxsize=1)
def _mark() -> re.Pattern:
    """A message's prefixes that name what it speaks of: a checked section (:data:`_CHECKED`) or the library
    function (a metric's, a direction's, their inference's) that raised it."""
    from ..entries.kinds import DIRECTION_KINDS, METRIC_KINDS

    callers = {*METRIC_KINDS, *DIRECTION_KINDS, *inference_functions(), "temporal_generalization", "split_distance", "sweep"}
    return re.compile(_CHECKED + rf"|(?:^|(?<=: ))(?P<caller>{'|'.join(sorted(callers, key=len, reverse=True))}): ")


@lru_cache(maxsize=1)
def _inference_keys() -> dict[str, str]:
    """A direction's inference functions (``bootstrap``, ``permutation_test``: :func:`inference_functions`) as
    the ``inference`` key that asks for their entries (``inference.bootstrap``, ``inference.permutations``)."""
    from ..entries.kinds import DIRECTION_INFERENCE_KINDS, speaks_as

    keys = {"bootstrap": "inference.bootstrap", "permutation": "inference.permutations"}
    return {speaks_as(kind): keys[procedure] for kind, (_, procedure) in DIRECTION_INFERENCE_KINDS.items()}


def _section_of(caller: str) -> dict[str, str] | None:
    """The settings a message of library function ``caller`` speaks of (``None``: the top-level keys)."""
    sections = _sections()
    caller = {"split_distance": "shape"}.get(caller, caller)
    if f"metric_options.{caller}" in sections:
        return sections[f"metric_options.{caller}"]
    if caller in _inference_keys():
        return {**sections["inference"], **_PROCEDURE}
    if caller in inference_functions():  # a metric's
        metric = {"rsa": "crsa"}.get(caller.split("_")[0], caller.split("_")[0])
        out = {k: v for k, v in sections[f"metric_options.{metric}"].items() if k != "seed"}  # seed: the resamples'
        out.update(_PROCEDURE)
        if metric == "shape":
            out["method"] = "inference.shape_method"
        if metric == "ersa":
            out["split_seed"] = "metric_options.ersa.seed"
        return out
    return None


def _yaml(text: str) -> str | None:
    """A Python literal of a message as YAML (``None`` where ``text`` is no literal)."""
    from ..sweep.config_yaml import yaml_text

    try:
        return yaml_text(ast.literal_eval(text))
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None


def _literal_end(text: str, i: int) -> int:
    """The end of the Python literal that starts at ``text[i]`` (a quoted string, a bracketed value or a
    word), as a message writes one."""
    opening, closing = "([{", ")]}"
    depth, quote, j = 0, "", i
    while j < len(text):
        c = text[j]
        if quote:
            if c == "\\":
                j += 1
            elif c == quote:
                quote = ""
                if depth == 0:
                    return j + 1
        elif c in "'\"":
            quote = c
        elif c in opening:
            depth += 1
        elif c in closing:
            if depth == 0:
                return j
            depth -= 1
            if depth == 0:
                return j + 1
        elif depth == 0 and (c.isspace() or c in ";,"):
            break
        j += 1
    end = j
    while end > i and text[end - 1] == ".":
        end -= 1  # the sentence's full stop
    return end


def _got(message: str) -> str:
    """The values a message reports (``got <literal>``) as YAML."""
    out, pos = [], 0
    for m in _GOT.finditer(message):
        if m.start() < pos:
            continue
        end = _literal_end(message, m.end())
        spelled = _yaml(message[m.end():end])
        if spelled is not None:
            out += [message[pos:m.end()], spelled]
            pos = end
    return "".join(out) + message[pos:]


def _spell(text: str, names: dict[str, str], keys: set[str], section: dict[str, str]) -> str:
    """``text`` with its settings in the file's spelling: the top-level ``keys``, ``names`` (name -> path:
    the settings of one nested section only, and ``section``'s, the nested section the text speaks of)
    where they are named as settings (``name=value``, ``name=``, a list of them, a clause's subject),
    ``section``'s also as ``name: value``, in a list of quoted names and where they hold an underscore."""
    names = {**names, **section}

    def path(name: str) -> str | None:
        return names.get(name) or (name if name in keys else None)

    def assign(m: re.Match) -> str:
        where = path(m.group(2))
        value = _yaml(m.group(3)) if where is not None else None
        if value is None:
            return m.group(0)
        if value == "null" and m.group(1) == "pass " and where in keys:  # the key's default: leaving it out
            return f"leave out {where}"
        return f"{m.group(1) or ''}{where}: {value}"

    def listed(m: re.Match) -> str:  # the names of the list's end, where they are two or more settings
        parts = re.split(r"(, and |, or |, | and | or )", m.group(0))
        words = parts[::2]
        first = next((i for i in range(len(words) - 1) if all(path(w) for w in words[i:])), None)
        if first is None or not any(w in names for w in words[first:]):
            return m.group(0)
        return "".join(parts[:2 * first]) + "".join(path(p) or p if i % 2 == 0 else p for i, p in enumerate(parts[2 * first:]))

    text = _ASSIGN.sub(assign, text)
    text = _KEYWORD.sub(lambda m: path(m.group(1)) or m.group(0), text)
    text = _LIST.sub(listed, text)
    text = _SUBJECT.sub(lambda m: m.group(1) + names.get(m.group(2), m.group(2)), text)
    text = _UNDERSCORED.sub(lambda m: names.get(m.group(1), m.group(1)), text)
    if section:
        text = _COLON.sub(lambda m: section.get(m.group(1), m.group(1)), text)
    return _QUOTED.sub(lambda m: _yaml(f"[{m.group(m.lastindex)}]") or m.group(0), text)


def key_spelling(message: str, keys: Iterable[str]) -> str:
    """``message`` with the settings of a YAML file whose top-level keys are ``keys`` in the file's spelling:
    ``backend='cupy'`` -> ``backend: cupy``, ``pass regions=None`` -> ``leave out regions``, ``key=`` -> ``key``;
    a nested setting by its path (``metric_options.cka: metric 'cka': debiased must be True or False; got
    'yes'`` -> ``metric_options.cka.debiased must be true or false; got 'yes'``); reported values as YAML.

    Parameters
    ----------
    message : str
        One line raised by the library (Python spelling).
    keys : iterable of str
        The file's top-level keys.

    Returns
    -------
    str
    """
    keys, sections = set(keys), _sections()
    message = _SUBSCRIPT.sub(r"\g<section>.\g<key>", message)  # ``metric_options['shape']``: the path, as the file nests it
    unique = sections[""]
    parts: list[tuple[str, dict[str, str] | None]] = []
    section: dict[str, str] = {}
    pos = 0
    for m in _mark().finditer(message):
        parts.append((message[pos:m.start()], section))
        if m.group("checked"):
            key = m.group("key")
            parts.append((f"metric_options.{key}" + (": " if m.group(0).endswith(": ") else " "), None))
            section = sections.get(f"metric_options.{key}", {})
        else:  # a direction's inference function as the config key that asks for its entries
            parts.append((_inference_keys().get(m.group("caller"), m.group("caller")) + ": ", None))
            section = _section_of(m.group("caller")) or {}
        pos = m.end()
    parts.append((message[pos:], section))
    spelled = [text if names is None else _spell(text, unique, keys, names) for text, names in parts]
    for i in range(len(spelled) - 1):  # ``metric_options.cka: metric_options.cka.debiased ...``: the path once
        head = spelled[i]
        if head.startswith("metric_options.") and head.endswith(": ") and spelled[i + 1].startswith(head[:-2] + "."):
            spelled[i] = ""
    return _python_words(_got("".join(spelled)))


def _python_words(message: str) -> str:
    """Python's ``True``, ``False`` and ``None`` in what a setting must be (``must be True, False or None``)
    as YAML's."""
    def words(m: re.Match) -> str:
        return re.sub(r"\b(True|False|None)\b", lambda w: {"True": "true", "False": "false", "None": "null"}[w.group(1)],
                      m.group(0))

    return re.sub(r"\bmust be [^;.]*", words, message)
