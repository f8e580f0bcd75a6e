"""A small lume-torch TorchModel trained for a few seconds, saved as YAML + `.pt` files."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def train_torch_model(folder: Path, steps: int = 200, seed: int = 0) -> tuple[Any, Path]:
    """Fit y = sin(x1) * x2 with a tiny MLP; dump it to `folder/surrogate.yml` (+ `.pt`)."""
    import torch
    from lume_torch.models import TorchModel
    from lume_torch.variables import TorchScalarVariable

    torch.manual_seed(seed)
    x = torch.rand(256, 2, dtype=torch.double) * torch.tensor([3.0, 2.0], dtype=torch.double)
    y = (torch.sin(x[:, 0]) * x[:, 1]).unsqueeze(-1)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 16), torch.nn.Tanh(), torch.nn.Linear(16, 1)
    ).double()
    opt = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(net(x), y)
        loss.backward()
        opt.step()
    model = TorchModel(
        model=net,
        input_variables=[
            TorchScalarVariable(name="x1", default_value=1.0, value_range=(0.0, 3.0), unit="rad"),
            TorchScalarVariable(name="x2", default_value=1.0, value_range=(0.0, 2.0), unit="m"),
        ],
        output_variables=[TorchScalarVariable(name="y", unit="m")],
    )
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "surrogate.yml"
    model.dump(str(path), save_models=True)
    return model, path
