"""Clip classifiers: one registry of typed builders, pretrained weights with metadata, checkpoints.

    >>> from scsampler.models import list_models, get_model, get_model_spec, load_classifier
"""

from scsampler.models.classifier import Classifier
from scsampler.models.checkpoint import load_checkpoint, load_classifier, read_state_dict, save_checkpoint
from scsampler.models.preprocess import center_crop, decode_size, preprocess
from scsampler.models.registry import (
    ClassifierSpec,
    build_model,
    get_model,
    get_model_entry,
    get_model_spec,
    get_weights_info,
    list_models,
    num_classes_of,
    register_model,
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
