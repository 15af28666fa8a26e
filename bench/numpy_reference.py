"""numpy/scipy reference for bench/run.ts: the same similarity and clustering on the same weights.

Reads a TF.js Layers model (model.json + float32 shards) by itself, and for every Dense layer
builds each neuron's input-weight vector with its bias appended, normalises the rows, takes the
Gram matrix with BLAS (float32, like our engines) and clusters with scipy's complete linkage on
the cosine distance 1 - S, which builds the same tree as src/core/similarity/cluster.ts.

Usage: python3 numpy_reference.py MODEL_DIR RUNS
Prints one JSON object: per-phase times (best of RUNS, seconds), versions, and per layer the
merge similarities (1 - linkage height) so the caller can compare trees.
"""
import json
import os
import sys
import time

import numpy as np
import scipy
from scipy.cluster.hierarchy import linkage
from scipy.spatial.distance import squareform


def read_dense_layers(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        model = json.load(f)
    weights = {}
    for group in model["weightsManifest"]:
        data = b"".join(open(os.path.join(model_dir, p), "rb").read() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            assert spec["dtype"] == "float32" and "quantization" not in spec
            count = int(np.prod(spec["shape"]))
            weights[spec["name"]] = np.frombuffer(data, np.float32, count, offset).reshape(spec["shape"])
            offset += 4 * count
    names = list(dict.fromkeys(n.rsplit("/", 1)[0] for n in weights))
    return [(n, weights[n + "/kernel"], weights[n + "/bias"]) for n in names]


def analyse(kernel, bias, times):
    t0 = time.perf_counter()
    rows = np.hstack([kernel.T, bias[:, None]])
    unit = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    t1 = time.perf_counter()
    s = unit @ unit.T
    t2 = time.perf_counter()
    tree = linkage(squareform(1 - s, checks=False), method="complete")
    t3 = time.perf_counter()
    times["vectors"] += t1 - t0
    times["gram"] += t2 - t1
    times["clustering"] += t3 - t2
    return tree


def main():
    model_dir, runs = sys.argv[1], int(sys.argv[2])
    layers = read_dense_layers(model_dir)
    best = None
    for _ in range(runs):
        times = {"vectors": 0.0, "gram": 0.0, "clustering": 0.0}
        start = time.perf_counter()
        trees = [analyse(k, b, times) for _, k, b in layers]
        times["total"] = time.perf_counter() - start
        if best is None or times["total"] < best["total"]:
            best = times
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    print(json.dumps({
        "times": best,
        "versions": {
            "python": sys.version.split()[0],
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "blas": f'{blas.get("name")} {blas.get("version")}',
        },
        "layers": {name: (1 - tree[:, 2]).tolist() for (name, _, _), tree in zip(layers, trees)},
    }))


if __name__ == "__main__":
    main()
