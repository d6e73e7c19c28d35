"""The ``neuroxr`` click group and what its commands share (output modes, progress, stores, errors).

Heavy modules (xarray, pandas, the store, the entry engine) are imported inside the commands'
bodies, so ``neuroxr --help`` and ``neuroxr --version`` stay fast.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import click

from .._signals import INTERRUPTED, TERMINATED, Terminated, interrupted_line, interrupts, said
from ._advice import cli_advice, compare_advice, out_of_memory, too_large
from ._callers import _CALLER, _inference_caller, _library_name
from ._json import records, to_json  # noqa: F401  (re-exported: the commands import them from here)
from ._literals import LITERAL as _LITERAL
from ._literals import literal
from ._repeated import refuse_repeated
from ._storage import (  # noqa: F401  (re-exported: the commands import them from here)
    CONFIG_ENV,
    current_storage_options,
    load_storage_profile,
    parse_storage_option,
    storage_config_file,
    storage_options,
    storage_options_for,
)

__all__ = ["main", "CommandGroup", "SpelledCommand", "KeysCommand", "cli_advice", "flag_name", "flag_spelling", "running", "to_json", "records", "open_store_or_fail", "not_empty", "table", "report_validation", "output_options", "Output", "progress_for",
           "one_line", "storage_options", "current_storage_options", "storage_options_for", "parse_storage_option", "load_storage_profile",
           "storage_config_file"]


def one_line(text: Any) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(str(text).split())


def _version() -> str:
    from .. import __version__

    return __version__


#: ``ctx.meta`` key (shared by nested contexts) of the command being run, for :func:`flag_spelling`
_COMMAND = "neuroxr.command"
#: ``ctx.meta`` key of the option whose work the command is doing (``--bootstrap``), for :func:`flag_spelling`
_RUNNING = "neuroxr.running"


@contextlib.contextmanager
def running(option: str) -> Iterator[None]:
    """While the command does the work of ``option`` (``--bootstrap``: its entry's check and computation),
    the messages of the library function doing it (``bootstrap: ...``) are named after the command and
    the option (``forward --bootstrap: ...``, :func:`flag_spelling`). An error leaves it set, for the
    command's handler (:func:`_handled`)."""
    meta = click.get_current_context().meta
    before = meta.get(_RUNNING)
    meta[_RUNNING] = option
    yield
    meta[_RUNNING] = before


#: attribute that marks an exception whose message is spelled already (by the command's handler), so that
#: the group's handler passes it on as it is (no message is spelled twice)
_SPELLED = "_neuroxr_spelled"


def _spelled(exc: BaseException) -> BaseException:
    setattr(exc, _SPELLED, True)
    return exc


def _handled(ctx: click.Context, call: Callable[[], Any], command: Callable[[], click.Command | None], top: bool) -> Any:
    """``call()`` with the command line's handling of what it raises and warns, the one handler of the
    group and of its commands: warnings one line on stderr (none with ``--quiet``), a neuroxr error (or a bad
    file, value or key) a one-line message (exit status 1) and a usage error one line (exit status 2), never
    a traceback, each spelled for ``command`` (:func:`flag_spelling`, the option it is ``running``).

    Parameters
    ----------
    ctx : click.Context
        The running group's or command's context (its ``meta`` holds the option being run).
    call : callable
        What runs the group or the command.
    command : callable
        ``command()``: the command whose messages these are (``None``: as they are), asked when one is spelled.
    top : bool
        Whether this is the top group's handler, which also ends Ctrl-C (exit status 130), a closed stdout
        (exit status 1 quietly), a missing package and a bug (one line each); a command's handler passes
        them on (a test invoking the command sees the exception).
    """
    from ..errors import NeuroxrError, ParameterError

    def spelled(text: Any) -> str:
        return flag_spelling(one_line(text), command(), ctx.meta.get(_RUNNING))

    try:
        with warnings.catch_warnings(), interrupts() if top else contextlib.nullcontext():  # SIGTERM: as Ctrl-C
            warnings.showwarning = _show_warning  # warnings: one line on stderr (none with --quiet)
            return call()
    except click.exceptions.NoArgsIsHelpError:  # a group without its subcommand: its help as is, exit status 2
        raise
    except click.ClickException as exc:
        if getattr(exc, _SPELLED, False):  # spelled by the command's own handler
            raise
        if isinstance(exc, click.UsageError):  # one line, no usage block; exit status 2 as click's
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            raise _spelled(_OneLineUsage(spelled(exc.format_message()) + hint)) from None
        exc.message = spelled(exc.message)
        _spelled(exc)
        raise  # the same exception, its message spelled
    except (click.exceptions.Exit, click.exceptions.Abort):
        raise
    except KeyboardInterrupt as exc:  # Ctrl-C: one line and the shell's status of a SIGINT (128 + 2), never click's "Aborted!" (1)
        if not top:
            raise
        atexit.register(logging.disable, logging.CRITICAL)  # no log line of a library closing at exit (Dask) follows it
        term = isinstance(exc, Terminated)  # SIGTERM: the same, with its name and status (128 + 15)
        said()  # first: a second signal from here on, while the process ends, prints no second line (_signals._end)
        click.echo(interrupted_line(term), err=True)
        raise click.exceptions.Exit(TERMINATED if term else INTERRUPTED) from None
    except BrokenPipeError:  # the reader of stdout left (`neuroxr info STORE | head`): stop quietly, as Unix tools do
        if not top:
            raise
        _quiet_stdout()
        raise click.exceptions.Exit(1) from None
    except ParameterError as exc:  # a value the command cannot use: a usage error, as click's own (exit status 2)
        raise _spelled(_OneLineUsage(f"{spelled(exc)} (see '{ctx.command_path} --help')")) from None
    except (NeuroxrError, OSError, ValueError, KeyError) as exc:
        if too_large(exc):  # NumPy's refusal of an array beyond any memory (--reps 1e22): as out of memory
            raise _spelled(click.ClickException(out_of_memory(exc))) from None
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        raise _spelled(click.ClickException(spelled(msg))) from None
    except MemoryError as exc:  # a request larger than the machine (--reps 1e11): no bug, one line
        if not top or os.environ.get("NEUROXR_DEBUG"):
            raise
        raise _spelled(click.ClickException(out_of_memory(exc))) from None
    except ImportError as exc:  # a package the input needs is not installed (gcsfs for a gs:// store, ...): no bug
        if not top or os.environ.get("NEUROXR_DEBUG"):
            raise
        raise _spelled(click.ClickException(_missing_package(exc))) from None
    except Exception as exc:  # a bug: still one line, the traceback on request
        if not top or os.environ.get("NEUROXR_DEBUG"):
            raise
        raise _spelled(click.ClickException(f"internal error, {type(exc).__name__}: {one_line(exc)} "
                                            "(set NEUROXR_DEBUG=1 for the traceback and report it)")) from None


class SpelledCommand(click.Command):
    """A command that spells its own errors and warnings (:func:`flag_spelling`, through the group's
    handler, :func:`_handled`) where it runs: called through ``neuroxr`` or on its own (a test invoking
    ``sweep_command``), it gives the same one-line messages; the group passes them on as they are."""

    def invoke(self, ctx: click.Context) -> Any:
        return _handled(ctx, lambda: super(SpelledCommand, self).invoke(ctx), lambda: self, top=False)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        refuse_repeated(self, ctx, args)
        return super().parse_args(ctx, args)


class CommandGroup(click.Group):
    """A group that records the subcommand it runs (``ctx.meta``), so that the top group's error
    handler spells a failed command's parameters as its flags (:func:`flag_spelling`); the commands
    it makes are :class:`SpelledCommand` instances."""

    command_class = SpelledCommand

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None:
            ctx.meta[_COMMAND] = cmd
        return name, cmd, rest


class KeysCommand(SpelledCommand):
    """A command whose errors name the keys of the file it runs (``neuroxr sweep CONFIG``): they stay
    keys, written as the file writes them (:func:`flag_spelling`, ``backend='cupy'`` -> ``backend: cupy``).

    Parameters
    ----------
    keys_from : str
        ``"module:attribute"`` of the file's keys (imported when a message is spelled).
    """

    def __init__(self, *args: Any, keys_from: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.keys_from = keys_from

    def keys(self) -> tuple[str, ...]:
        """The keys of the command's file."""
        import importlib

        module, _, attribute = self.keys_from.partition(":")
        return tuple(getattr(importlib.import_module(module), attribute)) if module else ()


class _Main(CommandGroup):
    """The top group: any neuroxr error (or a bad file, value or key) becomes a one-line message
    on stderr and exit status 1, never a traceback, its parameter names spelled as the failed
    command's flags (:func:`flag_spelling`; a :class:`SpelledCommand` spells its own); Ctrl-C a
    one-line note and exit status 130."""

    def invoke(self, ctx: click.Context) -> Any:
        return _handled(ctx, lambda: super(_Main, self).invoke(ctx), lambda: ctx.meta.get(_COMMAND), top=True)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        """The group's own usage errors (``neuroxr --bogus``) in one line, as its commands': click printed its usage block."""
        try:
            return super().parse_args(ctx, args)
        except click.exceptions.NoArgsIsHelpError:  # plain ``neuroxr``: its help, as it is
            raise
        except click.UsageError as exc:
            raise _spelled(_OneLineUsage(f"{one_line(exc.format_message())} (see '{ctx.command_path} --help')")) from None


# ---------------------------------------------------------------------------- Python names -> flags
_WORD = r"(?<![\w.\-/=])([a-z][a-z0-9]*(?:_[a-z0-9]+)*)"
#: ``name=value`` (a Python literal), with the ``pass`` or ``with`` before it when there is one
_ASSIGN = re.compile(r"(\bpass |\bwith )?" + _WORD + "=" + _LITERAL)
#: a difference of an entry's parameters (``reps: 2 (existing) != 3 (asked)``, :func:`neuroxr.entries.provenance.differences`)
_DIFFERS = re.compile(_WORD + ": " + _LITERAL + r" \(existing\) != " + _LITERAL + r" \(asked\)")
#: an inference entry of a metric (``inference/crsa_permutation/...``) named by a --require-existing refusal,
#: and its ``seed`` (the resamples' seed, --resample-seed on the metric commands)
_METRIC_INFERENCE_PATH = re.compile(r"\binference/(?:crsa|ersa|cka|shape)_(?:bootstrap|permutation)/")
_METRIC_INFERENCE = re.compile(r"(?<![\w.])seed: (?=\S+ \(existing\) != )")
#: ``name=`` standing for the keyword itself ("pass min_reliability= to ...")
_KEYWORD = re.compile(_WORD + r"=(?=[\s.,;)]|$)")
#: a list of quoted names, as Python prints one: ``['alpha', 'n_folds']``
_QUOTED_LIST = re.compile(r"\[('[a-z][a-z0-9_]*'(?:, '[a-z][a-z0-9_]*')*)\]")
#: names joined by commas and "and"/"or" (two or more), or the names before "has/have no effect"
_NAME_LIST = re.compile(_WORD + r"((?:(?:, | and | or |, and |, or )[a-z][a-z0-9_]*)+)(?![\w=(])")
#: the subject of a clause: a name before "has no effect", "must", "also" or "lists" ("write_report: dpi must be ...")
_SUBJECT = re.compile(r"(^|: |; )" + _WORD + r"(?= has no effect| must | also | lists )")
#: a flag followed by a parenthesis that gives it again (library messages that also name the flag)
_AGAIN = re.compile(r"(--[a-z][a-z0-9-]*)((?: [^\s()]+)?) \((?:neuroxr [a-z-]+ )?\1(?: [^()]*)?\)")
#: a lone name with an underscore (never a word of prose)
_UNDERSCORED = re.compile(r"(?<![\w.\-/=])([a-z][a-z0-9]*(?:_[a-z0-9]+)+)(?![\w=(])")


#: an input named by a library function's argument and its set's label (``b (mA)``, ``features (net/l1)``;
#: :func:`neuroxr.geometry._common._named`): on the command line, the set as the user named it
_INPUT = re.compile(r"(?<![\w.\-/'\"])(?:a|b|X|Y|obj|source|target|neural|features|neural_a|neural_b|features_a|features_b)"
                    r" \(([^()\s,;]+)\)")
def _set_names(message: str) -> str:
    """``message`` with the inputs of a library function named as the sets the user gave: ``b (mA)``
    -> ``mA``, ``features (net/l1)`` -> ``net.l1`` (a feature set's ``model.layer``), and its Python
    advice replaced by the command line's (:func:`cli_advice`)."""
    return cli_advice(_INPUT.sub(lambda m: m.group(1).replace("/", ".", 1), message))


def _long(opts: list[str]) -> str:
    return max(opts, key=lambda o: (o.startswith("--"), len(o)))


def _flag(opt: click.Option) -> str:
    """How a parameter is named: its long flag (``--ceiling/--no-ceiling`` for a pair)."""
    return _long(opt.opts) + (f"/{_long(opt.secondary_opts)}" if opt.secondary_opts else "")


def flag_name(command: click.Command, name: str) -> str:
    """The flag of ``command``'s parameter ``name`` (``noise_ceiling`` -> ``--no-ceiling``)."""
    return _flag(next(p for p in command.params if p.name == name and isinstance(p, click.Option)))


def _given_as(opt: click.Option, value: Any, text: str) -> str | None:
    """``name=value`` as the flags that give it (``without --flag`` for what leaving the option out
    gives; ``None`` where no flag gives it)."""
    long, info = _long(opt.opts), opt.to_info_dict()  # the info dict resolves click's unset default and flag value
    if value is None and info["default"] is None or opt.is_flag and not opt.secondary_opts and value is info["default"]:
        return f"without {_flag(opt)}"
    if opt.is_flag:
        if opt.secondary_opts and isinstance(value, bool):
            return long if value else _long(opt.secondary_opts)
        return long if isinstance(value, bool) and value is info["flag_value"] else None
    if isinstance(value, bool) and not isinstance(opt.type, click.types.BoolParamType):
        return None  # a Python switch the option does not take (``texts=True`` against ``--texts FILE``)
    if isinstance(value, (tuple, list)):  # numbers as an option given them separated by commas (metavar A,B,...)
        return f"{long} {','.join(f'{v:g}' for v in value)}" if "," in (opt.metavar or "") else None
    return f"{long} {'none' if value is None else value if isinstance(value, str) else text}"


def flag_spelling(message: str, command: click.Command | None, running: str | None = None) -> str:
    """``message`` (raised below a command) with the command's parameters spelled as its flags:
    ``noise_ceiling=False`` -> ``--no-ceiling``, ``split='slots'`` -> ``--split slots``,
    ``pass dtype=None`` -> ``leave out --dtype``, ``debiased=False`` -> ``without --debiased``,
    ``stratify_by=None`` -> ``--stratify-by none``, ``alphas=(0.1, 1.0, 10.0)`` -> ``--alphas 0.1,1,10`` (an
    option whose metavar lists values separated by commas),
    ``['reps']`` -> ``[--reps]``, ``min_reliability`` (or ``min_reliability=``) -> ``--min-reliability``,
    ``max_n: None (existing) != 5 (asked)`` -> ``without --max-n (existing) != --max-n 5 (asked)``.
    Errors and warnings of a command are shown so.

    The parameter names come from the command's options (their ``name`` and option strings);
    names that are no option of ``command`` stay as they are, and a name without an underscore
    is changed only where it names an option (``name=value``, a list of names, the subject of
    "has no effect"), never in prose; ``name=True`` / ``name=False`` stays as it is where the option
    takes a value (``texts=True`` is no ``--texts FILE``). The messages of a :class:`KeysCommand`
    are left as they are. Inputs named by a library function's argument and their set are named as
    the set (``b (mA)`` -> ``mA``, ``features (net/l1)`` -> ``net.l1``), for every command; the library
    function (or entry kind) a message starts with as the command (``split_distance:`` -> ``shape:``), an
    inference function as the command and the option that asked for its entry (``bootstrap:`` -> ``forward
    --bootstrap:``, ``permutation_test:`` -> ``forward --permutations:``).

    Parameters
    ----------
    message : str
        One line raised by the library (Python spelling).
    command : click.Command or None
        The command that failed (``None``: the message as is).
    running : str, optional
        The option whose work the command was doing (:func:`running`): names an inference function's
        message (default: the option of its entries' procedure, ``--bootstrap``, or ``--permutations`` for a
        function that computes permutations only: :func:`neuroxr.cli._callers.inference_functions`).

    Returns
    -------
    str
    """
    message = _set_names(message)
    if isinstance(command, KeysCommand):
        from ._keys import key_spelling

        return key_spelling(compare_advice(message, config=True), command.keys())
    if command is None:
        return message
    message = _compare_spelling(message, command)
    inference = _inference_caller(message)  # an inference entry's function: the command and its option
    caller = _CALLER.match(message)  # the library function that raised it: the command the user ran
    option = running or (inference[1] if inference else "")
    if inference and any(option in p.opts for p in command.params if isinstance(p, click.Option)):
        message = f"{command.name} {option}: {message[len(inference[0]):]}"
    elif caller and _library_name(caller.group(1)):
        message = f"{command.name}: {message[caller.end():]}"
    opts = {p.name: p for p in command.params if isinstance(p, click.Option) and p.name and p.opts[0].startswith("-")}
    if not opts:
        return message

    def assign(m: re.Match) -> str:
        opt = opts.get(m.group(2))
        if opt is None:
            return m.group(0)
        try:
            value = literal(m.group(3))
        except (ValueError, SyntaxError):
            return m.group(0)
        out = _given_as(opt, value, m.group(3))
        if out is None:
            return m.group(0)
        if m.group(1) and out.startswith("without "):  # "pass x=None" -> "leave out --x"; "with x=False" -> "without --x"
            return out if m.group(1) == "with " else f"leave out {out[8:]}"
        return (m.group(1) or "") + out

    def quoted(m: re.Match) -> str:
        names = [n.strip("'") for n in m.group(1).split(", ")]
        return f"[{', '.join(_flag(opts[n]) for n in names)}]" if all(n in opts for n in names) else m.group(0)

    def listed(m: re.Match) -> str:
        names = [m.group(1)] + re.split(r", and |, or |, | and | or ", m.group(2))[1:]
        if not all(n in opts for n in names):
            return m.group(0)
        return re.sub(r"[a-z][a-z0-9_]*", lambda w: _flag(opts[w.group(0)]) if w.group(0) in opts else w.group(0), m.group(0))

    def differs(m: re.Match) -> str:  # both sides as the flags that give them, else as it is
        opt = opts.get(m.group(1))
        try:
            sides = [_given_as(opt, literal(t), t) for t in m.group(2, 3)] if opt is not None else [None]
        except (ValueError, SyntaxError):
            return m.group(0)
        return m.group(0) if None in sides else f"{sides[0]} (existing) != {sides[1]} (asked)"

    if "resample_seed" in opts:  # a metric's inference entry: its seed is --resample-seed (--seed seeds the metric)
        message = " | ".join(_METRIC_INFERENCE.sub("resample_seed: ", part) if _METRIC_INFERENCE_PATH.search(part)
                             else part for part in message.split(" | "))
    message = _DIFFERS.sub(differs, message)
    message = _ASSIGN.sub(assign, message)
    message = _KEYWORD.sub(lambda m: _flag(opts[m.group(1)]) if m.group(1) in opts else m.group(0), message)
    message = _QUOTED_LIST.sub(quoted, message)
    message = _NAME_LIST.sub(listed, message)
    message = _SUBJECT.sub(lambda m: m.group(1) + (_flag(opts[m.group(2)]) if m.group(2) in opts else m.group(2)), message)
    message = _UNDERSCORED.sub(lambda m: _flag(opts[m.group(1)]) if m.group(1) in opts else m.group(1), message)
    return _AGAIN.sub(r"\1\2", message)


def _compare_spelling(message: str, command: click.Command) -> str:
    """``message`` with the resampled RSA's advice on its comparisons as ``command``'s option and its values
    (:func:`compare_advice`)."""
    opt = next((p for p in command.params if isinstance(p, click.Option) and p.name == "compare_method"), None)
    choices = tuple(opt.type.choices) if opt is not None and isinstance(opt.type, click.Choice) else None
    return compare_advice(message, _flag(opt) if opt is not None else None, choices)


def _missing_package(exc: ImportError) -> str:
    """What a missing package's ``ImportError`` says to a command-line user: the package and how to install it."""
    if isinstance(exc, ModuleNotFoundError) and exc.name:
        from ..errors import install_advice

        return f"this needs the package {exc.name!r}, which is not installed: {install_advice(exc.name)}."
    return f"this needs a package that is not installed ({one_line(exc).rstrip('.')})."


def _quiet_stdout() -> None:
    """Point stdout at the null device, so that the flush at exit does not fail on the closed pipe
    again (Python's documented handling of ``BrokenPipeError``; exit status 1)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (AttributeError, OSError, ValueError):  # no file descriptor (e.g. click's test runner)
        pass


class _OneLineUsage(click.ClickException):
    exit_code = 2


def _show_warning(message: Any, category: type, *_: Any, **__: Any) -> None:
    ctx = click.get_current_context(silent=True)  # the running command's: its parameters spelled as its flags
    spelled = flag_spelling(one_line(message), ctx.command if ctx is not None else None,
                            ctx.meta.get(_RUNNING) if ctx is not None else None)
    click.echo(f"Warning: {spelled}", err=True)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value and not ctx.resilient_parsing:
        click.echo(f"neuroxr, version {_version()}")
        ctx.exit()


@click.group(cls=_Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--version", "-V", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Print the version and exit.")
def main() -> None:
    """Compare artificial neural networks with brains on labeled arrays in Zarr study stores."""


class Output:
    """Where a command's output goes: text (default), one JSON object (``--json``) or nothing (``--quiet``).

    Errors are never silenced: they go to stderr as one line with a non-zero exit.
    """

    def __init__(self, as_json: bool = False, quiet: bool = False) -> None:
        if as_json and quiet:
            raise click.UsageError("--json prints one JSON object on stdout and --quiet prints nothing there: pass one "
                                   "of them.")
        self.as_json, self.quiet = as_json, quiet
        if quiet:  # inside the command's catch_warnings (_handled): restored when the command ends
            warnings.simplefilter("ignore")

    @property
    def text(self) -> bool:
        """Whether text output is printed."""
        return not (self.as_json or self.quiet)

    def echo(self, message: str = "", err: bool = False) -> None:
        if self.text:
            click.echo(message, err=err)

    def json(self, obj: Any) -> None:
        if self.as_json:
            click.echo(to_json(obj))


def output_options(fn: Callable) -> Callable:
    """Add ``--json`` and ``--quiet/-q`` (passed as ``as_json`` and ``quiet``) to a command."""
    fn = click.option("--quiet", "-q", is_flag=True, default=False, help="Print nothing but errors.")(fn)
    return click.option("--json", "as_json", is_flag=True, default=False, help="Print the result as one JSON object.")(fn)


def progress_for(out: Output, desc: str) -> bool | Callable[[Iterable[Any]], Iterable[Any]]:
    """The ``progress`` argument of a computation: a bar on a terminal, a plain line off one, none
    with ``--json`` or ``--quiet``."""
    if not out.text or sys.stderr is None:  # no stderr (started with it closed, 2>&-): nowhere to show it
        return False
    if sys.stderr.isatty():
        return True

    def lines(items: Iterable[Any]) -> Iterable[Any]:
        items = list(items)
        n = len(items)
        step = max(1, n // 10)
        given = done = 0
        try:
            for i, item in enumerate(items, 1):
                given = i
                yield item
                done = i
                if i % step == 0 or i == n:
                    click.echo(f"{desc}: {i}/{n}", err=True)
        finally:  # a consumer that takes exactly n items (next() n times) closes the iterator after the last
            if n and given == n and done < n:
                click.echo(f"{desc}: {n}/{n}", err=True)

    return lines


def not_empty(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    """Option callback: an empty (or blank) string is refused, never taken for the default."""
    if isinstance(value, str) and not value.strip():
        raise click.BadParameter("is empty; give a value, or leave the option out for its default.")
    return value


def open_store_or_fail(url: str, mode: str = "r") -> Any:
    """The store of a command, opened once (``mode`` "r" or "a"; fsspec options: :func:`storage_options_for`); a missing
    store is a CLI error in the same line in either mode (no Python advice on making it), never created by a command."""
    from ..store import StoreError
    from ..store.foreign import NEW_STORE_ADVICE
    from ..store.study import as_store

    try:
        return as_store(url, mode, storage_options=storage_options_for(url))
    except StoreError as exc:  # a command never makes a store: neither advice on making one is its
        said = _MAKE_ADVICE.sub("", one_line(exc.args[0] if exc.args else exc)).replace(f", or {NEW_STORE_ADVICE}.", ".")
        raise click.ClickException(said) from None
    except ImportError as exc:  # the URL's fsspec file system needs a package that is not installed (gcsfs, adlfs, ...)
        raise click.ClickException(f"cannot open the store {url!r}: {_missing_package(exc)}") from None


#: the last clause of a store's refusal that tells a Python caller to make the store (``StudyStore(path, create=True)``)
_MAKE_ADVICE = re.compile(r"; [^;]*\bcreate=True\b[^;]*?(?=\.?$)")


def table(rows: list[list[Any]], header: list[str], indent: str = "  ") -> str:
    """Left-aligned plain-text table."""
    cells = [[str(c) for c in header]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    return "\n".join(indent + line for line in lines)


def report_validation(url: str, problems: list[str], n_entries: int, out: Output | None = None) -> None:
    """Print the outcome of :func:`neuroxr.schemas.validate_store` (problems on stderr)."""
    out = out or Output()
    problems = [cli_advice(p) for p in problems]  # the command line's advice, no Python class names
    if problems:
        if not out.as_json:  # quiet still shows the problems: they are the error
            click.echo(f"{url}: {len(problems)} problem(s) found:", err=True)
            for p in problems:
                click.echo(f"  - {p}", err=True)
    else:
        out.echo(f"{url}: valid study store ({n_entries} entries).")
