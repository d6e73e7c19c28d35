"""The click ``extract`` command (registered by the ``neuroxr`` command line)."""

from __future__ import annotations

from typing import Any

import click

from ._common import Output, current_storage_options, one_line, output_options, storage_options


def make_extract_command() -> Any:
    """Build the ``extract`` click command (torch and the extraction modules are imported when it runs)."""

    @click.command("extract")
    @click.argument("store")
    @click.option("--model", "model_spec", required=True,
                  help="'package.module:factory' or 'path/to/file.py:factory' (a factory returning an nn.Module, or the module object).")
    @click.option("--weights", type=click.Path(exists=True, dir_okay=False), default=None,
                  help="A state dict to load into the model (torch.load with weights_only=True).")
    @click.option("--images", default=None, type=click.Path(exists=True, file_okay=False),
                  help="Folder of images; stimulus ids are the file names without extension.")
    @click.option("--texts", default=None, type=click.Path(exists=True, dir_okay=False),
                  help="A UTF-8 file with one text per line (the model must carry a tokenizer or processor "
                       "attribute); stimulus ids are text0, text1, ...")
    @click.option("--model-name", required=True, help="Name of the model in the store: features/<model-name>/<layer>.")
    @click.option("--layer", "layers", multiple=True, help="Module name to extract (repeatable; default: every leaf module).")
    @click.option("--memory-limit", default="1GiB", show_default=True, help="Budget for what the extraction holds, e.g. 4GiB.")
    @click.option("--batch-size", default=32, show_default=True, type=int)
    @click.option("--device", default="cpu", show_default=True)
    @click.option("--image-size", default=224, show_default=True, type=int,
                  help="Images are resized and centre-cropped to this square size, then ImageNet-normalised "
                       "(unless the model carries its own preprocessing).")
    @click.option("--pooling", type=click.Choice(["auto", "none", "mean", "cls", "last"]), default="auto", show_default=True,
                  help="Pooling over tokens of (batch, tokens, dim) outputs; auto: mean for texts, none for images.")
    @click.option("--reduction", type=click.Choice(["none", "srp", "pca"]), default="none", show_default=True)
    @click.option("--n-components", type=int, default=None, help="Components of the reduction.")
    @click.option("--fit-stimuli", type=int, default=None, help="Stimuli the reduction is fitted on (default: all).")
    @click.option("--seed", type=int, default=0, show_default=True, help="Seed of the reduction.")
    @click.option("--overwrite", is_flag=True, help="Recompute layers that are already complete.")
    @click.option("--dry-run", is_flag=True, help="Print the plan (shapes, bytes, passes) and write nothing.")
    @click.option("--progress/--no-progress", default=True, show_default=True,
                  help="A bar over batches on a terminal (none off a terminal, with --json or --quiet).")
    @storage_options
    @output_options
    def extract_command(
        store: str, model_spec: str, weights: str | None, images: str | None, texts: str | None, model_name: str, layers: tuple[str, ...],
        memory_limit: str, batch_size: int, device: str, image_size: int, pooling: str, reduction: str,
        n_components: int | None, fit_stimuli: int | None, seed: int, overwrite: bool, dry_run: bool, progress: bool,
        as_json: bool, quiet: bool,
    ) -> None:
        """Extract a torch model's layer activations for a folder of images (or texts) into the study STORE.

        Each layer goes to features/<model-name>/<layer> in bounded memory; re-running after an
        interruption skips the layers already complete.
        """

        from ..errors import ExtractionError, StoreError
        from ..extract.models import load_model
        from ..extract.run import extract_features

        out_ = Output(as_json, quiet)
        if (images is None) == (texts is None):
            raise click.UsageError("pass exactly one of --images FOLDER or --texts FILE.")
        stimuli: Any = images
        ids = None
        if texts is not None:
            with open(texts, encoding="utf-8") as f:
                stimuli = [line.rstrip("\n") for line in f if line.strip()]
            ids = [f"text{i}" for i in range(len(stimuli))]
        red = None
        if reduction != "none":
            if n_components is None:
                raise click.UsageError("--reduction needs --n-components.")
            red = {"method": reduction, "n_components": n_components, "seed": seed}
            if fit_stimuli is not None:
                red["fit_stimuli"] = fit_stimuli
        try:
            so = current_storage_options()
            target: Any = store
            if so is not None:  # a remote store with fsspec options: open it here with them
                from ..store import StudyStore

                target = StudyStore(store, storage_options=so)
            model = load_model(model_spec, weights)
            out = extract_features(
                model, stimuli, target, model_name=model_name, layers=list(layers) or None, stimulus_ids=ids,
                memory_limit=memory_limit, batch_size=batch_size, device=device, image_size=image_size,
                pooling=None if pooling == "none" else pooling,
                reduction=red, overwrite=overwrite, dry_run=dry_run,
                progress=progress and out_.text,  # a bar on a terminal, plain lines off one
            )
        except (ExtractionError, StoreError) as exc:
            raise click.ClickException(one_line(exc)) from None
        if dry_run:
            out_.json({"dry_run": True, "plan": str(out)})
            out_.echo(str(out))
            return
        out_.json({"store": store, "model": model_name, "written": list(out.written), "skipped": list(out.skipped),
                   "passes": out.n_passes, "plan": str(out.plan)})
        out_.echo(str(out.plan))
        out_.echo(
            f"wrote {len(out.written)} layer(s) to {store} in {out.n_passes} pass(es); "
            f"{len(out.skipped)} already complete."
        )

    return extract_command


extract_command = make_extract_command()
