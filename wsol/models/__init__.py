"""WSOL models: backbones, class-map heads and the methods (CAM, ACoL, HaS, ADL, GGAM, SPG, BAS) behind one contract."""

from wsol.models import acol, adl, bas, cam, ggam, has, spg  # noqa: F401  (registers the methods)
from wsol.models.base import Localization, WSOLModel, WSOLOutput, normalize_per_map
from wsol.models.build import build_model
from wsol.models.registry import BACKBONES, METHODS

__all__ = ["BACKBONES", "METHODS", "Localization", "WSOLModel", "WSOLOutput", "build_model", "normalize_per_map"]
