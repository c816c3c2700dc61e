"""The segmentation network: a small 2D U-Net applied to each short-axis image.

Four down-sampling levels, two 3 × 3 convolutions with batch normalisation and ReLU per level,
transposed convolutions up, skip connections by concatenation, and a 1 × 1 convolution to the
four classes (background, LV blood pool, LV myocardium, RV blood pool). It is fully
convolutional: trained on 96 × 96 crops, it runs on any size divisible by 16.

For inference :func:`for_inference` folds each batch normalisation into the convolution before
it (the same function, one pass fewer over the activations) and switches to the channels-last
memory layout, which oneDNN's CPU convolutions run two to three times faster.

The state dict's tensor names are the contract with the weights file: a site that trains its
own network on real data keeps this class and these names (see docs/cardio.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F  # noqa: N812 - the usual name

#: Channels of the first level; each level down doubles them.
BASE_CHANNELS = 8
LEVELS = 4
IN_CHANNELS = 1
OUT_CLASSES = 4


class _Block(nn.Module):
    def __init__(self, inputs: int, outputs: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inputs, outputs, 3, padding=1, bias=False)
        self.norm1: nn.Module = nn.BatchNorm2d(outputs)
        self.conv2 = nn.Conv2d(outputs, outputs, 3, padding=1, bias=False)
        self.norm2: nn.Module = nn.BatchNorm2d(outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.norm1(self.conv1(x)), inplace=True)
        return F.relu(self.norm2(self.conv2(x)), inplace=True)


class UNet(nn.Module):
    def __init__(
        self,
        base: int = BASE_CHANNELS,
        levels: int = LEVELS,
        in_channels: int = IN_CHANNELS,
        classes: int = OUT_CLASSES,
    ) -> None:
        super().__init__()
        widths = [base * 2**level for level in range(levels + 1)]
        self.down = nn.ModuleList(
            _Block(in_channels if level == 0 else widths[level - 1], widths[level])
            for level in range(levels)
        )
        self.bottom = _Block(widths[levels - 1], widths[levels])
        self.up = nn.ModuleList(
            nn.ConvTranspose2d(widths[level + 1], widths[level], 2, stride=2)
            for level in reversed(range(levels))
        )
        self.decode = nn.ModuleList(
            _Block(2 * widths[level], widths[level]) for level in reversed(range(levels))
        )
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
            x = F.max_pool2d(x, 2)
        x = self.bottom(x)
        for up, block, skip in zip(self.up, self.decode, reversed(skips), strict=True):
            x = block(torch.cat([up(x), skip], dim=1))
        result: torch.Tensor = self.head(x)
        return result


def architecture(state: Mapping[str, torch.Tensor]) -> dict[str, int]:
    """Width, depth and channels of the U-Net whose weights are ``state``: read from the
    tensors' shapes, so that weights of a wider or deeper U-Net of this design (a site's,
    trained on its own data) load without code changes."""
    try:
        first = state["down.0.conv1.weight"]
        head = state["head.weight"]
    except KeyError as exc:
        raise ValueError(f"not weights of this U-Net: no tensor {exc}") from None
    levels = len({name.split(".")[1] for name in state if name.startswith("down.")})
    return {
        "base": int(first.shape[0]),
        "levels": levels,
        "in_channels": int(first.shape[1]),
        "classes": int(head.shape[0]),
    }


def build(state: Mapping[str, torch.Tensor] | None = None) -> UNet:
    """The network, with ``state`` loaded (strict: every name and shape must match) when
    given; its width and depth follow ``state`` (see :func:`architecture`)."""
    if state is None:
        return UNet()
    shape = architecture(state)
    if shape["in_channels"] != IN_CHANNELS or shape["classes"] != OUT_CLASSES:
        raise ValueError(
            f"weights for {shape['in_channels']} input channel(s) and {shape['classes']} "
            f"classes; this module feeds {IN_CHANNELS} and reads {OUT_CLASSES}"
        )
    network = UNet(base=shape["base"], levels=shape["levels"])
    network.load_state_dict(dict(state), strict=True)
    return network


def _fold(conv: nn.Conv2d, norm: nn.Module) -> None:
    assert isinstance(norm, nn.BatchNorm2d)
    assert norm.running_var is not None and norm.running_mean is not None
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    conv.weight = nn.Parameter(conv.weight * scale[:, None, None, None])
    conv.bias = nn.Parameter(norm.bias - norm.running_mean * scale)


def for_inference(network: UNet) -> UNet:
    """``network`` with batch norms folded into the convolutions, channels-last, eval mode."""
    network = network.eval()
    with torch.no_grad():
        for module in network.modules():
            if isinstance(module, _Block):
                _fold(module.conv1, module.norm1)
                _fold(module.conv2, module.norm2)
                module.norm1 = nn.Identity()
                module.norm2 = nn.Identity()
    return network.to(memory_format=torch.channels_last)


def parameter_count(network: nn.Module) -> int:
    return sum(p.numel() for p in network.parameters())


def describe() -> dict[str, Any]:
    """The architecture as the model card records it."""
    return {
        "name": "UNet2D",
        "base_channels": BASE_CHANNELS,
        "levels": LEVELS,
        "in_channels": IN_CHANNELS,
        "classes": OUT_CLASSES,
        "parameters": parameter_count(UNet()),
    }
