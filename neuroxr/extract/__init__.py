"""Feature extraction from torch models into the study store, within a memory budget.

The flow, one module per stage::

    stimuli.py     images (folder, files), arrays, torch Datasets, texts -> batches
    preprocess.py  the model's own preprocessing (torchvision weights, timm, Hugging Face),
                   an explicit transform, or the default (resize, centre crop, ImageNet normalisation)
    models.py      module selection, the probe pass, forward hooks, input casting, token pooling
    plan.py        ExtractionPlan: per-layer shapes and bytes, passes within ``memory_limit``
    reduce.py      sparse random projection / incremental PCA at write time
    identity.py    what a layer was extracted from: digests of the model, preprocessing and stimuli
    code.py        the code a model runs (classes, instance forwards, forward hooks), for its digest
    write.py       streaming each layer into ``features/<model>/<layer>``, completion marker last
    run.py         extract_features, plan_extraction

torch is imported only inside the functions that need it: ``import neuroxr.extract`` does not
import torch.
"""

from __future__ import annotations

from ..errors import ExtractionError
from ._common import RESERVE_BYTES
from .models import load_model
from .plan import ExtractionPlan, LayerPlan, parse_memory
from .pooling import POOLING, pool_tokens
from .preprocess import IMAGENET_MEAN, IMAGENET_STD, Preprocessing, default_image_transform, resolve_preprocessing
from .run import ExtractionResult, extract_features, plan_extraction
from .stimuli import IMAGE_EXTENSIONS, image_files

__all__ = [
    "ExtractionError",
    "ExtractionPlan",
    "ExtractionResult",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "IMAGE_EXTENSIONS",
    "LayerPlan",
    "POOLING",
    "Preprocessing",
    "RESERVE_BYTES",
    "default_image_transform",
    "extract_features",
    "image_files",
    "load_model",
    "parse_memory",
    "plan_extraction",
    "pool_tokens",
    "resolve_preprocessing",
]
