"""The library's Python advice as the command line's: what a command-line user does instead of a
Python call, selection or keyword argument (used by :func:`neuroxr.cli._common.flag_spelling`)."""

from __future__ import annotations

import ast
import re

from ..alignment import STORE_ADVICE

__all__ = ["cli_advice", "compare_advice", "out_of_memory", "too_large"]

#: the Python advice of library messages and what a command-line user does instead (every command): the
#: command line cannot select stimuli, bins or coords of a set, pass ids or call library functions
_ADVICE = [*STORE_ADVICE] + [(re.compile(pattern), text) for pattern, text in (  # first: the stimuli, as compute says it
    # time bins: a static set where a time-resolved one is needed, and the other way round
    (r"build it with nx\.neural\(\.\.\., time_bins=\.\.\.\)",
     "give a time-resolved neural set (one written with its time bins)"),
    (r"select one bin, e\.g\. \w+\.isel\(time_bin=0\), and score the bins one at a time",
     "write one bin of it to the store as a set of its own, or score it with a direction (forward, reverse, "
     "inter-animal), which scores every bin"),
    (r"drop the dim with \w+\.isel\(time_bin=0\), or pass the responses without time_bins",
     "write it to the store without its time bin"),
    (r"select the common bins first, e\.g\. \w+\.isel\(time_bin=(?:\[[\d, ]*\]|slice\(\d+, \d+\))\)"
     r"(?: and \w+\.isel\(time_bin=(?:\[[\d, ]*\]|slice\(\d+, \d+\))\))? "
     r"so both hold the same bins", "write sets with the same time bins to the store"),
    (r"pass responses of the same time bins", "write sets with the same time bins to the store"),
    # a bin of a time-resolved design without data, or constant
    (r"Select the bins where it has data, e\.g\. \w+\.isel\(time_bin=\[([\d, ]*)\]\) and \w+\.isel\(time_bin=\[([\d, ]*)\]\)",
     r"Write both sets again with only the bins where this one has data (its positions \1; the other's \2)"),
    (r"Select the bins where it has data, e\.g\. \w+\.isel\(time_bin=\[([\d, ]*)\]\)",
     r"Write the set again with only the bins where it has data (\1)"),
    (r"Or select the other bins, e\.g\. \w+\.drop_isel\(time_bin=\d+\)", "Or write the set again without that bin"),
    (r"select the other bins of both animals, e\.g\. \w+\.isel\(time_bin=\[[\d, ]*\]\) and \w+\.isel\(time_bin=\[[\d, ]*\]\)",
     "write both sets again without those bins"),
    (r"Or drop that bin from both animals, e\.g\. \w+\.drop_isel\(time_bin=\d+\) and \w+\.drop_isel\(time_bin=\d+\)",
     "Or write both sets again without that bin"),
    # brainscore's strata: a coord the sets lack
    (r"add it \(e\.g\. \w+\.assign_coords\(\w+=\('stimulus', \w+\)\)\) or", "name a stimulus coord they have or"),
    # extraction: ids from file names, a layer left out, a layer reduced by an earlier revision
    (r"Pass stimulus_ids=\.\.\. explicitly \(file names are used without their extension\)",
     "Rename the files (their names without the extension are the ids), or give the ids with --ids FILE (one per "
     "line, for the files sorted by name)"),
    (r"leave this layer out \(layers=\.\.\.\)", "leave this layer out (name the others with --layer)"),
    (r"extract_features\(\.\.\., .*?\) \((neuroxr extract [^()]*)\)", r"\1"),
    (r"; replace or remove it, or pass the other files", "; replace or remove it"),
    (r"pass layers=\['([^']+)'\] \(--layer \1\)", r"pass --layer \1"),
    (r"pass layers=\['([^']+)'\]", r"pass --layer \1"),
    (r"list them in layers=\[\.\.\.\]", "name them with --layer"),
    (r" See dict\(model\.named_modules\(\)\) for all names\.", " neuroxr extract --dry-run (without --layer) lists the "
     "leaf modules."),
    (r"drop pooling, or extract layers with token outputs \(layers=, --layer\)",
     "drop --pooling, or extract layers with token outputs (--layer)"),
    (r"its reduction (None|\{[^{}]*\}) differs from (None|\{[^{}]*\})",
     lambda m: f"its reduction ({_reduction(m.group(1))}) differs from this extraction's ({_reduction(m.group(2))})"),
    (r" or pass transform= to replace the model's preprocessing", ""),  # no transform on the command line
    (r"pass transform= a callable that takes (.+?) and returns the model input \(a tensor\)",
     r"give a model whose own preprocessing takes \1"),
    # a library message that also names the flag (``image_size=, --image-size on the command line``)
    (r"\([a-z_]+=, (--[a-z-]+) on the command line\)", r"(\1)"),
    (r"\(require_existing=False; on the command line, leave out --require-existing\)", "(leave out --require-existing)"),
    # a damaged set: written again as it was written (the command line writes layers with neuroxr extract)
    (r"rewrite the set \(StudyStore\.write_neural\)", "write the set again (as it was written: a converter or a script)"),
    (r"\(neuroxr extract, StudyStore\.write_features\)", "(neuroxr extract --overwrite)"),
    # a damaged or edited group: the command line deletes nothing, and a score computes a damaged entry again
    (r"delete (?:the set|it) \(StudyStore\.invalidate\) or write it again",
     "write the set again (a layer: neuroxr extract --overwrite), or delete its folder"),
    (r"delete the entry \(StudyStore\.invalidate\) or write it again", "run its score command again (it is computed again)"),
    (r"delete it \(StudyStore\.invalidate\) and compute it again", "run its score command again (it is computed again)"),
    # a store without layers: the command line writes them with neuroxr extract
    (r"\(write_features, neuroxr extract\)", "(neuroxr extract)"),
    # a store this user cannot write to (neuroxr score reads it: a missing entry is refused before the work)
    (r"is open read-only and holds no entry ('[^']*') that matches the request; open it with mode='a' to compute and "
     r"write it", r"is read-only for this user and holds no entry \1 that matches the request; fix its permissions to "
     "compute and write it"),
    (r"open it with mode='r' or fix its permissions", "fix its permissions"),
    # a write that met another process's copy (an entry or a layer): every writing command has --overwrite
    (r"\(ask for an overwrite to replace it\)", "(run the command again with --overwrite to replace it)"),
    # a URL of a protocol fsspec does not know (the store's URL)
    (r"^Protocol not known: (\w+)$", r"fsspec knows no protocol '\1'; give a path or a URL such as s3://bucket/study.zarr."),
    # the fold check's inputs by their Python arguments (``neural/features``): the command names both sets
    (r"\b(?:neural|features|source|neural_a|features_a)/(?:neural|features|neural_b|features_b) \(training stimuli\)",
     "the training stimuli"),
    (r": (?:neural|features|source|neural_a|features_a)/(?:neural|features|neural_b|features_b): ", ": "),
    # neuroxr's own error classes before a failed entry's or unreadable entry's message (the message says what)
    (r"\b(?:Layout|Parameter|Store|Backend|SweepConfig|Sweep|Extraction|DataNotFound)Error: ", ""),
    # an interval NaN for undefined resamples: the Python functions' nan_policy, which no command takes
    (r" \(the Python functions' nan_policy='omit' takes the defined resamples only\)", ""),
    # the sweep's keyword arguments where its command takes a flag or leaves a config key out
    (r"client='serial'", "--scheduler serial"),
    (r"use regions=None", "leave out regions"),
    (r"needs max_n=None", "needs no max_n"),
)]


def _reduction(spec: str) -> str:
    """A stored layer's reduction (``None`` or ``{'method': 'pca', 'n_components': 2, ...}``) as the flags of
    ``neuroxr extract`` that ask for it."""
    value = ast.literal_eval(spec)
    if value is None:
        return "--reduction none"
    flags = {"method": "--reduction", "n_components": "--n-components", "fit_stimuli": "--fit-stimuli", "seed": "--seed"}
    return " ".join(f"{flags.get(k, k)} {v}" for k, v in value.items() if v is not None)


def cli_advice(message: str) -> str:
    """``message`` with the Python advice of a library message (``nx.neural(..., time_bins=...)``,
    ``b.isel(time_bin=0)``, ``stimulus_ids=...``) replaced by what a command-line user does."""
    for pattern, text in _ADVICE:
        message = pattern.sub(text, message)
    return message


#: the resampled RSA's comparisons with its note on the Python functions' spelling of Pearson
#: (:func:`neuroxr.entries.metrics.check_inference_params`: ``choose one of ('pearson', ...) ('corr' is Pearson)``)
_RESAMPLED_COMPARES = re.compile(r"choose one of \(('[a-z]+'(?:, '[a-z]+')*)\) \('corr' is Pearson\)")


def compare_advice(message: str, flag: str | None = None, choices: tuple[str, ...] | None = None,
                   config: bool = False) -> str:
    """``message`` with the resampled RSA's advice on its comparisons in the spelling of where they are given:
    on the command line the option and its values (``choose --compare-method pearson, spearman or cosine``),
    which take no ``'corr'``; in a config file YAML's values (``choose one of ('pearson', ...) (corr is
    pearson)``, ``corr`` being a value the file may give).

    Parameters
    ----------
    message : str
        One line raised by the library.
    flag : str, optional
        The command's option of the comparison (``--compare-method``; ``None``: the command has none, and
        the advice lists the values without the Python spelling).
    choices : tuple of str, optional
        The values ``flag`` takes (default: any); the advice names those it takes.
    config : bool, default False
        Whether the message is a config file's (``neuroxr sweep CONFIG``): ``flag`` and ``choices`` unused.

    Returns
    -------
    str
    """
    def spelled(m: re.Match) -> str:
        if config:
            return f"choose one of ({m.group(1)}) (corr is pearson)"
        names = [n for n in (q.strip("'") for q in m.group(1).split(", ")) if choices is None or n in choices]
        if flag is None or not names:
            return f"choose one of ({m.group(1)})"
        return f"choose {flag} {names[0] if len(names) == 1 else ', '.join(names[:-1]) + ' or ' + names[-1]}"

    return _RESAMPLED_COMPARES.sub(spelled, message)


def too_large(exc: BaseException) -> bool:
    """Whether ``exc`` is NumPy's refusal of an array larger than any memory (a ``ValueError``)."""
    return isinstance(exc, ValueError) and str(exc).startswith(("Maximum allowed dimension exceeded", "array is too big"))


def out_of_memory(exc: BaseException) -> str:
    """The one line of a request larger than the machine (a ``MemoryError``, or :func:`too_large`)."""
    return (f"out of memory: {' '.join(str(exc).split()) or 'MemoryError'}; this request needs more memory than the "
            "machine has: lower --reps / --bootstrap / --permutations, or score fewer units or stimuli.")
