"""The Fashion-MNIST CNN of bench/speed.ts (conv32-conv64-dense128), trained briefly in PyTorch and
exported to ONNX with a free batch axis; also writes calibration images (NCHW .npy).

  /usr/bin/python3 bench/fashion_cnn.py OUT_DIR [--train N] [--epochs E]

Needs torch and numpy (Debian's python3-torch) and /usr/share/datasets/fashion-mnist
(apt-get install dataset-fashion-mnist). Seeded: the same weights on every run on one machine.
"""
import argparse
import gzip
import os

import numpy as np
import torch
from torch import nn

FASHION = '/usr/share/datasets/fashion-mnist'


def idx(name, offset):
    with gzip.open(os.path.join(FASHION, name), 'rb') as f:
        return np.frombuffer(f.read(), dtype=np.uint8, offset=offset)


def images(prefix):
    x = idx(f'{prefix}-images-idx3-ubyte.gz', 16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
    y = idx(f'{prefix}-labels-idx1-ubyte.gz', 8).astype(np.int64)
    return x, y


def network():
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('out')
    parser.add_argument('--train', type=int, default=12000)
    parser.add_argument('--epochs', type=int, default=2)
    args = parser.parse_args()
    torch.manual_seed(1)
    torch.set_num_threads(1)
    x, y = images('train')
    x, y = torch.from_numpy(x[:args.train]), torch.from_numpy(y[:args.train])
    tx, ty = images('t10k')
    model = network()
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(args.epochs):
        order = torch.randperm(len(x))
        for start in range(0, len(x), 64):
            batch = order[start:start + 64]
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(x[batch]), y[batch])
            loss.backward()
            optimiser.step()
        with torch.no_grad():
            accuracy = (model(torch.from_numpy(tx[:2000])).argmax(1).numpy() == ty[:2000]).mean()
        print(f'epoch {epoch + 1}: test accuracy {accuracy:.4f} on 2000 images', flush=True)
    os.makedirs(args.out, exist_ok=True)
    model.eval()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), os.path.join(args.out, 'fashion-cnn.onnx'), opset_version=13,
                      input_names=['images'], output_names=['logits'], dynamic_axes={'images': {0: 'batch'}, 'logits': {0: 'batch'}})
    np.save(os.path.join(args.out, 'calibration.npy'), tx[2000:2512])
    np.save(os.path.join(args.out, 'held-out.npy'), tx[:2000])
    np.save(os.path.join(args.out, 'held-out-labels.npy'), ty[:2000].astype(np.float32))


if __name__ == '__main__':
    main()
