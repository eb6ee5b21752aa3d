"""The layers of a Keras model's head after its recurrent layers, other than Dense: an activation
layer (read as the Dense's activation), a BatchNormalization (a Dense of diagonal weights at
inference) and a global pooling over the steps (``core.pooling``)."""

from __future__ import annotations

import math

import numpy as np

from .arrays import checked
from .registry import fail, refuse, show

#: Layers that are an activation, read after a Dense as its activation.
ACTIVATION_LAYERS = ("Activation", "Softmax", "ReLU", "LeakyReLU", "ELU")
#: Layers that pool the steps into one vector, and the pool (core.pooling.POOLS).
POOLING = {"GlobalMaxPooling1D": "max", "GlobalAveragePooling1D": "mean"}


def activation_layer(file: str, where: str, cls: str, cfg: dict, sequence: bool):
    """The activation of a layer that is one (after a Dense): a Keras name, or what _activation refuses.
    A slope or alpha that is a number but no finite float (NaN, ±inf, an integer past float's range) is refused
    here, naming the layer and the option."""
    if cls == "Activation":
        return cfg.get("activation", "linear")
    if cls == "Softmax":  # over the classes: the last axis ([batch, T, V], or [batch, V] after one step)
        axis = cfg.get("axis", -1)
        return "softmax" if axis in (-1, [-1], 2 if sequence else 1) else f"Softmax(axis={axis})"
    if cls == "ELU":
        alpha = cfg.get("alpha", 1.0)
        if not isinstance(alpha, (int, float)):
            return f"ELU(alpha={alpha})"
        return ("Elu", _finite(file, where, "alpha", alpha), 0.0)
    option = "negative_slope" if "negative_slope" in cfg or cls != "LeakyReLU" else "alpha"  # tf.keras 2: alpha
    slope = cfg.get(option, 0.3 if cls == "LeakyReLU" else 0.0)
    if not isinstance(slope, (int, float)):
        return f"{cls}(negative_slope={slope})"
    slope = _finite(file, where, option, slope)
    if cls == "ReLU" and (cfg.get("max_value") is not None or cfg.get("threshold", 0.0) != 0.0):
        return f"ReLU(max_value={cfg.get('max_value')}, threshold={cfg.get('threshold')})"
    return "relu" if slope == 0 else ("LeakyRelu", slope, 0.0)


def _finite(file: str, where: str, option: str, value: int | float) -> float:
    """A layer's numeric option as a float, refused when it is none that is finite (JSON's NaN and Infinity, an
    integer of hundreds of digits): every output would be NaN, or float() would fail as if the weights had."""
    try:
        x = float(value)
    except OverflowError:
        x = math.inf
    if math.isfinite(x):
        return x
    text = str(value)
    shown = text if len(text) <= 24 else f"{text[:12]}… ({len(text.lstrip('-'))} digits)"
    raise refuse(file, where, f"{option} {show(shown)}", "a finite number")


def batch_norm(file: str, where: str, cfg: dict, w: list, width: int, sequence: bool):
    """A BatchNormalization (its weight arrays ``w``) at inference as a Dense's (kernel (W, W), bias (W,)):
    each unit scaled by gamma / sqrt(moving_variance + epsilon) and shifted, over the last axis."""
    if cfg.get("axis", -1) not in (-1, [-1], 2 if sequence else 1, [2 if sequence else 1]):
        raise refuse(file, where, f"axis {show(str(cfg.get('axis')))}", "-1 (each unit of the layer before)")
    scale, center = bool(cfg.get("scale", True)), bool(cfg.get("center", True))
    if len(w) != scale + center + 2:
        raise fail(file, f"{where}: holds {len(w)} weight arrays, expected {scale + center + 2} (gamma, beta, "
                         f"moving_mean, moving_variance; scale={scale}, center={center})")
    names = ["gamma"] * scale + ["beta"] * center + ["moving_mean", "moving_variance"]
    arrays = {n: checked(file, f"{where} {n}", a, (width,), f" (the units of the layer before, {width})")
              for n, a in zip(names, w)}
    eps = cfg.get("epsilon", 1e-3)
    eps = _finite(file, where, "epsilon", eps) if isinstance(eps, (int, float)) else eps
    if not isinstance(eps, (int, float)) or not eps >= 0 or (arrays["moving_variance"] + eps <= 0).any():
        raise fail(file, f"{where}: epsilon {show(str(eps))} and moving_variance leave no positive variance")
    s = arrays.get("gamma", 1.0) / np.sqrt(arrays["moving_variance"].astype(np.float64) + eps)
    bias = arrays.get("beta", 0.0) - arrays["moving_mean"] * s
    return np.diag(s).astype(w[0].dtype), np.asarray(bias, dtype=w[0].dtype)
