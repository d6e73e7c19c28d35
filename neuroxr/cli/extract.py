"""The click ``extract`` command (registered by the ``neuroxr`` command line)."""

from __future__ import annotations

from typing import Any

import click

from ._common import Output, SpelledCommand, cli_advice, one_line, output_options, storage_options, storage_options_for
from ._storage import store_writable

#: ``--dtype``'s choices: the floating dtypes a layer may be stored as (``neuroxr.extract.plan.storage_dtype``)
STORED_DTYPES = ("float16", "float32", "float64")
#: defaults of the options that are ``extract_features``'s keywords of the same names (a test compares them)
DEFAULTS: dict[str, Any] = {"unit_chunk": 4096, "flatten": True, "deduplicate": True}


def make_extract_command() -> Any:
    """Build the ``extract`` click command (torch and the extraction modules are imported when it runs)."""

    @click.command("extract", cls=SpelledCommand)
    @click.argument("store")
    @click.option("--model", "model_spec", required=True,
                  help="'package.module:factory' or 'path/to/file.py:factory' (a factory returning an nn.Module, or the module object).")
    @click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="A state dict to load into the model (torch.load with weights_only=True; every key must fit).")
    @click.option("--images", default=None, type=click.Path(exists=True, file_okay=False),
                  help="Folder of images; stimulus ids are the file names without extension.")
    @click.option("--texts", default=None, type=click.Path(exists=True, dir_okay=False),
                  help="A UTF-8 file with one text per line (the model must carry a tokenizer or processor "
                       "attribute); stimulus ids are text0 (line 1), text1 (line 2), ...; a blank line is refused.")
    @click.option("--ids", "stimulus_ids", default=None, type=click.Path(exists=True, dir_okay=False),
                  help="A UTF-8 file with one stimulus id per line, in the order of the images (sorted by file name) or "
                       "of the texts (default: the file names without extension; text0, text1, ...).")
    @click.option("--model-name", required=True, help="Name of the model in the store: features/<model-name>/<layer>.")
    @click.option("--layer", "layers", multiple=True, help="Module name (or its layer name) to extract (repeatable; default: every leaf module).")
    @click.option("--memory-limit", default="1GiB", show_default=True, help="Budget for what the extraction holds, e.g. 4GiB.")
    @click.option("--batch-size", default=32, show_default=True, type=click.IntRange(min=1))
    @click.option("--device", default="cpu", show_default=True, help="A torch device available here: cpu, cuda, cuda:1, mps.")
    @click.option("--image-size", default=None, type=click.IntRange(min=1),
                  help="Images are resized and centre-cropped to this square size, then ImageNet-normalised "
                       "(default 224; refused with --texts and when the model carries its own preprocessing).")
    @click.option("--pooling", type=click.Choice(["auto", "none", "mean", "cls", "last"]), default="auto", show_default=True,
                  help="Pooling over tokens of (batch, tokens, dim) outputs; auto: mean for texts, none for images "
                       "(mean, cls, last: refused when no extracted layer has such an output).")
    @click.option("--reduction", type=click.Choice(["none", "srp", "pca"]), default="none", show_default=True)
    @click.option("--n-components", type=click.IntRange(min=1), default=None,
                  help="Components of the reduction (needs --reduction).")
    @click.option("--fit-stimuli", type=click.IntRange(min=1), default=None,
                  help="Stimuli the PCA is fitted on (default: all; needs --reduction pca).")
    @click.option("--seed", type=click.IntRange(min=0, max=2**32 - 1), default=0, show_default=True,
                  help="Seed of the reduction, 0 to 2**32 - 1 (needs --reduction).")
    @click.option("--dtype", type=click.Choice(STORED_DTYPES), default=None,
                  help="Stored dtype (default: the layer's own floating dtype; float32 for reduced layers).")
    @click.option("--unit-chunk", type=click.IntRange(min=1), default=DEFAULTS["unit_chunk"], show_default=True,
                  help="Largest number of units per stored chunk (lowered to fit --memory-limit).")
    @click.option("--flatten/--no-flatten", default=DEFAULTS["flatten"], show_default=True,
                  help="Flatten each output to (stimulus, unit) (channel, y, x or token coords on unit); --no-flatten "
                       "stores only outputs that already are (batch, units) or pooled tokens.")
    @click.option("--deduplicate/--no-deduplicate", default=DEFAULTS["deduplicate"], show_default=True,
                  help="Leave modules that return an earlier module's very output (in-place activations, Identity, "
                       "Dropout) out of the default selection (without --layer).")
    @click.option("--staging-dir", type=click.Path(exists=True, file_okay=False), default=None,
                  help="Local folder for the raw staging files of a pass (default: the system temp folder).")
    @click.option("--overwrite", is_flag=True, help="Recompute layers that are already complete.")
    @click.option("--dry-run", is_flag=True, help="Print the plan (shapes, bytes, passes) and write nothing.")
    @click.option("--progress/--no-progress", default=True, show_default=True,
                  help="A bar over batches on a terminal, plain lines ('<model>: pass 1/2: 3/10 batches') off one; none "
                       "with --json or --quiet.")
    @storage_options
    @output_options
    def extract_command(
        store: str, model_spec: str, weights: str | None, images: str | None, texts: str | None, stimulus_ids: str | None,
        model_name: str, layers: tuple[str, ...],
        memory_limit: str, batch_size: int, device: str, image_size: int | None, pooling: str, reduction: str,
        n_components: int | None, fit_stimuli: int | None, seed: int, overwrite: bool, dry_run: bool, progress: bool,
        as_json: bool, quiet: bool, dtype: str | None = None, unit_chunk: int = DEFAULTS["unit_chunk"],
        flatten: bool = DEFAULTS["flatten"], deduplicate: bool = DEFAULTS["deduplicate"], staging_dir: str | None = None,
    ) -> None:
        """Extract a torch model's layer activations for a folder of images (or texts) into the study STORE.

        Each layer goes to features/<model-name>/<layer> in bounded memory; re-running after an
        interruption skips the layers already complete when they came from the same model weights,
        preprocessing and stimuli (else it stops: pass --overwrite or another --model-name).
        """

        from ..errors import ExtractionError, ExtractionParameterError, StoreError
        from ..extract.models import check_device, load_model, load_weights, select_modules
        from ..extract.plan import parse_memory
        from ..extract.preprocess import DEFAULT_IMAGE_SIZE, resolve_preprocessing
        from ..extract.run import extract_features
        from ..extract.stimuli import require_tokenizer
        from ..store import _check_name as check_name

        out_ = Output(as_json, quiet)
        if (images is None) == (texts is None):
            raise click.UsageError("pass exactly one of --images FOLDER or --texts FILE.")
        if texts is not None and image_size is not None:
            raise click.UsageError("--image-size sizes images and has no effect with --texts; drop it.")
        if layers and deduplicate != DEFAULTS["deduplicate"]:  # the named layers are stored, each with its own output
            raise click.UsageError("--no-deduplicate acts on the default selection of layers and has no effect with "
                                   "--layer; drop one of them.")
        if len(set(layers)) < len(layers):  # a value the command cannot use: a usage error (exit 2), as every command's
            raise click.BadParameter(f"names a module twice: {sorted({n for n in layers if layers.count(n) > 1})}; "
                                     "give each module once.", param_hint="'--layer'")
        try:
            parse_memory(memory_limit)
        except ExtractionError as exc:  # as neuroxr sweep --memory-limit: a usage error naming the flag
            raise click.BadParameter(one_line(exc).removeprefix("memory_limit "), param_hint="'--memory-limit'") from None
        try:  # a name no set can have: a usage error naming the flag, as a bad --layer
            check_name(model_name, "model")
        except StoreError as exc:
            raise click.BadParameter(one_line(exc), param_hint="'--model-name'") from None
        if dry_run and staging_dir is not None:
            raise click.UsageError("--staging-dir holds the files of a pass and has no effect with --dry-run; drop it.")
        _refuse_no_store(store)
        stimuli: Any = images
        ids = None
        if texts is not None:
            stimuli = _read_lines(texts, "--texts", "text")
            ids = [f"text{i}" for i in range(len(stimuli))]
        if stimulus_ids is not None:
            ids = _ids_for(_read_lines(stimulus_ids, "--ids", "id"), stimuli)
        red = None
        if reduction == "none":  # the reduction's own options are never ignored silently
            ctx = click.get_current_context()
            given = [f"--{p.replace('_', '-')}" for p in ("n_components", "fit_stimuli", "seed")
                     if ctx.get_parameter_source(p) not in (None, click.core.ParameterSource.DEFAULT)]
            if given:
                raise click.UsageError(f"{', '.join(given)} {'applies' if len(given) == 1 else 'apply'} only with "
                                       f"--reduction srp|pca; add --reduction or drop {' and '.join(given)}.")
        else:
            if n_components is None:
                raise click.UsageError("--reduction needs --n-components.")
            red = {"method": reduction, "n_components": n_components, "seed": seed}
            if fit_stimuli is not None and reduction != "pca":  # a usage error as without --reduction, exit 2
                raise click.UsageError("--fit-stimuli applies only with --reduction pca: a sparse random projection is "
                                       "drawn, not fitted; drop --fit-stimuli or pass --reduction pca.")
            if fit_stimuli is not None:
                red["fit_stimuli"] = fit_stimuli
        for option, step in (("--device", lambda: check_device(device)), ("--model", lambda: load_model(model_spec))):
            try:  # a bad device, model or weights file: a usage error naming its option
                model = step()
            except ExtractionError as exc:
                raise click.BadParameter(one_line(exc), param_hint=f"'{option}'") from None
        if weights is not None:
            try:
                load_weights(model, weights)
            except ExtractionError as exc:
                raise click.BadParameter(one_line(exc), param_hint="'--weights'") from None
        if layers:  # a module the model lacks (or names ambiguously): a usage error naming --layer, before the store is touched
            try:
                select_modules(model, list(layers))
            except ExtractionError as exc:
                raise click.BadParameter(one_line(exc).removeprefix("layers: "), param_hint="'--layer'") from None
        if texts is not None:  # texts are always texts: a model that cannot tokenize them is refused, never fed them as files
            try:
                require_tokenizer(resolve_preprocessing(model), "the --model factory must return a model that carries one "
                                                                 "(e.g. set model.tokenizer = <a Hugging Face tokenizer>), "
                                                                 "or pass --images FOLDER")
            except ExtractionError as exc:
                raise click.BadParameter(one_line(exc), param_hint="'--texts'") from None
        rewritten: list[str] = []  # an interrupted --overwrite says which layers hold the new copy
        try:
            kw = dict(model_name=model_name, layers=list(layers) or None, stimulus_ids=ids, memory_limit=memory_limit,
                      batch_size=batch_size, device=device, image_size=DEFAULT_IMAGE_SIZE if image_size is None else image_size,
                      pooling=None if pooling == "none" else pooling, reduction=red, overwrite=overwrite,
                      texts=texts is not None, dtype=dtype, unit_chunk=unit_chunk, flatten=flatten, deduplicate=deduplicate)
            if not dry_run and not store_writable(store):  # planned first: a layer to write is refused before any pass
                _refuse_read_only(extract_features, model, stimuli, store, **kw)
            out = extract_features(  # a remote store opened with the fsspec options; created only when the extraction writes
                model, stimuli, store, storage_options=storage_options_for(store), dry_run=dry_run, staging_dir=staging_dir,
                progress=progress and out_.text,  # a bar on a terminal, plain lines off one
                on_layer_complete=rewritten.append if overwrite else None, **kw,
            )
        except ExtractionParameterError:  # an option with no effect here: the handler's usage error, as every ParameterError
            raise
        except (ExtractionError, StoreError) as exc:
            raise click.ClickException(one_line(exc)) from None
        except KeyboardInterrupt:  # the same command again would rewrite every layer: say which are new
            if rewritten:
                click.echo(f"--overwrite stopped after rewriting layer(s) {', '.join(rewritten)}; the other layers keep "
                           f"their previous copy: to go on, run it again with --overwrite and a --layer for each of them.",
                           err=True)
            raise
        if dry_run:
            out_.json({"dry_run": True, "plan": cli_advice(str(out))})  # the plan's advice as flags
            out_.echo(cli_advice(str(out)))
            return
        out_.json({"store": store, "model": model_name, "written": list(out.written), "skipped": list(out.skipped),
                   "passes": out.n_passes, "plan": cli_advice(str(out.plan))})
        out_.echo(cli_advice(str(out.plan)))
        out_.echo(
            f"wrote {len(out.written)} layer(s) to {store} in {out.n_passes} pass(es); "
            f"{len(out.skipped)} already complete."
        )

    return extract_command


def _refuse_no_store(store: str) -> None:
    """Refuse, before the model is loaded, a STORE that is a folder holding other files or a Zarr group neuroxr
    never wrote (:func:`neuroxr.store.foreign.foreign`), which the extraction refuses to make a study store: a new
    path, an empty folder (hidden files aside) and a study store are taken."""
    from ..store.foreign import foreign_at
    from ._common import storage_options_for

    why = foreign_at(store, storage_options_for(store))
    if why is not None:
        raise click.ClickException(f"{why}; check the path (neuroxr extract writes into a study store, or makes one in a "
                                   "new or empty folder).")


def _refuse_read_only(extract_features: Any, *args: Any, **kwargs: Any) -> None:
    """Refuse, before any pass, an extraction into a store this user cannot write to that would write a layer
    (its passes would run and their layers be lost at the write); one whose layers are all complete only reads."""
    import warnings

    from ._storage import read_only_error

    with warnings.catch_warnings():  # what the plan says is said by the extraction itself, once
        warnings.simplefilter("ignore")
        plan = extract_features(*args, dry_run=True, progress=False, **kwargs)
    todo = [lp.name for lp in plan.layers if lp.status != "complete"]
    if todo:
        raise read_only_error(args[2], f"writing layer(s) {', '.join(todo[:5])}{', ...' if len(todo) > 5 else ''}",
                              " (or pass --dry-run: the plan only reads)")


def _ids_for(ids: list[str], stimuli: Any) -> list[str]:
    """The ``--ids`` read, checked against the stimuli (a folder of images, or the texts read): one id per
    stimulus, none repeated."""
    from ..errors import ExtractionError
    from ..extract.stimuli import image_files

    try:
        n = len(stimuli) if isinstance(stimuli, list) else len(image_files(stimuli))
    except ExtractionError as exc:  # a folder without images: said by --images
        raise click.BadParameter(one_line(exc), param_hint="'--images'") from None
    what = "texts" if isinstance(stimuli, list) else "images (sorted by file name)"
    if len(ids) != n:
        raise click.BadParameter(f"gives {len(ids)} ids for {n} stimuli ({what}); give one id per line for each, "
                                 "in their order.", param_hint="'--ids'")
    padded = [(line, sid) for line, sid in enumerate(ids, 1) if sid != sid.strip()]
    if padded:  # 'a0 ' would never pair with the neural data's 'a0' (a Windows editor's or a spreadsheet's trailing blank)
        line, sid = padded[0]
        raise click.BadParameter(f"{len(padded)} id(s) begin or end with white space, e.g. line {line}: {sid!r}; remove it "
                                 "(an id pairs with the neural data's ids as written).", param_hint="'--ids'")
    seen: dict[str, int] = {}
    for line, sid in enumerate(ids, 1):
        if sid in seen:
            raise click.BadParameter(f"id {sid!r} is repeated (lines {seen[sid]} and {line}); give each stimulus its "
                                     "own id.", param_hint="'--ids'")
        seen[sid] = line
    return ids


def _read_lines(path: str, flag: str, what: str) -> list[str]:
    """One ``what`` (a text, an id) per line of the file ``path`` given as ``flag``; a blank line is refused
    (never dropped, which would pair every later line with another stimulus)."""
    try:
        with open(path, encoding="utf-8-sig") as f:  # a byte-order mark is not part of the first line
            lines = [line.rstrip("\n") for line in f]
    except UnicodeDecodeError as exc:
        raise click.BadParameter(f"{path!r} is not UTF-8 text ({exc.reason} at byte {exc.start}).",
                                 param_hint=f"'{flag}'") from None
    blank = [i + 1 for i, t in enumerate(lines) if not t.strip()]
    if not lines:
        raise click.BadParameter(f"{path!r} holds no {what}s; put one {what} per line.", param_hint=f"'{flag}'")
    if blank:
        whose = "its id text<line - 1>" if flag == "--texts" else "the id of the stimulus at that position"
        raise click.BadParameter(
            f"{path!r} has {len(blank)} blank line(s), e.g. line {blank[0]}; each line is one {what}, {whose}, "
            f"so remove the blank lines or put {'a text' if what == 'text' else 'an id'} on them.", param_hint=f"'{flag}'")
    return lines


extract_command = make_extract_command()
