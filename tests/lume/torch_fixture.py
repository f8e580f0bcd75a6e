"""A small lume-torch TorchModel trained for a few seconds, saved as YAML + `.pt` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train_torch_model(folder: Path, steps: int = 200, seed: int = 0) -> tuple[Any, Path]:
    """Fit y = sin(x1) * x2 with a tiny MLP behind an input transformer (inputs scaled to
    [0, 1]); dump it to `folder/surrogate.yml` (+ the model's and the transformer's `.pt`)."""
    import torch
    from botorch.models.transforms.input import AffineInputTransform
    from lume_torch.models import TorchModel
    from lume_torch.variables import TorchScalarVariable

    torch.manual_seed(seed)
    scale = torch.tensor([3.0, 2.0], dtype=torch.double)
    unit = torch.rand(256, 2, dtype=torch.double)  # the transformer's output: x / scale
    x = unit * scale
    y = (torch.sin(x[:, 0]) * x[:, 1]).unsqueeze(-1)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
    ).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(unit), y)
        loss.backward()
        opt.step()
    model = TorchModel(
        model=net,
        input_variables=[
            TorchScalarVariable(name="x1", default_value=1.0, value_range=(0.0, 3.0), unit="rad"),
            TorchScalarVariable(name="x2", default_value=1.0, value_range=(0.0, 2.0), unit="m"),
        ],
        output_variables=[TorchScalarVariable(name="y", unit="m")],
        input_transformers=[
            AffineInputTransform(d=2, coefficient=scale, offset=torch.zeros(2, dtype=torch.double))
        ],
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "surrogate.yml"
    model.dump(str(path), save_models=True)
    return model, path
