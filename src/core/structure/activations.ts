/** Element-wise activations as Keras names them, with the two facts condensation needs. */
export interface ActivationFn {
  name: string;
  apply(x: number): number;
  /** f(c·x) = c·f(x) for c > 0: merged neurons' output weights are then scaled by the norm ratio. */
  homogeneous: boolean;
}

const erf = (x: number): number => {
  // Taylor series near zero, continued fraction for erfc further out: accurate to ~1e-15.
  const t = Math.abs(x);
  if (t < 2.5) {
    let sum = t, term = t;
    for (let n = 1; n < 60; n++) {
      term *= (-t * t) / n;
      const next = term / (2 * n + 1);
      sum += next;
      if (Math.abs(next) < 1e-17 * Math.abs(sum)) break;
    }
    return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
  }
  // Continued fraction for erfc.
  let f = 0;
  for (let n = 60; n >= 1; n--) f = n / 2 / (t + f);
  const erfc = Math.exp(-t * t) / Math.sqrt(Math.PI) / (t + f);
  return Math.sign(x) * (1 - erfc);
};

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
const softplus = (x: number): number => (x > 30 ? x : Math.log1p(Math.exp(x)));
const SELU_ALPHA = 1.6732632423543772;
const SELU_SCALE = 1.0507009873554805;

const TABLE: Record<string, Omit<ActivationFn, 'name'>> = {
  linear: { apply: (x) => x, homogeneous: true },
  relu: { apply: (x) => Math.max(0, x), homogeneous: true },
  relu6: { apply: (x) => Math.min(6, Math.max(0, x)), homogeneous: false },
  elu: { apply: (x) => (x > 0 ? x : Math.expm1(x)), homogeneous: false },
  selu: { apply: (x) => SELU_SCALE * (x > 0 ? x : SELU_ALPHA * Math.expm1(x)), homogeneous: false },
  sigmoid: { apply: sigmoid, homogeneous: false },
  hard_sigmoid: { apply: (x) => Math.min(1, Math.max(0, 0.2 * x + 0.5)), homogeneous: false },
  softplus: { apply: softplus, homogeneous: false },
  softsign: { apply: (x) => x / (1 + Math.abs(x)), homogeneous: false },
  tanh: { apply: Math.tanh, homogeneous: false },
  swish: { apply: (x) => x * sigmoid(x), homogeneous: false },
  mish: { apply: (x) => x * Math.tanh(softplus(x)), homogeneous: false },
  gelu: { apply: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), homogeneous: false },
  gelu_new: {
    apply: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
    homogeneous: false,
  },
};

const ALIASES: Record<string, string> = {
  hardsigmoid: 'hard_sigmoid', hardSigmoid: 'hard_sigmoid', silu: 'swish', None: 'linear',
};

/** Looks up a Keras activation name; null when unknown (the layer is then not reduced). */
export function activationByName(name: unknown): ActivationFn | null {
  if (name != null && typeof name !== 'string') return null;
  const key = name ?? 'linear';
  const canonical = ALIASES[key] ?? key;
  const entry = TABLE[canonical];
  return entry ? { name: canonical, ...entry } : null;
}

export function leakyRelu(alpha: number): ActivationFn {
  return { name: `leaky_relu(${alpha})`, apply: (x) => (x >= 0 ? x : alpha * x), homogeneous: true };
}

/** Several element-wise activations applied in order behave as one. */
export function compose(chain: ActivationFn[]): ActivationFn {
  if (chain.length === 1) return chain[0];
  const named = chain.filter((a) => a.name !== 'linear');
  return {
    name: named.length ? named.map((a) => a.name).join('∘') : 'linear',
    apply: (x) => chain.reduce((v, a) => a.apply(v), x),
    homogeneous: chain.every((a) => a.homogeneous),
  };
}
