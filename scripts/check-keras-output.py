#!/usr/bin/env python3
"""
Checks a reduced Keras file against its original with h5py and numpy alone (no condense code, no
Keras), as a second reader besides the project's own:

  1. The same layout: every group, dataset and attribute of the original is in the reduced file
     (the optimizer state excepted, which the reduction drops), with the same kind of type (string
     fixed or variable length, character set, number class and size) and shape rank; attribute
     values are equal except the model config; datasets keep their dtype. A .keras archive keeps
     its entries, their order and compression, and metadata.json byte for byte.
  2. Loadable as Keras loads it: the config (model_config attribute or config.json) is read, each
     layer's weights are found where Keras looks for them (weight_names in model_weights/<layer>,
     or layers/<snake_case class>[_n]/vars/<i>), and their shapes agree with the config, including
     Keras 3's build_config input shapes.
  3. The same function: a numpy forward pass of the reduced model on the sample inputs in
     test/fixtures/keras/reference.json matches the outputs recorded there (relative deviation
     |y - y'| / max(|y|, rms(y)) at most 1e-5).

Usage:  /usr/bin/python3 scripts/check-keras-output.py ORIGINAL REDUCED
Exit code 0 when every check passes, 1 otherwise (each failure is printed).
"""
import io
import json
import re
import sys
import zipfile
from pathlib import Path

import h5py
import numpy as np

REFERENCE = Path(__file__).resolve().parent.parent / 'test' / 'fixtures' / 'keras' / 'reference.json'
OPTIMIZER_STATE = ('optimizer_weights', 'optimizer')
failures = []


def check(condition, message):
    if not condition:
        failures.append(message)


# ---- opening either flavour -----------------------------------------------------------------------

class Model:
    def __init__(self, path):
        self.path = Path(path)
        raw = self.path.read_bytes()
        self.archive = zipfile.ZipFile(io.BytesIO(raw)) if raw[:4] == b'PK\x03\x04' else None
        if self.archive:
            self.h5 = h5py.File(io.BytesIO(self.archive.read('model.weights.h5')), 'r')
            self.config = json.loads(self.archive.read('config.json'))
        else:
            self.h5 = h5py.File(io.BytesIO(raw), 'r')
            text = self.h5.attrs['model_config']
            self.config = json.loads(text.decode('utf8') if isinstance(text, bytes) else text)

    def layers(self):
        config = self.config['config']
        return config if isinstance(config, list) else config['layers']

    def weights(self):
        """Layer name -> weight arrays, found as Keras's loader finds them."""
        out = {}
        if self.archive:
            used = {}
            layers = self.layers()
            if self.config['class_name'] == 'Sequential' and layers[0]['class_name'] == 'InputLayer':
                layers = layers[1:]
            for layer in layers:
                key = snake_case(layer['class_name'])
                if key in used:
                    used[key] += 1
                    key = f'{key}_{used[key]}'
                else:
                    used[key] = 0
                group = self.h5[f'layers/{key}/vars']
                out[layer['config']['name']] = [np.asarray(group[str(i)]) for i in range(len(group))]
        else:
            group = self.h5['model_weights']
            for name in attribute_strings(group, 'layer_names'):
                names = attribute_strings(group[name], 'weight_names')
                out[name] = [np.asarray(group[name][w]) for w in names]
        return out


def snake_case(name):
    name = re.sub(r'\W+', '', name)
    name = re.sub('(.)([A-Z][a-z]+)', r'\1_\2', name)
    return re.sub('([a-z])([A-Z])', r'\1_\2', name).lower()


def attribute_strings(node, name):
    values = node.attrs[name]
    return [v.decode('utf8') if isinstance(v, bytes) else str(v) for v in np.atleast_1d(values)]


# ---- 1. layout ---------------------------------------------------------------------------------

def type_kind(type_id):
    if isinstance(type_id, h5py.h5t.TypeStringID):
        length = 'variable' if type_id.is_variable_str() else 'fixed'
        return f'string ({length}, cset {type_id.get_cset()})'
    return f'{type(type_id).__name__} of {type_id.get_size()} bytes'


def objects(h5):
    found = {'/': h5}
    h5.visititems(lambda name, obj: found.__setitem__('/' + name, obj))
    return {p: o for p, o in found.items() if p.split('/')[1] not in OPTIMIZER_STATE}


def compare_layout(original, reduced):
    a, b = objects(original.h5), objects(reduced.h5)
    check(set(a) == set(b), f'paths differ: only in the original {sorted(set(a) - set(b))}, only in the reduced {sorted(set(b) - set(a))}')
    for path in sorted(set(a) & set(b)):
        x, y = a[path], b[path]
        check(type(x) is type(y), f'{path}: a {type(x).__name__} became a {type(y).__name__}')
        if isinstance(x, h5py.Dataset):
            check(x.dtype == y.dtype and x.ndim == y.ndim, f'{path}: {x.dtype} {x.shape} became {y.dtype} {y.shape}')
        check(set(x.attrs) == set(y.attrs), f'{path}: attributes {sorted(x.attrs)} became {sorted(y.attrs)}')
        for name in set(x.attrs) & set(y.attrs):
            tx, ty = x.attrs.get_id(name), y.attrs.get_id(name)
            check(type_kind(tx.get_type()) == type_kind(ty.get_type()) or name == 'model_config' and 'fixed' in type_kind(tx.get_type()),
                  f'{path} attribute {name}: {type_kind(tx.get_type())} became {type_kind(ty.get_type())}')
            check(tx.shape == ty.shape, f'{path} attribute {name}: shape {tx.shape} became {ty.shape}')
            if name != 'model_config':
                check(np.array_equal(np.asarray(x.attrs[name]), np.asarray(y.attrs[name])), f'{path} attribute {name}: value changed')
    if original.archive:
        ia, ib = original.archive.infolist(), reduced.archive.infolist()
        check([i.filename for i in ia] == [i.filename for i in ib], 'archive entries differ')
        check([i.compress_type for i in ia] == [i.compress_type for i in ib], 'archive entries changed compression')
        check(original.archive.read('metadata.json') == reduced.archive.read('metadata.json'), 'metadata.json changed')


# ---- 2. loadable ---------------------------------------------------------------------------------

def compare_config_and_weights(reduced):
    weights = reduced.weights()
    for layer in reduced.layers():
        config, name = layer['config'], layer['config']['name']
        values = weights.get(name, [])
        if layer['class_name'] in ('Dense', 'Conv2D'):
            width = config.get('units', config.get('filters'))
            check(values and values[0].shape[-1] == width, f'{name}: kernel {values[0].shape if values else None} for {width} units')
            check(len(values) < 2 or values[1].shape == (width,), f'{name}: bias {values[1].shape if len(values) > 1 else None}')
            build = layer.get('build_config', {}).get('input_shape')
            if build:
                check(build[-1] == values[0].shape[-2], f'{name}: built for input {build}, kernel {values[0].shape}')
        if layer['class_name'] == 'BatchNormalization':
            check(len({v.shape for v in values}) == 1, f'{name}: BatchNormalization weights of shapes {[v.shape for v in values]}')
            build = layer.get('build_config', {}).get('input_shape')
            check(not build or (build[-1],) == values[0].shape, f'{name}: built for input {build}, weights {values[0].shape}')


# ---- 3. the same function ------------------------------------------------------------------------

def forward(model, x):
    weights = model.weights()
    for layer in model.layers():
        kind, config = layer['class_name'], layer['config']
        w = weights.get(config['name'], [])
        if kind == 'Dense':
            x = activation(x @ w[0] + (w[1] if len(w) > 1 else 0), config['activation'])
        elif kind == 'Conv2D':
            x = activation(conv2d(x, w[0], config['padding']) + (w[1] if len(w) > 1 else 0), config['activation'])
        elif kind == 'BatchNormalization':
            gamma, beta, mean, variance = w
            x = (x - mean) / np.sqrt(variance + config['epsilon']) * gamma + beta
        elif kind == 'Activation':
            x = activation(x, config['activation'])
        elif kind == 'MaxPooling2D':
            n, h, wd, c = x.shape
            x = x[:, :h // 2 * 2, :wd // 2 * 2].reshape(n, h // 2, 2, wd // 2, 2, c).max(axis=(2, 4))
        elif kind == 'Flatten':
            x = x.reshape(len(x), -1)
        elif kind not in ('InputLayer', 'Dropout'):
            raise ValueError(f'no numpy forward pass for {kind}')
    return x


def activation(x, name):
    return {'linear': lambda v: v, 'relu': lambda v: np.maximum(v, 0), 'tanh': np.tanh,
            'sigmoid': lambda v: 1 / (1 + np.exp(-v))}[name](x)


def conv2d(x, kernel, padding):
    kh, kw = kernel.shape[:2]
    if padding == 'same':
        x = np.pad(x, ((0, 0), (kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0)))
    oh, ow = x.shape[1] - kh + 1, x.shape[2] - kw + 1
    return sum(np.einsum('nhwc,cf->nhwf', x[:, i:i + oh, j:j + ow], kernel[i, j]) for i in range(kh) for j in range(kw))


def compare_function(original, reduced):
    reference = json.loads(REFERENCE.read_text()).get(original.path.name)
    if reference is None:
        print(f'(no reference outputs for {original.path.name}: function not checked)')
        return
    x = np.asarray(reference['inputs'], dtype=reference['dtype'])
    x = x.reshape(len(x), *reference.get('inputShape', x.shape[1:]))
    y = np.asarray(reference['outputs'])
    got = forward(reduced, x)
    rms = np.sqrt(np.mean(y ** 2)) or 1
    deviation = np.max(np.abs(got - y) / np.maximum(np.abs(y), rms))
    check(deviation <= 1e-5, f'outputs deviate by {deviation:.3g} (relative) from the reference')
    print(f'max relative deviation from the reference outputs: {deviation:.3g}')


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    original, reduced = Model(sys.argv[1]), Model(sys.argv[2])
    compare_layout(original, reduced)
    compare_config_and_weights(reduced)
    compare_function(original, reduced)
    for failure in failures:
        print('FAIL:', failure)
    print('OK' if not failures else f'{len(failures)} check(s) failed')
    sys.exit(1 if failures else 0)


if __name__ == '__main__':
    main()
