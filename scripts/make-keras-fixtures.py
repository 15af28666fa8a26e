#!/usr/bin/env python3
"""
Writes the Keras model files the tests read into test/fixtures/keras/, with h5py and numpy only
(no Keras: every attribute, group and dataset is laid out as the named Keras version writes it,
with the Python objects it passes to h5py):

  - combustion-keras2.0.6.h5: Keras 2.0.6, Theano backend, float64 weights (floatx float64), a
    Sequential 3 -> 100 (relu) -> 100 (relu) -> 1 (sigmoid) whose config is a bare list of layers
    (Keras 2.0), saved with an Adam state (optimizer_weights). Written as h5py 2.x wrote Keras's
    bytes: fixed-length strings. Weight names carry no ":0" (Theano).
  - cnn-keras2.9.h5: tf.keras 2.9, a Functional model Conv2D -> BatchNormalization -> relu ->
    MaxPooling -> Conv2D (no bias) -> BatchNormalization -> relu -> Flatten -> Dense (relu) ->
    Dense on 8x8x2 images, float32, as h5py 3 stores tf.keras's values (str and bytes as
    variable-length strings, an empty weight_names as an empty float64 array), with an Adam state.
  - mlp-keras3.keras: a Keras 3.3.3 archive (stored zip: metadata.json, config.json,
    model.weights.h5) of a Functional 6 -> dense (relu) -> dropout -> dense (tanh) -> dense(3),
    variables under layers/<snake_case class>[_n]/vars/<i>, an input_layer group, an Adam state.
  - bn-keras3.keras: a Keras 3.3.3 archive of a Sequential 4 -> dense -> BatchNormalization ->
    relu -> dense(2) (its InputLayer is in config.json but has no weights group).
  - conv-theano-keras2.0.6.h5: a Keras 2.0.6 Theano Conv2D -> Flatten -> Dense whose reference
    outputs convolve as Theano does (the kernel flipped).
  - weights-only-keras2.h5: what Keras 2's model.save_weights writes (no model_config).
  - no-config-keras2.h5: a full-model file whose model_config attribute is missing.

Every hidden layer is built by splitting the units of a smaller random network into copies that
compute the same function (relu: positively scaled copies with output weights scaled back; tanh:
exact copies with output weights split; conv -> BatchNormalization: the filter copied and gamma,
beta scaled), so condensing at a threshold near 1 must find the smaller network's widths again.
reference.json holds, per model, those widths, sample inputs and the outputs numpy computes.

Run (Debian: apt-get install python3-h5py):  /usr/bin/python3 scripts/make-keras-fixtures.py
"""
import json
import zipfile
from io import BytesIO
from pathlib import Path

import h5py
import numpy as np

OUT = Path(__file__).resolve().parent.parent / 'test' / 'fixtures' / 'keras'
RNG = np.random.default_rng(20240817)


# ---- splitting units into copies -------------------------------------------------------------------

def split_plan(n, scaled):
    """Each of n units into 1-3 copies (unit 0 into 3), shuffled: (source, c, t) per copy."""
    copies = []
    for j in range(n):
        count = 3 if j == 0 else int(RNG.integers(1, 4))
        t = RNG.uniform(0.2, 1.2, count)
        t /= t.sum()
        for k in range(count):
            copies.append((j, float(RNG.uniform(0.5, 2.0)) if scaled else 1.0, float(t[k])))
    order = RNG.permutation(len(copies))
    return [copies[i] for i in order]


def widen_columns(a, plan, factor):
    """New last axis: copy k is the source's column times factor(copy)."""
    return np.stack([a[..., s] * factor(c, t) for s, c, t in plan], axis=-1)


def widen_inputs(kernel, channels, plan, factor):
    """A consumer kernel [..., positions * channels, out]: each position's channel slice expanded."""
    out = kernel.shape[-1]
    lead = kernel.shape[:-2]
    k = kernel.reshape(*lead, -1, channels, out)
    wide = np.stack([k[..., s, :] * factor(c, t) for s, c, t in plan], axis=-2)
    return wide.reshape(*lead, -1, out)


# ---- numpy forward passes ------------------------------------------------------------------------

def relu(x):
    return np.maximum(x, 0)


def conv2d(x, kernel, bias, padding):
    """x [n, h, w, c], kernel [kh, kw, c, f], stride 1 (cross-correlation, as TensorFlow)."""
    kh, kw = kernel.shape[:2]
    if padding == 'same':
        x = np.pad(x, ((0, 0), (kh // 2, (kh - 1) // 2), (kw // 2, (kw - 1) // 2), (0, 0)))
    n, h, w, _ = x.shape
    oh, ow = h - kh + 1, w - kw + 1
    out = np.zeros((n, oh, ow, kernel.shape[3]), dtype=x.dtype)
    for i in range(kh):
        for j in range(kw):
            out += np.einsum('nhwc,cf->nhwf', x[:, i:i + oh, j:j + ow, :], kernel[i, j])
    return out + (0 if bias is None else bias)


def batch_norm(x, gamma, beta, mean, variance, epsilon=1e-3):
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def max_pool(x):
    n, h, w, c = x.shape
    return x[:, :h // 2 * 2, :w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, c).max(axis=(2, 4))


# ---- Keras 2.0.6 (Theano, float64), Sequential ----------------------------------------------------

def fixed(value):
    """A bytes value as h5py 2.x stored it: a fixed-length string."""
    return np.array(value, dtype=f'S{max(1, len(value))}')


def fixed_list(values):
    return np.array(values, dtype=f'S{max(1, max(len(v) for v in values))}')


def dense_config_keras20(name, units, activation, batch_input_shape=None, dtype='float64'):
    config = {'name': name, 'trainable': True}
    if batch_input_shape:
        config['batch_input_shape'] = batch_input_shape
        config['dtype'] = dtype
    config.update({
        'units': units, 'activation': activation, 'use_bias': True,
        'kernel_initializer': {'class_name': 'VarianceScaling', 'config': {'scale': 1.0, 'mode': 'fan_avg', 'distribution': 'uniform', 'seed': None}},
        'bias_initializer': {'class_name': 'Zeros', 'config': {}},
        'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None,
        'kernel_constraint': None, 'bias_constraint': None,
    })
    return {'class_name': 'Dense', 'config': config}


def combustion():
    base = [3, 50, 48, 1]
    ws = [(RNG.normal(0, np.sqrt(2 / (a + b)), (a, b)), RNG.normal(0, 0.1, b)) for a, b in zip(base, base[1:])]
    kernels = [w for w, _ in ws]
    biases = [b for _, b in ws]
    for layer, wide in ((0, 100), (1, 100)):
        n = kernels[layer].shape[1]
        plan = split_plan(n, scaled=True)
        while len(plan) != wide:  # exactly 100 units, as in the published model
            plan = split_plan(n, scaled=True)
        kernels[layer] = widen_columns(kernels[layer], plan, lambda c, t: c)
        biases[layer] = widen_columns(biases[layer], plan, lambda c, t: c)
        kernels[layer + 1] = widen_inputs(kernels[layer + 1], n, plan, lambda c, t: t / c)

    x = RNG.uniform(-1, 1, (16, 3))
    h = relu(x @ kernels[0] + biases[0])
    h = relu(h @ kernels[1] + biases[1])
    y = 1 / (1 + np.exp(-(h @ kernels[2] + biases[2])))

    names = ['dense_1', 'dense_2', 'dense_3']
    config = {'class_name': 'Sequential', 'config': [
        dense_config_keras20('dense_1', 100, 'relu', [None, 3]),
        dense_config_keras20('dense_2', 100, 'relu'),
        dense_config_keras20('dense_3', 1, 'sigmoid'),
    ]}
    training = {'optimizer_config': {'class_name': 'Adam', 'config': {'lr': 0.001, 'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-08, 'decay': 0.0}},
                'loss': 'mean_squared_error', 'metrics': [], 'sample_weight_mode': None, 'loss_weights': None}
    with h5py.File(OUT / 'combustion-keras2.0.6.h5', 'w') as f:
        f.attrs['keras_version'] = fixed(b'2.0.6')
        f.attrs['backend'] = fixed(b'theano')
        f.attrs['model_config'] = fixed(json.dumps(config).encode('utf8'))
        group = f.create_group('model_weights')
        group.attrs['layer_names'] = fixed_list([n.encode('utf8') for n in names])
        group.attrs['backend'] = fixed(b'theano')
        group.attrs['keras_version'] = fixed(b'2.0.6')
        for name, kernel, bias in zip(names, kernels, biases):
            g = group.create_group(name)
            weight_names = [f'{name}/kernel'.encode('utf8'), f'{name}/bias'.encode('utf8')]
            g.attrs['weight_names'] = fixed_list(weight_names)
            for weight_name, value in zip(weight_names, (kernel, bias)):
                g.create_dataset(weight_name, value.shape, dtype='float64')[:] = value
        f.attrs['training_config'] = fixed(json.dumps(training).encode('utf8'))
        optimizer = f.create_group('optimizer_weights')
        params = [v for pair in zip(kernels, biases) for v in pair]
        states = [np.float64(120)] + [RNG.normal(0, 1e-3, p.shape) for p in params] + [RNG.uniform(0, 1e-4, p.shape) for p in params]
        state_names = [b'iterations'] + [f'param_{i + 1}'.encode('utf8') for i in range(len(states) - 1)]
        optimizer.attrs['weight_names'] = fixed_list(state_names)
        for name, value in zip(state_names, states):
            dataset = optimizer.create_dataset(name, np.shape(value), dtype='float64')
            dataset[()] = value
    return {'widths': {'dense_1': base[1], 'dense_2': base[2]}, 'inputs': x.tolist(), 'outputs': y.tolist(), 'dtype': 'float64'}


def conv_theano():
    """Theano convolves (flips the kernel) where TensorFlow correlates: Keras flips such kernels on load."""
    kernel, bias = RNG.normal(0, 1, (3, 3, 1, 2)), RNG.normal(0, 0.1, 2)
    dense, dense_bias = RNG.normal(0, 1, (8, 1)), RNG.normal(0, 0.1, 1)
    x = RNG.normal(0, 1, (4, 4, 4, 1))
    y = conv2d(x, kernel[::-1, ::-1], bias, 'valid').reshape(len(x), -1) @ dense + dense_bias
    conv = {'class_name': 'Conv2D', 'config': {
        'name': 'conv2d_1', 'trainable': True, 'batch_input_shape': [None, 4, 4, 1], 'dtype': 'float64', 'filters': 2,
        'kernel_size': [3, 3], 'strides': [1, 1], 'padding': 'valid', 'data_format': 'channels_last', 'dilation_rate': [1, 1],
        'activation': 'linear', 'use_bias': True,
        'kernel_initializer': {'class_name': 'VarianceScaling', 'config': {'scale': 1.0, 'mode': 'fan_avg', 'distribution': 'uniform', 'seed': None}},
        'bias_initializer': {'class_name': 'Zeros', 'config': {}}, 'kernel_regularizer': None, 'bias_regularizer': None,
        'activity_regularizer': None, 'kernel_constraint': None, 'bias_constraint': None}}
    config = {'class_name': 'Sequential', 'config': [
        conv, {'class_name': 'Flatten', 'config': {'name': 'flatten_1', 'trainable': True}}, dense_config_keras20('dense_1', 1, 'linear')]}
    with h5py.File(OUT / 'conv-theano-keras2.0.6.h5', 'w') as f:
        f.attrs['keras_version'] = fixed(b'2.0.6')
        f.attrs['backend'] = fixed(b'theano')
        f.attrs['model_config'] = fixed(json.dumps(config).encode('utf8'))
        group = f.create_group('model_weights')
        group.attrs['layer_names'] = fixed_list([b'conv2d_1', b'flatten_1', b'dense_1'])
        group.attrs['backend'] = fixed(b'theano')
        group.attrs['keras_version'] = fixed(b'2.0.6')
        for name, values in (('conv2d_1', (kernel, bias)), ('flatten_1', ()), ('dense_1', (dense, dense_bias))):
            g = group.create_group(name)
            weight_names = [f'{name}/{role}'.encode('utf8') for role in ('kernel', 'bias')[:len(values)]]
            g.attrs['weight_names'] = fixed_list(weight_names) if weight_names else []
            for weight_name, value in zip(weight_names, values):
                g.create_dataset(weight_name, value.shape, dtype='float64')[:] = value
    return {'widths': {}, 'inputs': x.reshape(len(x), -1).tolist(), 'outputs': y.tolist(), 'dtype': 'float64', 'inputShape': [4, 4, 1]}


# ---- tf.keras 2.9, Functional CNN with BatchNormalization -----------------------------------------

def glorot(shape):
    fan_in, fan_out = np.prod(shape[:-1]), shape[-1] * (np.prod(shape[:-2]) if len(shape) > 2 else 1)
    return RNG.uniform(-1, 1, shape) * np.sqrt(6 / (fan_in + fan_out))


def initializer(name):
    return {'class_name': name, 'config': {'seed': None} if name == 'GlorotUniform' else {}}


def conv_config(name, filters, padding, use_bias):
    return {'name': name, 'trainable': True, 'dtype': 'float32', 'filters': filters, 'kernel_size': [3, 3],
            'strides': [1, 1], 'padding': padding, 'data_format': 'channels_last', 'dilation_rate': [1, 1],
            'groups': 1, 'activation': 'linear', 'use_bias': use_bias, 'kernel_initializer': initializer('GlorotUniform'),
            'bias_initializer': initializer('Zeros'), 'kernel_regularizer': None, 'bias_regularizer': None,
            'activity_regularizer': None, 'kernel_constraint': None, 'bias_constraint': None}


def bn_config(name):
    return {'name': name, 'trainable': True, 'dtype': 'float32', 'axis': [3], 'momentum': 0.99, 'epsilon': 0.001,
            'center': True, 'scale': True, 'beta_initializer': initializer('Zeros'), 'gamma_initializer': initializer('Ones'),
            'moving_mean_initializer': initializer('Zeros'), 'moving_variance_initializer': initializer('Ones'),
            'beta_regularizer': None, 'gamma_regularizer': None, 'beta_constraint': None, 'gamma_constraint': None}


def tf_dense_config(name, units, activation):
    return {'name': name, 'trainable': True, 'dtype': 'float32', 'units': units, 'activation': activation, 'use_bias': True,
            'kernel_initializer': initializer('GlorotUniform'), 'bias_initializer': initializer('Zeros'),
            'kernel_regularizer': None, 'bias_regularizer': None, 'activity_regularizer': None,
            'kernel_constraint': None, 'bias_constraint': None}


def functional_layer(class_name, config, inbound):
    return {'class_name': class_name, 'config': config, 'name': config['name'],
            'inbound_nodes': [[[inbound, 0, 0, {}]]] if inbound else []}


def random_bn(n):
    return [np.where(RNG.random(n) < 0.25, -1, 1) * RNG.uniform(0.5, 1.5, n), RNG.uniform(-0.5, 0.5, n),
            RNG.uniform(-0.5, 0.5, n), RNG.uniform(0.5, 2.0, n)]


def cnn():
    c1, c2, d1 = 4, 5, 6
    k1, b1 = glorot((3, 3, 2, c1)), RNG.normal(0, 0.1, c1)
    bn1 = random_bn(c1)
    k2 = glorot((3, 3, c1, c2))
    bn2 = random_bn(c2)
    k3, b3 = glorot((2 * 2 * c2, d1)), RNG.normal(0, 0.1, d1)
    k4, b4 = glorot((d1, 3)), RNG.normal(0, 0.1, 3)

    # Conv -> BN: the filter copied, gamma and beta scaled by c; consumers' channel slices by t / c.
    plan = split_plan(c1, scaled=True)
    k1, b1 = widen_columns(k1, plan, lambda c, t: 1), widen_columns(b1, plan, lambda c, t: 1)
    bn1 = [widen_columns(v, plan, (lambda c, t: c) if i < 2 else (lambda c, t: 1)) for i, v in enumerate(bn1)]
    k2 = widen_inputs(k2, c1, plan, lambda c, t: t / c)
    plan = split_plan(c2, scaled=True)
    k2 = widen_columns(k2, plan, lambda c, t: 1)
    bn2 = [widen_columns(v, plan, (lambda c, t: c) if i < 2 else (lambda c, t: 1)) for i, v in enumerate(bn2)]
    k3 = widen_inputs(k3, c2, plan, lambda c, t: t / c)
    plan = split_plan(d1, scaled=True)
    k3, b3 = widen_columns(k3, plan, lambda c, t: c), widen_columns(b3, plan, lambda c, t: c)
    k4 = widen_inputs(k4, d1, plan, lambda c, t: t / c)
    weights = [np.asarray(w, dtype=np.float32) for w in (k1, b1, *bn1, k2, *bn2, k3, b3, k4, b4)]
    k1, b1, g1, be1, m1, v1, k2, g2, be2, m2, v2, k3, b3, k4, b4 = weights

    x = RNG.normal(0, 1, (8, 8, 8, 2)).astype(np.float32)
    h = relu(batch_norm(conv2d(x, k1, b1, 'same'), g1, be1, m1, v1))
    h = max_pool(h)
    h = relu(batch_norm(conv2d(h, k2, None, 'valid'), g2, be2, m2, v2))
    h = relu(h.reshape(len(x), -1) @ k3 + b3)
    y = h @ k4 + b4

    layers = [
        {'class_name': 'InputLayer', 'config': {'batch_input_shape': [None, 8, 8, 2], 'dtype': 'float32', 'sparse': False,
                                                'ragged': False, 'name': 'input_1'}, 'name': 'input_1', 'inbound_nodes': []},
        functional_layer('Conv2D', conv_config('conv2d', k1.shape[-1], 'same', True), 'input_1'),
        functional_layer('BatchNormalization', bn_config('batch_normalization'), 'conv2d'),
        functional_layer('Activation', {'name': 'activation', 'trainable': True, 'dtype': 'float32', 'activation': 'relu'}, 'batch_normalization'),
        functional_layer('MaxPooling2D', {'name': 'max_pooling2d', 'trainable': True, 'dtype': 'float32', 'pool_size': [2, 2],
                                          'padding': 'valid', 'strides': [2, 2], 'data_format': 'channels_last'}, 'activation'),
        functional_layer('Conv2D', conv_config('conv2d_1', k2.shape[-1], 'valid', False), 'max_pooling2d'),
        functional_layer('BatchNormalization', bn_config('batch_normalization_1'), 'conv2d_1'),
        functional_layer('Activation', {'name': 'activation_1', 'trainable': True, 'dtype': 'float32', 'activation': 'relu'}, 'batch_normalization_1'),
        functional_layer('Flatten', {'name': 'flatten', 'trainable': True, 'dtype': 'float32', 'data_format': 'channels_last'}, 'activation_1'),
        functional_layer('Dense', tf_dense_config('dense', k3.shape[-1], 'relu'), 'flatten'),
        functional_layer('Dense', tf_dense_config('dense_1', 3, 'linear'), 'dense'),
    ]
    config = {'class_name': 'Functional', 'config': {'name': 'model', 'layers': layers,
                                                     'input_layers': [['input_1', 0, 0]], 'output_layers': [['dense_1', 0, 0]]}}
    layer_weights = {
        'conv2d': [('kernel', k1), ('bias', b1)],
        'batch_normalization': [('gamma', g1), ('beta', be1), ('moving_mean', m1), ('moving_variance', v1)],
        'conv2d_1': [('kernel', k2)],
        'batch_normalization_1': [('gamma', g2), ('beta', be2), ('moving_mean', m2), ('moving_variance', v2)],
        'dense': [('kernel', k3), ('bias', b3)],
        'dense_1': [('kernel', k4), ('bias', b4)],
    }
    training = {'loss': 'mse', 'metrics': None, 'weighted_metrics': None, 'loss_weights': None,
                'optimizer_config': {'class_name': 'Adam', 'config': {'name': 'Adam', 'learning_rate': 0.001, 'decay': 0.0,
                                                                      'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-07, 'amsgrad': False}}}
    with h5py.File(OUT / 'cnn-keras2.9.h5', 'w') as f:
        # tf.keras 2.9 saving: str for keras_version and backend, bytes for the JSON attributes (h5py 3: variable length).
        f.attrs['backend'] = 'tensorflow'
        f.attrs['keras_version'] = '2.9.0'
        f.attrs['model_config'] = json.dumps(config).encode('utf8')
        group = f.create_group('model_weights')
        names = [layer['name'] for layer in layers]
        group.attrs['layer_names'] = [n.encode('utf8') for n in names]
        group.attrs['backend'] = b'tensorflow'
        group.attrs['keras_version'] = b'2.9.0'
        for name in sorted(names):
            g = group.create_group(name)
            entries = layer_weights.get(name, [])
            weight_names = [f'{name}/{role}:0'.encode('utf8') for role, _ in entries]
            g.attrs['weight_names'] = weight_names
            for weight_name, (_, value) in zip(weight_names, entries):
                g.create_dataset(weight_name, value.shape, dtype=value.dtype)[:] = value
        f.attrs['training_config'] = json.dumps(training).encode('utf8')
        optimizer = f.create_group('optimizer_weights')
        states = [('Adam/iter:0', np.int64(40))] + [
            (f'Adam/{layer}/{role}/{slot}:0', np.zeros_like(value))
            for slot in ('m', 'v') for layer, entries in layer_weights.items() for role, value in entries if role in ('kernel', 'bias', 'gamma', 'beta')]
        optimizer.attrs['weight_names'] = [n.encode('utf8') for n, _ in states]
        for name, value in states:
            optimizer.create_dataset(name, np.shape(value), dtype=np.asarray(value).dtype)[()] = value
    return {'widths': {'conv2d': c1, 'conv2d_1': c2, 'dense': d1}, 'inputs': x.reshape(len(x), -1).tolist(),
            'outputs': y.tolist(), 'dtype': 'float32', 'inputShape': [8, 8, 2]}


# ---- Keras 3 archives ------------------------------------------------------------------------------

KERAS3_VERSION = '3.3.3'


def serialized(module, class_name, config, registered_name=None, **extra):
    return {'module': module, 'class_name': class_name, 'config': config, 'registered_name': registered_name, **extra}


POLICY = serialized('keras', 'DTypePolicy', {'name': 'float32'})


def k3_initializer(name):
    return serialized('keras.initializers', name, {'seed': None} if name != 'Zeros' and name != 'Ones' else {})


def k3_dense(name, units, activation, input_shape):
    return serialized('keras.layers', 'Dense', {
        'name': name, 'trainable': True, 'dtype': POLICY, 'units': units, 'activation': activation, 'use_bias': True,
        'kernel_initializer': k3_initializer('GlorotUniform'), 'bias_initializer': k3_initializer('Zeros'),
        'kernel_regularizer': None, 'bias_regularizer': None, 'kernel_constraint': None, 'bias_constraint': None,
    }, build_config={'input_shape': input_shape})


def keras_tensor(shape, history):
    return {'class_name': '__keras_tensor__', 'config': {'shape': shape, 'dtype': 'float32', 'keras_history': [history, 0, 0]}}


def node(shape, history, **kwargs):
    return [{'args': [keras_tensor(shape, history)], 'kwargs': kwargs}]


def adam_compile_config():
    return {'optimizer': serialized('keras.optimizers', 'Adam', {
        'name': 'adam', 'learning_rate': 0.0010000000474974513, 'weight_decay': None, 'clipnorm': None, 'global_clipnorm': None,
        'clipvalue': None, 'use_ema': False, 'ema_momentum': 0.99, 'ema_overwrite_frequency': None, 'loss_scale_factor': None,
        'gradient_accumulation_steps': None, 'beta_1': 0.9, 'beta_2': 0.999, 'epsilon': 1e-07, 'amsgrad': False}),
        'loss': 'mean_squared_error', 'loss_weights': None, 'metrics': None, 'weighted_metrics': None,
        'run_eagerly': False, 'steps_per_execution': 1, 'jit_compile': False}


def write_keras3(path, config, layer_vars, optimizer_vars):
    """The archive as Keras 3 saves it: stored entries metadata.json, config.json, model.weights.h5."""
    weights = BytesIO()
    with h5py.File(weights, 'w') as f:
        f.create_group('vars')  # the model's own (no) variables, saved first
        for key, values in layer_vars:
            vars_group = f.create_group(key).create_group('vars')
            for i, value in enumerate(values):
                vars_group[str(i)] = value
        if optimizer_vars is not None:
            vars_group = f.create_group('optimizer').create_group('vars')
            for i, value in enumerate(optimizer_vars):
                vars_group[str(i)] = value
    metadata = {'keras_version': KERAS3_VERSION, 'date_saved': '2024-08-17@12:00:00'}
    with zipfile.ZipFile(OUT / path, 'w') as zf:
        for name, data in (('metadata.json', json.dumps(metadata)), ('config.json', json.dumps(config)),
                           ('model.weights.h5', weights.getvalue())):
            zf.writestr(zipfile.ZipInfo(name, date_time=(2024, 8, 17, 12, 0, 0)), data)


def mlp_keras3():
    h1, h2 = 7, 5
    k1, b1 = glorot((6, h1)), RNG.normal(0, 0.1, h1)
    k2, b2 = glorot((h1, h2)), RNG.normal(0, 0.1, h2)
    k3, b3 = glorot((h2, 3)), RNG.normal(0, 0.1, 3)
    plan = split_plan(h1, scaled=True)
    k1, b1 = widen_columns(k1, plan, lambda c, t: c), widen_columns(b1, plan, lambda c, t: c)
    k2 = widen_inputs(k2, h1, plan, lambda c, t: t / c)
    plan = split_plan(h2, scaled=False)  # tanh: exact copies
    k2, b2 = widen_columns(k2, plan, lambda c, t: 1), widen_columns(b2, plan, lambda c, t: 1)
    k3 = widen_inputs(k3, h2, plan, lambda c, t: t)
    k1, b1, k2, b2, k3, b3 = (np.asarray(w, dtype=np.float32) for w in (k1, b1, k2, b2, k3, b3))

    x = RNG.normal(0, 1, (16, 6)).astype(np.float32)
    y = np.tanh(relu(x @ k1 + b1) @ k2 + b2) @ k3 + b3

    w1, w2 = k1.shape[1], k2.shape[1]
    layers = [
        serialized('keras.layers', 'InputLayer', {'batch_shape': [None, 6], 'dtype': 'float32', 'sparse': False, 'name': 'input_layer'},
                   name='input_layer', inbound_nodes=[]),
        {**k3_dense('dense', w1, 'relu', [None, 6]), 'name': 'dense', 'inbound_nodes': node([None, 6], 'input_layer')},
        {**serialized('keras.layers', 'Dropout', {'name': 'dropout', 'trainable': True, 'dtype': POLICY, 'rate': 0.1, 'seed': None,
                                                  'noise_shape': None}, build_config={'input_shape': [None, w1]}),
         'name': 'dropout', 'inbound_nodes': node([None, w1], 'dense', training=False)},
        {**k3_dense('dense_1', w2, 'tanh', [None, w1]), 'name': 'dense_1', 'inbound_nodes': node([None, w1], 'dropout')},
        {**k3_dense('dense_2', 3, 'linear', [None, w2]), 'name': 'dense_2', 'inbound_nodes': node([None, w2], 'dense_1')},
    ]
    config = serialized('keras.src.models.functional', 'Functional', {
        'name': 'functional', 'trainable': True, 'layers': layers,
        'input_layers': ['input_layer', 0, 0], 'output_layers': ['dense_2', 0, 0],
    }, registered_name='Functional', build_config={'input_shape': None}, compile_config=adam_compile_config())
    params = [k1, b1, k2, b2, k3, b3]
    optimizer = [np.int64(50), np.float32(0.001)] + [np.zeros_like(p) for p in params for _ in range(2)]
    write_keras3('mlp-keras3.keras', config, [
        ('layers/input_layer', []), ('layers/dense', [k1, b1]), ('layers/dropout', []),
        ('layers/dense_1', [k2, b2]), ('layers/dense_2', [k3, b3]),
    ], optimizer)
    return {'widths': {'dense': h1, 'dense_1': h2}, 'inputs': x.tolist(), 'outputs': y.tolist(), 'dtype': 'float32'}


def bn_keras3():
    h = 6
    k1, b1 = glorot((4, h)), RNG.normal(0, 0.1, h)
    bn = random_bn(h)
    k2, b2 = glorot((h, 2)), RNG.normal(0, 0.1, 2)
    plan = split_plan(h, scaled=True)
    k1, b1 = widen_columns(k1, plan, lambda c, t: 1), widen_columns(b1, plan, lambda c, t: 1)
    bn = [widen_columns(v, plan, (lambda c, t: c) if i < 2 else (lambda c, t: 1)) for i, v in enumerate(bn)]
    k2 = widen_inputs(k2, h, plan, lambda c, t: t / c)
    k1, b1, g, be, m, v, k2, b2 = (np.asarray(w, dtype=np.float32) for w in (k1, b1, *bn, k2, b2))

    x = RNG.normal(0, 1, (16, 4)).astype(np.float32)
    y = relu(batch_norm(x @ k1 + b1, g, be, m, v)) @ k2 + b2

    w = k1.shape[1]
    bn_layer = serialized('keras.layers', 'BatchNormalization', {
        'name': 'batch_normalization', 'trainable': True, 'dtype': POLICY, 'axis': -1, 'momentum': 0.99, 'epsilon': 0.001,
        'center': True, 'scale': True, 'beta_initializer': k3_initializer('Zeros'), 'gamma_initializer': k3_initializer('Ones'),
        'moving_mean_initializer': k3_initializer('Zeros'), 'moving_variance_initializer': k3_initializer('Ones'),
        'beta_regularizer': None, 'gamma_regularizer': None, 'beta_constraint': None, 'gamma_constraint': None, 'synchronized': False,
    }, build_config={'input_shape': [None, w]})
    activation = serialized('keras.layers', 'Activation', {'name': 'activation', 'trainable': True, 'dtype': POLICY, 'activation': 'relu'},
                            build_config={'input_shape': [None, w]})
    config = serialized('keras', 'Sequential', {
        'name': 'sequential', 'trainable': True, 'dtype': POLICY, 'layers': [
            serialized('keras.layers', 'InputLayer', {'batch_shape': [None, 4], 'dtype': 'float32', 'sparse': False, 'name': 'input_layer'}),
            k3_dense('dense', w, 'linear', [None, 4]), bn_layer, activation, k3_dense('dense_1', 2, 'linear', [None, w]),
        ], 'build_input_shape': [None, 4],
    }, build_config={'input_shape': [None, 4]}, compile_config=None)
    write_keras3('bn-keras3.keras', config, [
        ('layers/dense', [k1, b1]), ('layers/batch_normalization', [g, be, m, v]), ('layers/activation', []), ('layers/dense_1', [k2, b2]),
    ], None)
    return {'widths': {'dense': h}, 'inputs': x.tolist(), 'outputs': y.tolist(), 'dtype': 'float32'}


# ---- files that must be refused -------------------------------------------------------------------

def refused():
    names = [b'dense_1', b'dense_2']
    kernels = [RNG.normal(0, 1, (3, 4)), RNG.normal(0, 1, (4, 1))]
    with h5py.File(OUT / 'weights-only-keras2.h5', 'w') as f:
        # Keras 2 save_weights: the model_weights layout at the root, and no model_config.
        f.attrs['layer_names'] = fixed_list(names)
        f.attrs['backend'] = fixed(b'tensorflow')
        f.attrs['keras_version'] = fixed(b'2.2.4')
        for name, kernel in zip(names, kernels):
            g = f.create_group(name.decode())
            weight_names = [name + b'/kernel:0', name + b'/bias:0']
            g.attrs['weight_names'] = fixed_list(weight_names)
            g.create_dataset(weight_names[0], data=kernel.astype(np.float32))
            g.create_dataset(weight_names[1], data=np.zeros(kernel.shape[1], np.float32))
    with h5py.File(OUT / 'no-config-keras2.h5', 'w') as f:
        f.attrs['keras_version'] = fixed(b'2.2.4')
        f.attrs['backend'] = fixed(b'tensorflow')
        group = f.create_group('model_weights')
        group.attrs['layer_names'] = fixed_list(names)


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    reference = {
        'combustion-keras2.0.6.h5': combustion(),
        'cnn-keras2.9.h5': cnn(),
        'mlp-keras3.keras': mlp_keras3(),
        'bn-keras3.keras': bn_keras3(),
        'conv-theano-keras2.0.6.h5': conv_theano(),
    }
    refused()
    (OUT / 'reference.json').write_text(json.dumps(reference))


if __name__ == '__main__':
    main()
