#!/usr/bin/env python3
"""
Trains small PyTorch models and saves them into test/fixtures/torch/, the PyTorch and safetensors
files the tests read (the tests themselves need neither Python nor PyTorch):

  - mlp.pt: torch.save(model.state_dict()) of Linear(6, 20) + ReLU + Linear(20, 14) + ReLU +
    Linear(14, 3) inside `self.net = nn.Sequential(...)` (keys net.0.*, net.2.*, net.4.*), with
    mlp-input.npy and PyTorch's own outputs on it, mlp-output.npy.
  - mlp.safetensors: the same state dict as safetensors, written here with struct and json in the
    safetensors library's layout (tensors sorted by name, header padded to 8 bytes).
  - deep.safetensors: a bare nn.Sequential of six Linear layers (keys 0.* … 10.*, so the library's
    name order puts "10" before "2"), with deep-input.npy and deep-output.npy.
  - cnn.pth: Conv2d(1, 6, 3, bias=False) + BatchNorm2d + ReLU + Conv2d(6, 8, 3) + BatchNorm2d +
    ReLU + Flatten + Linear(128, 10) + ReLU + Linear(10, 3) on 1x8x8 images (NCHW), with
    cnn-input.npy (N, 1, 8, 8) and cnn-output.npy.
  - mlp-protocol4.pt: the same state dict saved with pickle_protocol=4 (FRAME, MEMOIZE,
    SHORT_BINUNICODE, STACK_GLOBAL instead of protocol 2's opcodes).
  - mlp-deflated.pt, mlp-bigendian.pt: mlp.pt repacked with deflated zip entries, and with its
    storages byte-swapped and a `byteorder` entry saying "big" (what PyTorch >= 2.1 writes on
    big-endian machines).
  - strided.pt: a state dict whose tensors are views: a transposed weight and a bias at an offset
    into a shared storage; strided.json holds their values.
  - dtypes.safetensors: the same values in F64, F32, F16, BF16 and I64 (bytes from torch), with
    dtypes.json holding the values.
  - module.pt: torch.save(model), a whole pickled module (must be refused with advice).
  - checkpoint.pt: a training checkpoint {'model': state_dict, 'epoch': 3} (must be refused with advice).
  - script.pt: torch.jit.save(torch.jit.script(model)), a TorchScript archive (must be refused with advice).
  - malicious.pt: a zip like torch.save's whose data.pkl, if unpickled by Python, would call
    os.system("touch /tmp/condense-malicious-marker") through GLOBAL posix.system + REDUCE. It is
    written opcode by opcode and never loaded here.

Everything random is seeded, so a rerun writes the same models (up to PyTorch's own determinism).
Run (Debian: apt-get install python3-torch):  /usr/bin/python3 scripts/make-torch-fixtures.py
"""
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn

OUT = Path(__file__).resolve().parent.parent / 'test' / 'fixtures' / 'torch'
MARKER = '/tmp/condense-malicious-marker'
SAFETENSORS_DTYPES = {torch.float64: 'F64', torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.int64: 'I64'}


def train(model: nn.Module, inputs: torch.Tensor, steps: int = 150, seed: int = 0) -> None:
    """Full-batch Adam on a random smooth teacher function: enough to move the weights (and BatchNorm statistics) off their initialisation."""
    g = torch.Generator().manual_seed(seed)
    flat = inputs.reshape(inputs.shape[0], -1)
    with torch.no_grad():
        outputs = model.eval()(inputs[:1]).shape[1]
    a = torch.randn(flat.shape[1], 8, generator=g) / flat.shape[1] ** 0.5
    targets = torch.tanh(flat @ a) @ torch.randn(8, outputs, generator=g)
    model.train()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(steps):
        optimiser.zero_grad()
        nn.functional.mse_loss(model(inputs), targets).backward()
        optimiser.step()
    model.eval()


def save_probe(model: nn.Module, inputs: torch.Tensor, name: str) -> None:
    """Inputs and PyTorch's outputs on them, so the tests can check the rebuilt model computes the same."""
    with torch.no_grad():
        outputs = model(inputs)
    np.save(OUT / f'{name}-input.npy', inputs.numpy().astype(np.float32))
    np.save(OUT / f'{name}-output.npy', outputs.numpy().astype(np.float32))


def write_safetensors(path: Path, tensors: dict) -> None:
    """The safetensors layout as the library writes it: tensors sorted by name, header padded with spaces to 8 bytes."""
    header, chunks, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        data = t.view(torch.int16).numpy().tobytes() if t.dtype == torch.bfloat16 else t.numpy().tobytes()
        header[name] = {'dtype': SAFETENSORS_DTYPES[t.dtype], 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    text = json.dumps(header, separators=(',', ':')).encode()
    text += b' ' * (-(8 + len(text)) % 8)
    path.write_bytes(struct.pack('<Q', len(text)) + text + b''.join(chunks))


def repack(source: Path, target: Path, transform) -> None:
    """Copies a torch.save archive entry by entry; transform(name, data) returns the new (name, data, compression) triples."""
    with zipfile.ZipFile(source) as zin, zipfile.ZipFile(target, 'w') as zout:
        for info in zin.infolist():
            for name, data, compression in transform(info.filename, zin.read(info.filename)):
                zout.writestr(zipfile.ZipInfo(name), data, compress_type=compression)


class MLP(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(6, 20), nn.ReLU(), nn.Linear(20, 14), nn.ReLU(), nn.Linear(14, 3))

    def forward(self, x):
        return self.net(x)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(6)
        self.conv2 = nn.Conv2d(6, 8, 3)
        self.bn2 = nn.BatchNorm2d(8)
        self.fc1 = nn.Linear(8 * 4 * 4, 10)
        self.fc2 = nn.Linear(10, 3)

    def forward(self, x):
        x = torch.relu(self.bn1(self.conv1(x)))
        x = torch.relu(self.bn2(self.conv2(x)))
        return self.fc2(torch.relu(self.fc1(torch.flatten(x, 1))))


def malicious_pickle() -> bytes:
    """OrderedDict() with one item whose value is os.system(...) — what a booby-trapped checkpoint looks like."""
    def unicode(s: str) -> bytes:
        return b'X' + struct.pack('<I', len(s.encode())) + s.encode()
    return b''.join([
        b'\x80\x02',                               # PROTO 2
        b'ccollections\nOrderedDict\n', b')R',      # GLOBAL, EMPTY_TUPLE, REDUCE
        b'(', unicode('fc.weight'),                 # MARK, key
        b'cposix\nsystem\n',                        # GLOBAL posix.system (os.system on Linux)
        unicode(f'touch {MARKER}'), b'\x85R',       # argument, TUPLE1, REDUCE: the call
        b'u.',                                      # SETITEMS, STOP
    ])


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)

    mlp = MLP()
    train(mlp, torch.randn(256, 6), seed=1)
    torch.save(mlp.state_dict(), OUT / 'mlp.pt')
    torch.save(mlp.state_dict(), OUT / 'mlp-protocol4.pt', pickle_protocol=4)
    save_probe(mlp, torch.randn(32, 6), 'mlp')
    write_safetensors(OUT / 'mlp.safetensors', mlp.state_dict())
    torch.save(mlp, OUT / 'module.pt')
    torch.save({'model': mlp.state_dict(), 'epoch': 3}, OUT / 'checkpoint.pt')
    torch.jit.save(torch.jit.script(mlp), OUT / 'script.pt')

    widths = [5, 8, 8, 8, 8, 8, 2]
    layers = []
    for i in range(6):
        layers += [nn.Linear(widths[i], widths[i + 1]), nn.ReLU()]
    deep = nn.Sequential(*layers[:-1])
    train(deep, torch.randn(256, 5), seed=2)
    write_safetensors(OUT / 'deep.safetensors', deep.state_dict())
    save_probe(deep, torch.randn(32, 5), 'deep')

    cnn = CNN()
    train(cnn, torch.randn(128, 1, 8, 8), steps=60, seed=3)
    torch.save(cnn.state_dict(), OUT / 'cnn.pth')
    save_probe(cnn, torch.randn(16, 1, 8, 8), 'cnn')

    repack(OUT / 'mlp.pt', OUT / 'mlp-deflated.pt', lambda name, data: [(name, data, zipfile.ZIP_DEFLATED)])

    def big_endian(name: str, data: bytes):
        if '/data/' in name:
            # Every storage of the MLP holds float32 values.
            data = np.frombuffer(data, dtype='<f4').astype('>f4').tobytes()
        entries = [(name, data, zipfile.ZIP_STORED)]
        if name.endswith('/version'):
            entries.append((name.replace('/version', '/byteorder'), b'big', zipfile.ZIP_STORED))
        return entries
    repack(OUT / 'mlp.pt', OUT / 'mlp-bigendian.pt', big_endian)

    shared = torch.arange(10, dtype=torch.float32) / 4
    weight = (torch.arange(12, dtype=torch.float32) - 5).reshape(3, 4)
    torch.save({'fc.weight': weight.t(), 'fc.bias': shared[2:5]}, OUT / 'strided.pt')
    (OUT / 'strided.json').write_text(json.dumps({'fc.weight': weight.t().tolist(), 'fc.bias': shared[2:5].tolist()}) + '\n')

    values = torch.tensor([[1.5, -2.25, 3.140625], [0.0, 65504.0, -1e-3]], dtype=torch.float64)
    write_safetensors(OUT / 'dtypes.safetensors', {
        'f64': values, 'f32': values.float(), 'f16': values.half(), 'bf16': values.bfloat16(),
        'i64': torch.tensor([[1, -2, 3], [2**40, 0, -(2**31)]]),
    })
    (OUT / 'dtypes.json').write_text(json.dumps({
        name: t.float().tolist() for name, t in
        {'f64': values, 'f32': values.float(), 'f16': values.half(), 'bf16': values.bfloat16()}.items()
    }) + '\n')

    with zipfile.ZipFile(OUT / 'malicious.pt', 'w') as z:
        # ZipInfo without a date: the same bytes on every run.
        z.writestr(zipfile.ZipInfo('malicious/data.pkl'), malicious_pickle())
        z.writestr(zipfile.ZipInfo('malicious/version'), '3\n')


if __name__ == '__main__':
    main()
