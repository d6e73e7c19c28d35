"""``neuroxr relative STORE MODEL.LAYER --anchors ID_FILE``: a stored layer's relative representation
(Moschella et al. 2023) written as a new layer of the same model, so sweeps and scores use it like any layer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import click

from ._common import Output, main, not_empty, open_store_or_fail, output_options, storage_options
from ._storage import local_path, read_only_error, store_writable

__all__ = ["relative", "read_ids"]


def read_ids(path: str | Path) -> list[str]:
    """Stimulus ids from a text file: one per line; blank lines and lines starting with ``#`` are skipped
    (an id listed twice is refused)."""
    try:
        text = Path(path).read_text("utf-8-sig")  # a byte-order mark (Windows editors) is not part of the first id
    except OSError as exc:
        raise click.BadParameter(f"cannot read {str(path)!r} ({exc.strerror}).", param_hint="--anchors") from None
    except UnicodeDecodeError as exc:  # a binary file, or text in another encoding
        raise click.BadParameter(f"{str(path)!r} is not UTF-8 text (byte {exc.start}: {exc.reason}); write the ids as UTF-8 "
                                 "text, one per line.", param_hint="--anchors") from None
    ids = [s.strip() for s in text.splitlines() if s.strip() and not s.strip().startswith("#")]
    if not ids:
        raise click.BadParameter(f"{str(path)!r} lists no stimulus ids; write one id per line.", param_hint="--anchors")
    twice = sorted(i for i, n in Counter(ids).items() if n > 1)
    if twice:
        raise click.BadParameter(f"{str(path)!r} lists {len(twice)} id(s) more than once (e.g. {twice[0]!r}); list each "
                                 "anchor once.", param_hint="--anchors")
    return ids


@main.command()
@click.argument("store")
@click.argument("layer")
@click.option("--anchors", "anchors_file", required=True, type=click.Path(dir_okay=False), callback=local_path,
              help="Text file of anchor stimulus ids of LAYER, one per line ('#' comments allowed).")
@click.option("--similarity", type=click.Choice(["cosine", "dot"]), default="cosine", show_default=True)
@click.option("--name", "new_layer", default=None, callback=not_empty, help="Name of the new layer (default: <layer>_relative).")
@click.option("--overwrite", is_flag=True, help="Replace an existing layer of that name.")
@storage_options
@output_options
def relative(store: str, layer: str, anchors_file: str, similarity: str, new_layer: str | None, overwrite: bool,
             as_json: bool, quiet: bool) -> None:
    """Write the relative representation of the feature set LAYER (MODEL.LAYER) in STORE: each
    stimulus's similarities to the anchor stimuli, as a new layer MODEL.<name> (one unit per anchor)."""
    from ..geometry import relative_features
    from ..geometry.relative import SOURCE_TOKEN_ATTR
    from ..sets import check_new_set, read_set, resolve

    out = Output(as_json, quiet)
    if new_layer is not None:  # refused before anything is read or computed, naming the option (a usage error)
        from ..errors import StoreError
        from ..store._zarr import _check_name

        try:
            _check_name(new_layer, "layer")
        except StoreError as exc:
            raise click.BadParameter(str(exc.args[0]), param_hint="--name") from None
    ids = read_ids(anchors_file)
    st = open_store_or_fail(store, mode="a")
    if not store_writable(store):  # refused before the layer is read and its representation computed
        raise read_only_error(store, "writing the layer")
    ref = resolve(st, layer, kinds=("features",), role="source")
    name = new_layer or f"{ref.layer}_relative"
    if name == ref.layer:  # --overwrite would replace the layer it is computed from
        raise click.BadParameter(f"{name!r} is the layer {ref.name} itself; choose another name for the new layer.",
                                 param_hint="--name")
    if name in st.layers(ref.model) and not overwrite:
        have = _same_relative(st, ref, name, ids, similarity)
        if have is not None:  # a re-run of the same command: nothing to compute, as a score finds its entry
            path = f"features/{ref.model}/{name}"
            out.json({"path": path, "model": ref.model, "layer": name, "source": ref.name, "n_anchors": len(ids),
                      "n_stimuli": int(have.sizes["stimulus"]), "similarity": similarity, "computed": False})
            out.echo(f"{path}: already in the store (the relative representation of {ref.name} for these anchors, "
                     f"{similarity}); nothing computed")
            return
        raise click.ClickException(
            f"layer {ref.model}.{name} already exists in {st.url!r}, computed from other anchors, another similarity or "
            f"another copy of {ref.name} (or not by this command); pass --overwrite or choose another --name."
        )
    check_new_set(st, "features", model=ref.model, layer=name)  # a name colliding with another set's: before the work
    source_token = st.token(ref.path)  # before the read: a rewrite meanwhile leaves the layer marked stale
    feats = read_set(st, ref, load=True)
    have = set(feats["stimulus_id"].values.astype(str).tolist())
    missing = [i for i in ids if i not in have]
    if missing:  # named here as the command line gives them (the library names its Python arguments)
        raise click.BadParameter(f"{len(missing)} id(s) of {str(anchors_file)!r} are not stimulus ids of {ref.name} "
                                 f"(e.g. {missing[:3]}); list ids of its stimuli.", param_hint="--anchors")
    rel = relative_features(feats, ids, similarity=similarity, layer=name)
    rel.attrs["source_layer"] = ref.layer
    if source_token:
        rel.attrs[SOURCE_TOKEN_ATTR] = source_token
    path = st.write_features(ref.model, name, rel)
    out.json({"path": path, "model": ref.model, "layer": name, "source": ref.name, "n_anchors": len(ids),
              "n_stimuli": int(rel.sizes["stimulus"]), "similarity": similarity, "computed": True})
    out.echo(f"{path}: relative representation of {ref.name} ({rel.sizes['stimulus']} stimuli x {len(ids)} anchors, "
             f"{similarity}); score it as {ref.model}.{name}")


def _same_relative(st: Any, ref: Any, name: str, ids: list[str], similarity: str) -> Any:
    """The stored layer ``name`` of ``ref``'s model where it is the relative representation this command
    would write (of the current copy of ``ref``, by its version token, for ``ids`` in this order and
    ``similarity``); else ``None``."""
    from ..errors import StoreError
    from ..geometry.relative import SOURCE_TOKEN_ATTR

    token = st.token(ref.path)
    try:
        da = st.read_features(ref.model, name)
    except StoreError:  # damaged: never the layer asked for
        return None
    a = da.attrs
    same = (token is not None and a.get(SOURCE_TOKEN_ATTR) == token and a.get("transform") == "relative"
            and a.get("similarity") == similarity and a.get("source_layer") == ref.layer
            and "unit_id" in da.coords and da["unit_id"].values.astype(str).tolist() == ids)
    return da if same else None
