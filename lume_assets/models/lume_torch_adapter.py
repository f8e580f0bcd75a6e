"""Serve a lume-torch model (`TorchModel`, any `LUMETorch`) as a stateless, batched `ModelSpec`.

A scan chunk is ONE tensor evaluation: the batch function stacks every point's inputs into one
tensor per input and returns numpy columns. A model YAML (as written by `LUMETorch.dump`) and
the `.pt` files it names load in one call; the version is the sha256 of the YAML and of every
file it names, so a changed `.pt` file is a new version (a cache miss). Imported lazily by
`ModelSpec.from_lume_torch`; needs the `torch` extra (lume-torch, torch).
"""

from __future__ import annotations

import hashlib
import re
import threading
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from lume_assets.errors import ModelError
from lume_assets.models.lume_base_adapter import lume_variables
from lume_assets.models.model import ModelSpec

_CACHE: dict[tuple[str, str], Any] = {}
_LOCK = threading.Lock()


def _named_files(doc: Any, base: Path) -> Iterator[Path]:
    """Every file a model YAML names (model `.pt`, transformers), relative to its folder."""
    if isinstance(doc, str):
        if len(doc) < 4096 and "\n" not in doc:
            path = (base / doc).resolve()
            if path.is_file():
                yield path
    elif isinstance(doc, Mapping):
        for value in doc.values():
            yield from _named_files(value, base)
    elif isinstance(doc, list):
        for value in doc:
            yield from _named_files(value, base)


def yaml_sha256(path: str | Path) -> str:
    """sha256 of a model YAML and of every file it names, in the order they are named."""
    path = Path(path)
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ModelError(
            f"lume-torch model file {path} cannot be read ({exc.strerror}); check the path."
        ) from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ModelError(f"lume-torch model file {path} is not valid YAML: {exc}") from None
    if not isinstance(doc, Mapping) or "model_class" not in doc:
        raise ModelError(
            f"{path} is not a lume-torch model YAML (no 'model_class'); give the file written "
            "by model.dump(...)."
        )
    digest = hashlib.sha256(text)
    for named in _named_files(doc, path.parent):
        digest.update(named.name.encode())
        digest.update(named.read_bytes())
    return digest.hexdigest()


def _load_yaml_model(path: Path) -> Any:
    """The lume-torch model of a model YAML (its file paths are relative to the YAML)."""
    import os

    from lume_torch.models import model_from_yaml

    cwd = os.getcwd()
    try:  # lume-torch resolves the `.pt` paths it names against the working directory
        os.chdir(path.parent)
        return model_from_yaml(path.name)
    finally:
        os.chdir(cwd)


def _model_sha256(model: Any) -> str:
    """sha256 of an in-memory lume-torch model: its variables and every parameter/buffer."""
    digest = hashlib.sha256()
    for var in [*model.input_variables, *model.output_variables]:
        digest.update(repr(sorted(var.model_dump().items())).encode())
    for module in [
        getattr(model, "model", None),
        *getattr(model, "input_transformers", []),
        *getattr(model, "output_transformers", []),
    ]:
        state = module.state_dict() if hasattr(module, "state_dict") else {}
        for key, tensor in state.items():
            digest.update(key.encode())
            digest.update(tensor.detach().cpu().numpy().tobytes())
    return digest.hexdigest()


def _numpy(value: Any, n: int | None) -> Any:
    """A lume-torch output as numpy: one value per point (`n`), or one value."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    array = np.asarray(value)
    if n is None:
        return array.item() if array.size == 1 else array.reshape(array.shape[-1:])
    return array.reshape(n) if array.size == n else array.reshape(n, -1)


def spec_from_lume_torch(
    model_or_yaml: Any, *, name: str | None = None, version: str | None = None, **fields: Any
) -> ModelSpec:
    """A batched ModelSpec for a lume-torch model object or the path of its model YAML."""
    if isinstance(model_or_yaml, str | Path):
        path = Path(model_or_yaml).resolve()
        sha = yaml_sha256(path)
        with _LOCK:
            model = _CACHE.get((str(path), sha))
            if model is None:
                model = _CACHE[(str(path), sha)] = _load_yaml_model(path)
        name = name or re.sub(r"\W", "_", path.stem)
    else:
        model = model_or_yaml
        if not hasattr(model, "evaluate") or not hasattr(model, "input_variables"):
            raise ModelError(
                f"from_lume_torch needs a lume-torch model or the path of its YAML; got "
                f"{type(model).__name__}."
            )
        sha = _model_sha256(model)
        name = name or type(model).__name__.lower()
    import torch

    dtype = getattr(model, "dtype", torch.double)
    in_vars = lume_variables(model.input_variables)
    out_vars = lume_variables(model.output_variables)
    names = [v.name for v in model.input_variables]
    outs = [v.name for v in model.output_variables]

    def evaluate_torch(**inputs: Any) -> dict[str, Any]:
        with torch.no_grad():
            got = model.evaluate({k: torch.tensor(float(inputs[k]), dtype=dtype) for k in names})
        return {k: _numpy(got[k], None) for k in outs}

    def evaluate_torch_batch(**columns: Any) -> dict[str, Any]:
        n = len(next(iter(columns.values())))
        batch = {k: torch.as_tensor(np.asarray(columns[k]), dtype=dtype) for k in names}
        with torch.no_grad():
            got = model.evaluate(batch)
        return {k: _numpy(got[k], n) for k in outs}

    evaluate_torch.__qualname__ = f"from_lume_torch.{type(model).__qualname__}"
    fields.setdefault("description", f"lume-torch {type(model).__name__}")
    return ModelSpec(
        name=name,
        version=version or f"sha256.{sha[:16]}",
        inputs=in_vars,
        outputs=out_vars,
        function=evaluate_torch,
        batch_function=evaluate_torch_batch,
        **fields,
    )
