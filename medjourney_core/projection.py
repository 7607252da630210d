"""The learnable linear projection from text-encoder width to the UNet's cross-attention width (paper 4.2)."""

from __future__ import annotations

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


class TextProjection(ModelMixin, ConfigMixin):
    """hidden_states [B, L, in_features] -> [B, L, out_features]; saved and loaded like any diffusers model."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return self.linear(hidden_states)
