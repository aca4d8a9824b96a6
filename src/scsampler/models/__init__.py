"""The networks: one registry of typed builders (clip classifiers and sampler networks), pretrained
weights with metadata, checkpoints.

    >>> from scsampler.models import list_models, get_model, get_model_spec, load_classifier
    >>> from scsampler.models.sampler_nets import build_sampler_net   # list_models(task="sampler")
"""

from scsampler.models.classifier import Classifier
from scsampler.models.checkpoint import load_checkpoint, read_state_dict, save_checkpoint
from scsampler.models.preprocess import center_crop, decode_size, preprocess
from scsampler.models.registry import (
    ClassifierSpec,
    build_model,
    get_model,
    get_model_entry,
    get_model_spec,
    get_weights_info,
    list_models,
    load_classifier,
    num_classes_of,
    register_model,
    register_sampler_net,
    replace_head,
)
from scsampler.models.weights import WeightsInfo

__all__ = [
    "Classifier",
    "build_model",
    "ClassifierSpec",
    "WeightsInfo",
    "list_models",
    "get_model",
    "get_model_spec",
    "get_model_entry",
    "get_weights_info",
    "register_model",
    "register_sampler_net",
    "replace_head",
    "num_classes_of",
    "preprocess",
    "center_crop",
    "decode_size",
    "save_checkpoint",
    "load_checkpoint",
    "load_classifier",
    "read_state_dict",
]
