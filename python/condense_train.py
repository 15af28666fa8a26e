#!/usr/bin/env python3
"""Condense's PyTorch trainer: retrains a condensed model the way the embedded (tfjs) trainer does.

Run by Condense (src/core/train/pytorchTrainer.ts), never by hand:
    condense_train.py --check [--device auto|cpu|cuda]    one JSON line: torch, numpy, device
    condense_train.py JOB.json                            trains, one JSON line per event on stdout
and, for several processes, under torchrun:
    condense_train.py --torchrun --nnodes=1 --rdzv_backend=c10d --rdzv_endpoint=HOST:PORT --nproc_per_node N condense_train.py JOB.json
(torch.distributed.run, the torchrun program, in this interpreter, with a fix for torch 1.x on Python 3.11).

JOB.json describes the network as the engine's graph (one entry per node, the layer kinds the embedded
trainer builds, channels-last as the engine holds every format), where its weights are (raw float32,
in the listed order and shapes), the data (raw float32 files) and the schedule. The trained weights go
to the job's "out" file in the same order and shapes. The schedule is the embedded trainer's: the loss
the data chose, the batch order from a seeded mulberry32 Fisher-Yates shuffle per epoch (bit for bit
the same order), Adam (tfjs's epsilon), the learning rate from a one-epoch range test when none is
given (the largest rate whose loss is within the job's rateMargin of the lowest), and the plateau
back-off: once the first `steadyEpochs` epochs have trained at the starting rate, `patience` epochs in
a row without a better validation loss halve the rate, and patiencesToStop × `patience` such epochs
end training, going on from the latest weights; the best epoch is kept.

Several processes (torch.distributed): every rank takes its share of each global batch (rows
rank, rank + N, ... of it), so N processes with the same global batch compute the same gradients as
one; gradients are averaged by DistributedDataParallel (gloo on CPU, nccl on CUDA). Rank 0 measures the
validation loss, broadcasts it, reports and writes. Batch normalisation uses each rank's own batch.

Needs only torch (1.12 or later) and numpy. Problems with the environment are one line on stderr and
exit status 2; any other failure is one line and exit status 1.
"""
import json
import math
import os
import signal
import sys
import time

MIN_TORCH = (1, 12)
TF_EPSILON = 1e-7  # tfjs's backend epsilon: Adam's and the cross-entropy's clipping


class Refusal(Exception):
    """A problem with the environment or the job, said in one line (exit status 2)."""


def fail(message, status):
    sys.stderr.write(f"{message}\n")
    sys.stderr.flush()
    sys.exit(status)


def import_torch():
    try:
        import numpy  # noqa: F401
    except Exception:
        raise Refusal(f"has no numpy: install python3-numpy (apt) or `{sys.executable} -m pip install numpy`, "
                      "or choose another interpreter with --python PATH (the condense.python setting)")
    try:
        import torch
    except Exception:
        raise Refusal(f"has no torch: install python3-torch (apt) or `{sys.executable} -m pip install torch`, "
                      "or choose another interpreter with --python PATH (the condense.python setting)")
    version = tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2] if p.isdigit())
    if version < MIN_TORCH:
        raise Refusal(f"has torch {torch.__version__}, too old: Condense needs torch "
                      f"{MIN_TORCH[0]}.{MIN_TORCH[1]} or later (`{sys.executable} -m pip install -U torch`)")
    return torch


def choose_device(torch, asked):
    if asked == "cuda":
        if not torch.cuda.is_available():
            raise Refusal(f"--device cuda was asked for but its torch {torch.__version__} sees no CUDA device "
                          "(install a CUDA build of torch and the NVIDIA driver, or use --device cpu / auto)")
        return "cuda"
    if asked == "cpu":
        return "cpu"
    if asked in (None, "auto"):
        return "cuda" if torch.cuda.is_available() else "cpu"
    raise Refusal(f'unknown device "{asked}" (auto, cpu or cuda)')


def idle_threads():
    """Threads for this process: the cores no one else keeps busy, shared among this machine's processes.
    (torchrun would set one per process; more threads than idle cores make torch's CPU kernels many times
    slower, as they wait for each other.)"""
    cores = os.cpu_count() or 1
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    idle = max(1, min(cores, round(cores - busy)))
    return max(1, idle // int(os.environ.get("LOCAL_WORLD_SIZE", "1")))


def end_with_parent():
    """Condense holds this process's stdin open while it runs: end of file means Condense is gone (killed,
    Ctrl-C), and the whole process group (torchrun's workers too) ends with it."""
    import threading

    def watch():
        # The raw descriptor: a thread blocked in sys.stdin's buffered reader would hold its lock at exit.
        while os.read(0, 65536):
            pass
        if hasattr(os, "killpg") and os.getpgrp() == os.getpid():
            os.killpg(os.getpgrp(), signal.SIGKILL)
        os._exit(1)
    threading.Thread(target=watch, daemon=True).start()


def emit(event):
    sys.stdout.write(json.dumps(event) + "\n")
    sys.stdout.flush()


def mulberry32(seed):
    """Condense's seeded generator (src/core/data/random.ts), in 32-bit integer arithmetic."""
    state = seed & 0xFFFFFFFF

    def imul(a, b):
        return (a * b) & 0xFFFFFFFF

    def random():
        nonlocal state
        state = (state + 0x6D2B79F5) & 0xFFFFFFFF
        t = state
        t = imul(t ^ (t >> 15), t | 1)
        t = (t ^ ((t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF)) & 0xFFFFFFFF
        return ((t ^ (t >> 14)) & 0xFFFFFFFF) / 4294967296

    return random


def permutation(n, random):
    """0..n-1 in the order the embedded trainer's Fisher-Yates puts them."""
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = math.floor(random() * (i + 1))
        order[i], order[j] = order[j], order[i]
    return order


def build_network(torch, job):
    """The job's graph as a torch Module: 4-D tensors run channels-first inside, as torch's kernels want."""
    nn = torch.nn
    F = torch.nn.functional

    def activation(spec):
        kind = spec["name"]
        table = {
            "linear": lambda x: x,
            "relu": F.relu,
            "relu6": lambda x: torch.clamp(x, 0, 6),
            "elu": lambda x: F.elu(x, spec.get("alpha", 1.0)),
            "selu": F.selu,
            "sigmoid": torch.sigmoid,
            "hardSigmoid": lambda x: torch.clamp(0.2 * x + 0.5, 0, 1),
            "softplus": F.softplus,
            "softsign": lambda x: x / (1 + x.abs()),
            "tanh": torch.tanh,
            "swish": lambda x: x * torch.sigmoid(x),
            "mish": lambda x: x * torch.tanh(F.softplus(x)),
            "gelu": F.gelu,
            "gelu_new": lambda x: F.gelu(x, approximate="tanh"),
            "leakyReLU": lambda x: F.leaky_relu(x, spec.get("alpha", 0.3)),
        }
        if kind == "softmax":
            return lambda x: torch.softmax(x, dim=1 if x.dim() == 4 else -1)
        if kind not in table:
            raise Refusal(f'unknown activation "{kind}"')
        return table[kind]

    def channels_last(fn):
        """Runs fn on the last axis: 4-D tensors are channels-first here."""
        return lambda x: fn(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2) if x.dim() == 4 else fn(x)

    def same_padding(size, kernel, stride, dilation):
        out = -(-size // stride)
        total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
        return total // 2, total - total // 2

    def padder(spec, kernel, stride, dilation):
        """(left, right, top, bottom) for F.pad from the node's padding: "valid", "same" (TF's split) or explicit."""
        padding = spec["padding"]
        if padding == "valid":
            return lambda x: None
        if padding == "same":
            def pads(x):
                top, bottom = same_padding(x.shape[2], kernel[0], stride[0], dilation[0])
                left, right = same_padding(x.shape[3], kernel[1], stride[1], dilation[1])
                return (left, right, top, bottom)
            return pads
        (top, bottom), (left, right) = padding
        return lambda x: (left, right, top, bottom)

    class Network(nn.Module):
        def __init__(self):
            super().__init__()
            self.params = nn.ParameterList()
            self.buffers_ = []
            self.slots = []  # (parameter or buffer) in the job's weight order
            self.steps = []
            for node in job["nodes"]:
                self.steps.append((node["name"], node["inbound"], self.make(node)))

        def weight(self, node, role, trainable=True, transform=None):
            entry = next(w for w in node["weights"] if w["role"] == role)
            tensor = torch.zeros(entry["shape"], dtype=torch.float32)
            slot = {"entry": entry, "transform": transform}
            if trainable:
                value = nn.Parameter(tensor if transform is None else transform(tensor))
                self.params.append(value)
            else:
                value = tensor if transform is None else transform(tensor)
                self.buffers_.append(value)
            slot["value"] = value
            self.slots.append(slot)
            return value

        def make(self, node):
            op = node["op"]
            if op == "input":
                return lambda xs: xs[0].permute(0, 3, 1, 2) if xs[0].dim() == 4 else xs[0]
            if op == "dense":
                kernel = self.weight(node, "kernel")
                bias = self.weight(node, "bias") if node.get("bias") else None
                act = activation(node["activation"])

                def dense(x):
                    if bias is not None and x.dim() == 2:
                        return torch.addmm(bias, x, kernel)  # one fused kernel, forward and backward
                    y = x @ kernel
                    return y + bias if bias is not None else y
                return lambda xs: act(channels_last(dense)(xs[0]))
            if op in ("conv2d", "depthwise"):
                kh, kw = node["kernel"]
                stride, dilation = tuple(node["strides"]), tuple(node["dilation"])
                if op == "conv2d":
                    # engine [kh, kw, in, out] -> torch [out, in, kh, kw]
                    kernel = self.weight(node, "kernel", transform=lambda t: t.permute(3, 2, 0, 1).contiguous())
                    groups = 1
                else:
                    # engine [kh, kw, in, multiplier] -> torch [in * multiplier, 1, kh, kw], output channel c * m + k
                    shape = next(w for w in node["weights"] if w["role"] == "depthwise_kernel")["shape"]
                    kernel = self.weight(node, "depthwise_kernel",
                                         transform=lambda t: t.permute(2, 3, 0, 1).reshape(shape[2] * shape[3], 1, shape[0], shape[1]).contiguous())
                    groups = shape[2]
                bias = self.weight(node, "bias") if node.get("bias") else None
                pads = padder(node, (kh, kw), stride, dilation)
                act = activation(node["activation"])

                def conv(xs):
                    x = xs[0]
                    p = pads(x)
                    inside = 0
                    if p is not None and any(p):
                        left, right, top, bottom = p
                        # Even padding goes to the convolution itself: F.pad would copy the activation (and its gradient).
                        if left == right and top == bottom:
                            inside = (top, left)
                        else:
                            x = F.pad(x, p)
                    return act(F.conv2d(x, kernel, bias, stride, inside, dilation, groups))
                return conv
            if op == "batchnorm":
                gamma = self.weight(node, "gamma") if node.get("gamma") else None
                beta = self.weight(node, "beta") if node.get("beta") else None
                mean = self.weight(node, "moving_mean", trainable=False)
                var = self.weight(node, "moving_variance", trainable=False)
                eps, momentum = node["epsilon"], 1 - node["momentum"]

                def norm(xs):
                    x = xs[0]
                    flipped = x.dim() == 3  # [N, L, C]: channels last
                    if flipped:
                        x = x.transpose(1, 2)
                    y = F.batch_norm(x, mean, var, gamma, beta, self.training, momentum, eps)
                    return y.transpose(1, 2) if flipped else y
                return norm
            if op == "activation":
                act = activation(node["activation"])
                return lambda xs: act(xs[0])
            if op == "dropout":
                rate = node["rate"]
                return lambda xs: F.dropout(xs[0], rate, self.training)
            if op == "alphaDropout":
                rate = node["rate"]
                return lambda xs: F.alpha_dropout(xs[0], rate, self.training)
            if op == "gaussianNoise":
                stddev = node["stddev"]
                return lambda xs: xs[0] + stddev * torch.randn_like(xs[0]) if self.training and stddev > 0 else xs[0]
            if op == "gaussianDropout":
                rate = node["rate"]
                scale = math.sqrt(rate / (1 - rate)) if 0 < rate < 1 else 0.0
                return lambda xs: xs[0] * (1 + scale * torch.randn_like(xs[0])) if self.training and scale > 0 else xs[0]
            if op in ("maxpool", "avgpool"):
                pool, stride = tuple(node["pool"]), tuple(node["strides"])
                pads = padder(node, pool, stride, (1, 1))

                def pooled(xs):
                    x = xs[0]
                    p = pads(x)
                    if p is None or not any(p):
                        return F.max_pool2d(x, pool, stride) if op == "maxpool" else F.avg_pool2d(x, pool, stride)
                    if op == "maxpool":
                        return F.max_pool2d(F.pad(x, p, value=-math.inf), pool, stride)
                    # The padding is left out of an average's count (TF's "same", ONNX's default)
                    ones = F.pad(torch.ones_like(x[:1, :1]), p)
                    return F.avg_pool2d(F.pad(x, p), pool, stride) / F.avg_pool2d(ones, pool, stride)
                return pooled
            if op in ("gap", "gmp"):
                keep = node["keepdims"]

                def global_pool(xs):
                    x = xs[0]
                    y = x.mean(dim=(2, 3), keepdim=keep) if op == "gap" else x.amax(dim=(2, 3), keepdim=keep)
                    return y
                return global_pool
            if op == "zeropad":
                (top, bottom), (left, right) = node["padding"]
                return lambda xs: F.pad(xs[0], (left, right, top, bottom))
            if op == "flatten":
                channel_major = node["channelMajor"]
                return lambda xs: (xs[0] if channel_major or xs[0].dim() != 4 else xs[0].permute(0, 2, 3, 1)).flatten(1)
            if op == "add":
                def add(xs):
                    y = xs[0]
                    for x in xs[1:]:
                        y = y + x
                    return y
                return add
            if op == "concat":
                return lambda xs: torch.cat(xs, dim=1 if xs[0].dim() == 4 else -1)
            raise Refusal(f'unknown op "{op}" of node {node["name"]}')

        def forward(self, x):
            outputs = {}
            for name, inbound, step in self.steps:
                outputs[name] = step([x] if not inbound else [outputs[i] for i in inbound])
            y = outputs[job["output"]]
            return y.permute(0, 2, 3, 1) if y.dim() == 4 else y

        def load(self, flat):
            with torch.no_grad():
                for slot in self.slots:
                    e = slot["entry"]
                    count = math.prod(e["shape"])
                    t = torch.from_numpy(flat[e["offset"]:e["offset"] + count].copy()).reshape(e["shape"])
                    slot["value"].copy_(t if slot["transform"] is None else slot["transform"](t))

        def state(self):
            return [s["value"].detach().clone() for s in self.slots]

        def restore(self, state):
            with torch.no_grad():
                for s, v in zip(self.slots, state):
                    s["value"].copy_(v)

        def move(self, device):
            self.to(device)
            for slot in self.slots:
                if not isinstance(slot["value"], nn.Parameter):
                    slot["value"].data = slot["value"].data.to(device)
            return self

        def engine_weights(self):
            """Weights in the engine's layout, in the job's order."""
            out = []
            for slot in self.slots:
                e, v = slot["entry"], slot["value"].detach().cpu()
                if e["role"] == "kernel" and v.dim() == 4:
                    v = v.permute(2, 3, 1, 0)
                elif e["role"] == "depthwise_kernel":
                    kh, kw, cin, mult = e["shape"]
                    v = v.reshape(cin, mult, kh, kw).permute(2, 3, 0, 1)
                out.append(v.contiguous().reshape(-1).numpy())
            return out

    return Network()


def chosen_rate(trials, margin):
    """The embedded trainer's chooseLearningRate: the largest rate whose validation loss is within
    `margin` (relative) of the lowest; the smallest rate when every trial diverged."""
    finite = [t for t in trials if t["valLoss"] is not None]
    if not finite:
        return min(t["learningRate"] for t in trials)
    lowest = min(t["valLoss"] for t in finite)
    limit = lowest * (1 + margin) if lowest > 0 else lowest
    return max(t["learningRate"] for t in finite if t["valLoss"] <= limit)


def per_sample_loss(torch, kind, predicted, targets):
    """Each row's loss, as tfjs computes it (mean over a row's outputs for the squared error)."""
    F = torch.nn.functional
    if kind == "mse":
        return ((predicted - targets.reshape(predicted.shape)) ** 2).reshape(predicted.shape[0], -1).mean(dim=1)
    classes = predicted.shape[-1]
    labels = torch.floor(targets.reshape(-1)).long()
    logits = predicted.reshape(-1, classes)
    if kind == "softmaxCrossEntropy":
        return F.cross_entropy(logits, labels, reduction="none")
    probs = logits / logits.sum(dim=-1, keepdim=True)
    probs = torch.clamp(probs, TF_EPSILON, 1 - TF_EPSILON)
    return -torch.log(probs.gather(1, labels.unsqueeze(1)).squeeze(1))


def torchrun(argv):
    """torchrun with these arguments, in this interpreter (the same as the torchrun program)."""
    import_torch()
    import runpy
    from torch.distributed.elastic.multiprocessing import api
    # torch 1.x reads "--redirects 0" as None under Python 3.11+ (a Flag's zero member is no longer
    # iterated) and fails; a value that parses is put in its place.
    if api.Std.from_str("0") is None:
        parse = api.Std.from_str

        def from_str(text):
            parsed = parse(text)
            return api.Std(int(text)) if parsed is None else parsed
        api.Std.from_str = staticmethod(from_str)
    sys.argv = ["torchrun", *argv]
    runpy.run_module("torch.distributed.run", run_name="__main__", alter_sys=True)
    return 0


def main(argv):
    if len(argv) >= 1 and argv[0] == "--torchrun":
        end_with_parent()
        return torchrun(argv[1:])
    if len(argv) >= 1 and argv[0] == "--check":
        torch = import_torch()
        device = choose_device(torch, argv[argv.index("--device") + 1] if "--device" in argv else "auto")
        import numpy
        emit({"torch": torch.__version__, "numpy": numpy.__version__, "device": device, "python": sys.executable,
              "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0})
        return 0
    if len(argv) != 1:
        raise Refusal("usage: condense_train.py --check [--device D] | condense_train.py JOB.json")
    if "RANK" not in os.environ:  # under torchrun, the launcher watches
        end_with_parent()
    with open(argv[0], encoding="utf-8") as f:
        job = json.load(f)
    torch = import_torch()
    import numpy as np
    device = choose_device(torch, job.get("device", "auto"))
    torch.set_num_threads(int(job.get("threads") or idle_threads()))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    distributed = world > 1
    if distributed:
        import torch.distributed as dist
        if device == "cuda":
            torch.cuda.set_device(local_rank)
        dist.init_process_group("nccl" if device == "cuda" else "gloo")
    where = torch.device(f"cuda:{local_rank}" if device == "cuda" and distributed else device)
    torch.manual_seed(int(job["seed"]))

    def read(spec):
        count = math.prod(spec["shape"])
        data = np.fromfile(spec["file"], dtype="<f4", count=count)
        if data.size != count:
            raise Refusal(f'{spec["file"]} holds {data.size} numbers, {count} expected')
        return data.reshape(spec["shape"])

    flat = np.fromfile(job["weightsFile"], dtype="<f4")
    train_x, train_y = read(job["data"]["trainX"]), read(job["data"]["trainY"])
    val_x = torch.from_numpy(read(job["data"]["valX"])).to(where)
    val_y = torch.from_numpy(read(job["data"]["valY"])).to(where)
    rows, batch = train_x.shape[0], int(job["batchSize"])
    network = build_network(torch, job).move(where)
    network.load(flat)
    trained = torch.nn.parallel.DistributedDataParallel(network) if distributed else network
    kind = job["loss"]

    def validation_loss():
        if rank == 0:
            network.eval()
            with torch.no_grad():
                total = 0.0
                for start in range(0, val_x.shape[0], batch):
                    total += float(per_sample_loss(torch, kind, network(val_x[start:start + batch]), val_y[start:start + batch]).sum())
            value = total / val_x.shape[0]
        else:
            value = 0.0
        if distributed:
            shared = torch.tensor([value], dtype=torch.float64, device=where)
            dist.broadcast(shared, 0)
            value = float(shared[0])
        return value

    def one_run(learning_rate, epochs, seed, patience, report):
        """The embedded trainer's fineTune: returns (history, outcome, best epoch, final learning rate)."""
        if job.get("optimizer") == "sgd":
            optimizer = torch.optim.SGD(trained.parameters(), lr=learning_rate)
        else:
            optimizer = torch.optim.Adam(trained.parameters(), lr=learning_rate, eps=TF_EPSILON)
        shuffle = mulberry32(seed)
        best = {"epoch": 0, "loss": validation_loss(), "state": network.state()} if patience else None
        history, outcome, worse = [], "completed", 0
        for epoch in range(epochs):
            started = time.perf_counter()
            # An index array: numpy gathers a batch's rows from it without converting a list every batch.
            order = np.asarray(permutation(rows, shuffle) if job.get("shuffle", True) else range(rows), dtype=np.int64)
            network.train()
            seen, total = 0, 0.0
            for start in range(0, rows, batch):
                picked = order[start:start + batch]
                mine = picked[rank::world]
                x = torch.from_numpy(train_x[mine]).to(where)
                y = torch.from_numpy(train_y[mine]).to(where)
                losses = per_sample_loss(torch, kind, trained(x), y)
                # The global batch's mean loss; DDP averages the ranks' gradients, so each rank's share counts world times.
                loss = losses.sum() * (world / len(picked))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                total += float(losses.detach().sum())
                seen += len(mine)
            if distributed:
                sums = torch.tensor([total, seen], dtype=torch.float64, device=where)
                dist.all_reduce(sums)
                total, seen = float(sums[0]), float(sums[1])
            entry = {"epoch": epoch + 1, "loss": total / seen, "valLoss": validation_loss()}
            entry["seconds"] = time.perf_counter() - started
            history.append(entry)
            if report and rank == 0:
                emit({"event": "epoch", **entry})
            if best is not None:
                if entry["valLoss"] < best["loss"]:
                    best = {"epoch": entry["epoch"], "loss": entry["valLoss"], "state": network.state()}
                    worse = 0
                elif entry["epoch"] <= steady_epochs:
                    pass  # still steady: the rate stays and the epoch does not count against it
                else:
                    worse += 1
                    if worse >= patiences_to_stop * patience:
                        outcome = "stopped"
                        break
                    if worse % patience == 0:
                        learning_rate /= 2
                        for group in optimizer.param_groups:
                            group["lr"] = learning_rate
        if best is not None:
            network.restore(best["state"])
        return history, outcome, (best["epoch"] if best is not None else None), learning_rate

    seed, patience, patiences_to_stop = int(job["seed"]), job.get("patience"), int(job["patiencesToStop"])
    steady_epochs = int(job.get("steadyEpochs", 0))
    learning_rate = job.get("learningRate")
    if learning_rate is None:
        start = network.state()
        trials = []
        for candidate in job["candidates"]:
            network.restore(start)
            history, _, _, _ = one_run(candidate, 1, seed, None, False)
            value = history[0]["valLoss"] if history else math.nan
            trials.append({"learningRate": candidate, "valLoss": value if math.isfinite(value) else None})
        network.restore(start)
        learning_rate = chosen_rate(trials, float(job["rateMargin"]))
        if rank == 0:
            emit({"event": "rangeTest", "learningRate": learning_rate, "trials": trials})
    history, outcome, best_epoch, final_rate = one_run(learning_rate, int(job["epochs"]), seed, patience, True)
    if rank == 0:
        weights = network.engine_weights()
        partial = job["out"] + ".partial"
        with open(partial, "wb") as f:
            for w in weights:
                f.write(w.astype("<f4").tobytes())
            f.flush()
            os.fsync(f.fileno())
        os.replace(partial, job["out"])
        emit({"event": "done", "outcome": outcome, "bestEpoch": best_epoch, "learningRate": final_rate, "epochs": len(history),
              "device": str(where), "world": world, "torch": torch.__version__})
    if distributed:
        # torch 1.13 can deadlock tearing down DDP's gloo group (its worker thread waits for the GIL the
        # destructor holds, while the store thread spins on the closed socket); the work is written, so
        # the rank leaves without running those destructors.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)
    return 0


if __name__ == "__main__":
    # A closed pipe (Condense gone) ends quietly.
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    try:
        sys.exit(main(sys.argv[1:]))
    except Refusal as e:
        fail(str(e), 2)
    except KeyboardInterrupt:
        fail("interrupted", 1)
    except Exception as e:  # one line, never a stack trace (unless CONDENSE_TRAIN_DEBUG is set)
        if os.environ.get("CONDENSE_TRAIN_DEBUG"):
            raise
        fail(f"{type(e).__name__}: {e}", 1)
