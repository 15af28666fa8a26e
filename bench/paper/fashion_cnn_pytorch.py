# A small Fashion-MNIST CNN trained and exported to ONNX by PyTorch (as its users do), and its data as
# NCHW .npy files, for `condense reduce` with only the data flags (docs/benchmarks.md). Debian: python3-torch,
# python3-numpy, dataset-fashion-mnist.  Usage: /usr/bin/python3 bench/paper/fashion_cnn_pytorch.py [OUT_DIR]
import gzip, os, sys
import numpy as np, torch, torch.nn as nn
out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'out', 'fashion-onnx')
os.makedirs(out, exist_ok=True)
torch.manual_seed(0); torch.set_num_threads(1)
d = '/usr/share/datasets/fashion-mnist/'
def images(f): return np.frombuffer(gzip.open(d + f).read(), np.uint8, offset=16).reshape(-1, 1, 28, 28).astype(np.float32) / 255
def labels(f): return np.frombuffer(gzip.open(d + f).read(), np.uint8, offset=8).astype(np.int64)
x, y = images('train-images-idx3-ubyte.gz'), labels('train-labels-idx1-ubyte.gz')
xt, yt = images('t10k-images-idx3-ubyte.gz'), labels('t10k-labels-idx1-ubyte.gz')
tx, ty, vx, vy = x[:4096], y[:4096], xt[:2048], yt[:2048]
net = nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(net.parameters(), 1e-3)
for epoch in range(8):
    perm = torch.randperm(len(tx))
    for i in range(0, len(tx), 64):
        b = perm[i:i + 64]
        loss = nn.functional.cross_entropy(net(torch.from_numpy(tx[b])), torch.from_numpy(ty[b]))
        opt.zero_grad(); loss.backward(); opt.step()
    with torch.no_grad():
        acc = (net(torch.from_numpy(vx)).argmax(1).numpy() == vy).mean()
    print('epoch', epoch + 1, 'val accuracy', acc)
net.eval()
torch.onnx.export(net, torch.zeros(1, 1, 28, 28), os.path.join(out, 'fashion-cnn.onnx'), input_names=['input'], output_names=['logits'],
                  dynamic_axes={'input': {0: 'batch'}, 'logits': {0: 'batch'}}, opset_version=13)
for name, a in [('train-inputs', tx), ('train-targets', ty.astype(np.float32)), ('val-inputs', vx), ('val-targets', vy.astype(np.float32))]:
    np.save(os.path.join(out, name + '.npy'), a)
print('params', sum(p.numel() for p in net.parameters()))
