"""Storage options of the commands that open a store: ``--storage-option KEY=VALUE`` and
``--storage-profile NAME`` (fsspec options of a remote store), read by the commands' store opening."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from typing import Any

import click

__all__ = ["CONFIG_ENV", "current_storage_options", "load_storage_profile", "local_path", "parse_storage_option",
           "read_only_error", "storage_config_file", "storage_options", "storage_options_for", "store_writable"]


def local_path(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Option callback of a local file or folder (``--table``, ``--out``, ``--anchors``): an empty one is refused
    (:func:`~neuroxr.cli._common.not_empty`), ``~`` is the home folder, as in a store's path (a shell leaves
    ``--table=~/t.csv`` as it is: it was a folder named ``~``)."""
    from ._common import not_empty

    value = not_empty(ctx, param, value)
    return os.path.expanduser(value) if isinstance(value, str) else value


# ---------------------------------------------------------------------------- storage options
_META_OPTIONS = "neuroxr.storage_options"
_META_PROFILE = "neuroxr.storage_profile"
#: environment variable naming the storage profile file (default: :func:`storage_config_file`)
CONFIG_ENV = "NEUROXR_STORAGE_CONFIG"


def parse_storage_option(text: str) -> tuple[str, Any]:
    """``"key=value"`` -> ``(key, value)``; the value is parsed as JSON when it parses (numbers,
    ``true``, ``null``, objects, ``"quoted"`` strings), else kept as a string. A number is taken
    only as JSON writes it back (``4``, ``0.5``): ``1.10``, ``1e3`` or ``007`` stay the strings
    given, never a number that spells them otherwise (a version id, a token)."""
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise click.BadParameter(f"{text!r}: write KEY=VALUE, e.g. endpoint_url=http://127.0.0.1:9000.",
                                 param_hint="'--storage-option'")
    try:
        parsed = json.loads(value)
    except ValueError:
        return key, value
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool) and json.dumps(parsed) != value.strip():
        return key, value  # another spelling of the number: the text as given
    return key, parsed


def storage_config_file() -> str:
    """The storage profile file: ``$NEUROXR_STORAGE_CONFIG``, else
    ``$XDG_CONFIG_HOME/neuroxr/storage.toml`` (``~/.config/neuroxr/storage.toml``)."""
    if os.environ.get(CONFIG_ENV):
        return os.environ[CONFIG_ENV]
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "neuroxr", "storage.toml")


def load_storage_profile(name: str, path: str | None = None) -> dict[str, Any]:
    """The fsspec options of profile ``name``: the table ``[name]`` of a TOML file (a ``.json`` file:
    the object under ``name``); see :func:`storage_config_file`."""
    path = path or storage_config_file()
    try:
        with open(path, "rb") as fh:
            if path.endswith(".json"):
                doc = json.load(fh)
            else:
                import tomllib

                doc = tomllib.load(fh)
    except FileNotFoundError:
        raise click.BadParameter(f"no storage profile file {path!r}; write a [{name}] table there "
                                 f"(or point {CONFIG_ENV} at one).", param_hint="'--storage-profile'") from None
    except ValueError as exc:
        raise click.BadParameter(f"storage profile file {path!r} cannot be parsed ({' '.join(str(exc).split())}).",
                                 param_hint="'--storage-profile'") from None
    except OSError as exc:  # a folder, a file this user cannot read
        raise click.BadParameter(f"cannot read the storage profile file {path!r} ({exc.strerror or type(exc).__name__}); "
                                 f"point {CONFIG_ENV} at a TOML file with a [{name}] table.",
                                 param_hint="'--storage-profile'") from None
    prof = doc.get(name) if isinstance(doc, dict) else None
    if not isinstance(prof, dict):
        have = sorted(k for k, v in doc.items() if isinstance(v, dict)) if isinstance(doc, dict) else []
        raise click.BadParameter(f"no profile {name!r} in {path!r}; profiles there: {have}.", param_hint="'--storage-profile'")
    return dict(prof)


def _keep(key: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: Any) -> None:
        if key == _META_OPTIONS:
            pairs = [parse_storage_option(v) for v in value or ()]
            twice = sorted({k for k, _ in pairs if sum(k == j for j, _ in pairs) > 1})
            if twice:  # a dict would keep the last without a word
                raise click.BadParameter(f"{', '.join(twice)} given more than once; give each key once.",
                                         param_hint="'--storage-option'")
            ctx.meta[key] = dict(pairs)
        else:
            ctx.meta[key] = value
    return callback


def current_storage_options() -> dict[str, Any] | None:
    """The fsspec options given to the running command: its profile, then each ``--storage-option``
    on top; ``None`` when neither was given (or outside a command)."""
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return None
    name = ctx.meta.get(_META_PROFILE)
    given = ctx.meta.get(_META_OPTIONS) or {}
    if not name and not given:
        return None
    return {**(load_storage_profile(name) if name else {}), **given}


def storage_options_for(url: str) -> dict[str, Any] | None:
    """:func:`current_storage_options` for the store at ``url``; given for a local store (a path or
    ``file://`` URL, which takes no fsspec options) they are refused, never silently dropped.

    Parameters
    ----------
    url : str
        The store's path or URL.

    Returns
    -------
    dict or None
        The fsspec options of a remote store; ``None`` when none were given.
    """
    from ..store._zarr import local_root

    so = current_storage_options()
    if so is not None and local_root(url) is not None:
        ctx = click.get_current_context()
        given = [opt for opt, key in (("--storage-option", _META_OPTIONS), ("--storage-profile", _META_PROFILE))
                 if ctx.meta.get(key)]
        raise click.UsageError(f"{' and '.join(given)}: fsspec options apply to remote stores (s3://, gs://, ...), "
                               f"not to the local store {url!r}; drop them.")
    return so


def storage_options(fn: Callable) -> Callable:
    """Add ``--storage-option KEY=VALUE`` (repeatable) and ``--storage-profile NAME`` to a command
    that opens a store; read them with :func:`current_storage_options` (``open_store_or_fail`` does)."""
    fn = click.option(
        "--storage-profile", metavar="NAME", default=None, expose_value=False, callback=_keep(_META_PROFILE),
        help="fsspec options of a remote store from the [NAME] table of ~/.config/neuroxr/storage.toml "
             f"(or ${CONFIG_ENV}); --storage-option entries override them.",
    )(fn)
    return click.option(
        "--storage-option", "-S", metavar="KEY=VALUE", multiple=True, expose_value=False, callback=_keep(_META_OPTIONS),
        help="An fsspec option of a remote store (s3://, gs://, ...), repeatable; VALUE is parsed as JSON "
             "when it parses, e.g. -S endpoint_url=http://127.0.0.1:9000 -S anon=true.",
    )(fn)


def store_writable(url: str) -> bool:
    """Whether this user can write entries to the local store at ``url`` (:func:`~neuroxr.store._zarr.local_writable`,
    which the library's writers check too); ``True`` for a remote store."""
    from ..store._zarr import local_writable

    return local_writable(url)


def read_only_error(url: str, doing: str, instead: str = "") -> click.ClickException:
    """The one line of a command that would write to a store this user cannot write to."""
    return click.ClickException(f"the store {url!r} is read-only for this user: {doing} needs write access; fix its "
                                f"permissions{instead}.")
