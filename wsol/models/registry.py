"""Registries of the model side: backbones (``wsol.models.backbones``) and WSOL methods."""

from __future__ import annotations

from wsol.models.backbones import BACKBONES
from wsol.registry import Registry

METHODS: Registry = Registry("method")

__all__ = ["BACKBONES", "METHODS"]
