#!/usr/bin/env python3
"""
Trains small PyTorch models and exports them with torch.onnx.export into test/fixtures/onnx/, the
ONNX files the tests read (the tests themselves need neither Python nor PyTorch):

  - mlp.onnx: Gemm + ReLU, Gemm + GELU (exported as the Div/Erf/Add/Mul/Mul pattern), Gemm.
  - cnn.onnx: Conv + BatchNormalization (left unfolded) + ReLU + MaxPool, Conv + LeakyReLU, Flatten,
    Gemm + ReLU, Gemm, Softmax: a classifier on 1x12x12 images, NCHW. Its intermediate shapes are
    recorded as value_info by ONNX shape inference.
  - residual.onnx: an MLP whose middle block is added back to its input (Add between branches).
  - inverted-residual.onnx: a MobileNetV2-style block on 3x6x6 images: stem Conv 1x1 + BatchNorm,
    expand Conv 1x1 + BatchNorm + ReLU6, depthwise Conv 3x3 (group = channels) + BatchNorm + ReLU6,
    project Conv 1x1 + BatchNorm, Add with the stem's output, Conv 1x1 + ReLU, global average pool,
    Gemm.
  - tokens.onnx: float64 Linear layers on [N, 5, 6] inputs, which export as MatMul + Add, with Tanh
    and ReLU.
  - mlp-external.onnx + mlp-external.onnx.data: mlp.onnx with every initializer stored as
    external data, saved by the onnx package.

Everything random is seeded, so a rerun writes the same models (up to PyTorch's own determinism).
Run (Debian: apt-get install python3-torch python3-onnx):  /usr/bin/python3 scripts/make-onnx-fixtures.py
"""
import warnings
from pathlib import Path

import onnx
import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parent.parent / 'test' / 'fixtures' / 'onnx'
OPSET = 13
# Said of models exported in training mode; these are exported in eval mode.
warnings.filterwarnings('ignore', message='It is recommended that constant folding be turned off')


def train(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_fn, steps: int = 150) -> None:
    """A few full-batch Adam steps: enough to move the weights (and BatchNorm statistics) off their initialisation."""
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        optimiser.zero_grad()
        loss_fn(model(inputs), targets).backward()
        optimiser.step()
    model.eval()


def teacher(inputs: torch.Tensor, outputs: int, seed: int) -> torch.Tensor:
    """A random smooth function of the (flattened) inputs to regress on."""
    g = torch.Generator().manual_seed(seed)
    flat = inputs.reshape(inputs.shape[0], -1) if inputs.dim() != 3 else inputs
    a = torch.randn(flat.shape[-1], 8, generator=g, dtype=inputs.dtype) / flat.shape[-1] ** 0.5
    b = torch.randn(8, outputs, generator=g, dtype=inputs.dtype)
    return torch.tanh(flat @ a) @ b


def export(model: nn.Module, example: torch.Tensor, name: str) -> Path:
    path = OUT / name
    torch.onnx.export(
        model,
        example,
        str(path),
        input_names=['x'],
        output_names=['y'],
        dynamic_axes={'x': {0: 'batch'}, 'y': {0: 'batch'}},
        opset_version=OPSET,
        # PRESERVE (with the model in eval mode) skips the eval-mode peephole pass that folds
        # BatchNormalization into the convolution before it: the file keeps the BatchNormalization node.
        training=torch.onnx.TrainingMode.PRESERVE,
    )
    onnx.checker.check_model(onnx.load(str(path)))
    return path


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inp = nn.Linear(8, 16)
        self.block1 = nn.Linear(16, 16)
        self.block2 = nn.Linear(16, 16)
        self.out = nn.Linear(16, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        h = torch.relu(h + self.block2(torch.relu(self.block1(h))))
        return self.out(h)


class InvertedResidual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 4, 1, bias=False), nn.BatchNorm2d(4))
        self.block = nn.Sequential(
            nn.Conv2d(4, 8, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
            nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
            nn.Conv2d(8, 4, 1, bias=False), nn.BatchNorm2d(4),
        )
        self.head = nn.Sequential(nn.Conv2d(4, 5, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(5, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        return self.head(h + self.block(h))


def inverted_residual() -> None:
    torch.manual_seed(5)
    model = InvertedResidual()
    images = torch.randn(256, 3, 6, 6)
    train(model, images, teacher(images, 3, 15), nn.functional.mse_loss, steps=60)
    export(model, images[:2], 'inverted-residual.onnx')


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(1)
    mlp = nn.Sequential(nn.Linear(6, 32), nn.ReLU(), nn.Linear(32, 24), nn.GELU(), nn.Linear(24, 3))
    x = torch.randn(256, 6)
    train(mlp, x, teacher(x, 3, 11), nn.functional.mse_loss)
    export(mlp, x[:2], 'mlp.onnx')

    # The same model with its weights in a separate file, as onnx.save_model writes large models.
    model = onnx.load(str(OUT / 'mlp.onnx'))
    # onnx appends to an existing data file, so a rerun starts from none.
    (OUT / 'mlp-external.onnx.data').unlink(missing_ok=True)
    onnx.save_model(
        model,
        str(OUT / 'mlp-external.onnx'),
        save_as_external_data=True,
        all_tensors_to_one_file=True,
        location='mlp-external.onnx.data',
        size_threshold=0,
    )
    onnx.checker.check_model(str(OUT / 'mlp-external.onnx'))

    torch.manual_seed(2)
    cnn = nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 6, 3),
        nn.LeakyReLU(0.1),
        nn.Flatten(),
        nn.Linear(6 * 4 * 4, 16),
        nn.ReLU(),
        nn.Linear(16, 4),
        nn.Softmax(dim=1),
    )
    images = torch.randn(256, 1, 12, 12)
    labels = teacher(images, 4, 12).argmax(dim=1)
    train(cnn, images, labels, lambda p, t: nn.functional.nll_loss(torch.log(p + 1e-9), t), steps=60)
    path = export(cnn, images[:2], 'cnn.onnx')
    onnx.save_model(onnx.shape_inference.infer_shapes(onnx.load(str(path))), str(path))

    torch.manual_seed(3)
    residual = Residual()
    x = torch.randn(256, 8)
    train(residual, x, teacher(x, 2, 13), nn.functional.mse_loss)
    export(residual, x[:2], 'residual.onnx')

    torch.manual_seed(4)
    tokens = nn.Sequential(nn.Linear(6, 20), nn.Tanh(), nn.Linear(20, 12), nn.ReLU(), nn.Linear(12, 3)).double()
    x = torch.randn(256, 5, 6, dtype=torch.float64)
    train(tokens, x, teacher(x, 3, 14), nn.functional.mse_loss)
    export(tokens, x[:2], 'tokens.onnx')

    inverted_residual()

    for path in sorted(OUT.iterdir()):
        print(f'{path.name}: {path.stat().st_size} bytes')


if __name__ == '__main__':
    main()
