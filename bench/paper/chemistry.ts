/**
 * A stiff, hydrogen-like reaction system and its one-time-step map, the data of the combustion
 * experiment (the paper's DNN learns such a map for a real mechanism). Six tracked species in an
 * inert N₂ diluent, four elementary reactions with Arrhenius rates of realistic size:
 *
 *   R1  H + O₂      → OH + O      chain branching, endothermic, strongly temperature dependent
 *   R2  O + H₂      → OH + H
 *   R3  OH + H₂     → H₂O + H
 *   R4  H + OH + M  → H₂O + M     three-body recombination, the main heat release
 *
 * at constant pressure (the density follows T and the mean molar mass). Radical time scales reach
 * 1e-7 s while the step is 1e-6 s, so the map is integrated implicitly: backward Euler sub-steps,
 * each solved by Newton's method, halved where Newton fails. Every reaction conserves mass and
 * elements, and backward Euler conserves linear invariants exactly, which the tests check.
 */
import { cholesky, multiplyRows, solveCholesky, transposeMatrix } from '../../src/core/compute/linalg';
import { seededRandom } from '../../src/core/data/random';

const SPECIES = ['H2', 'O2', 'H2O', 'H', 'O', 'OH'] as const;
/** kg/mol. */
const MOLAR_MASS = [2.016e-3, 31.998e-3, 18.015e-3, 1.008e-3, 15.999e-3, 17.007e-3];
const N2_MOLAR_MASS = 28.014e-3;
/** Atoms per molecule: [H, O]. */
const ATOMS: [number, number][] = [[2, 0], [0, 2], [2, 1], [1, 0], [0, 1], [1, 1]];
const [H2, O2, H2O, H, O, OH] = [0, 1, 2, 3, 4, 5];
const SPECIES_COUNT = SPECIES.length;
/** The state: mass fractions of SPECIES, then temperature. */
export const STATE_SIZE = SPECIES_COUNT + 1;
const TEMPERATURE = SPECIES_COUNT;

const GAS_CONSTANT = 8.314;
/** J/(kg·K), held constant. */
const HEAT_CAPACITY = 1400;
const TIME_STEP = 1e-6;
const SUBSTEPS = 4;

interface Reaction {
  reactants: number[];
  products: number[];
  /** k = a·T^b·exp(−c/T), in mol, m³, s (a three-body reaction's k multiplies [M] too). */
  a: number;
  b: number;
  c: number;
  threeBody: boolean;
  /** Reaction enthalpy, J/mol (negative: exothermic). */
  enthalpy: number;
}

const REACTIONS: Reaction[] = [
  { reactants: [H, O2], products: [OH, O], a: 3.52e10, b: -0.7, c: 8590, threeBody: false, enthalpy: 70.3e3 },
  { reactants: [O, H2], products: [OH, H], a: 5.06e-2, b: 2.67, c: 3166, threeBody: false, enthalpy: 8.2e3 },
  { reactants: [OH, H2], products: [H2O, H], a: 1.17e3, b: 1.3, c: 1829, threeBody: false, enthalpy: -62.9e3 },
  { reactants: [H, OH], products: [H2O], a: 2.2e10, b: -2, c: 0, threeBody: true, enthalpy: -498.8e3 },
];

/** Time derivative of the state at pressure p (Pa). */
function rates(state: Float64Array, pressure: number): Float64Array {
  const T = state[TEMPERATURE];
  let inverseMolarMass = (1 - sumSpecies(state)) / N2_MOLAR_MASS;
  for (let i = 0; i < SPECIES_COUNT; i++) inverseMolarMass += state[i] / MOLAR_MASS[i];
  const total = pressure / (GAS_CONSTANT * T); // mol/m³
  const density = total / inverseMolarMass; // kg/m³
  const concentration = Array.from({ length: SPECIES_COUNT }, (_, i) => (density * state[i]) / MOLAR_MASS[i]);
  const derivative = new Float64Array(STATE_SIZE);
  for (const r of REACTIONS) {
    let rate = r.a * T ** r.b * Math.exp(-r.c / T) * (r.threeBody ? total : 1);
    for (const s of r.reactants) rate *= concentration[s];
    for (const s of r.reactants) derivative[s] -= (rate * MOLAR_MASS[s]) / density;
    for (const s of r.products) derivative[s] += (rate * MOLAR_MASS[s]) / density;
    derivative[TEMPERATURE] -= (r.enthalpy * rate) / (density * HEAT_CAPACITY);
  }
  return derivative;
}

function sumSpecies(state: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < SPECIES_COUNT; i++) sum += state[i];
  return sum;
}

/** g(y) = y − y_old − h·f(y): zero at the backward-Euler solution. */
export function implicitResidual(next: Float64Array, old: Float64Array, pressure: number, h: number): Float64Array {
  const f = rates(next, pressure);
  return next.map((v, i) => v - old[i] - h * f[i]);
}

/**
 * One backward-Euler step by Newton's method with a finite-difference Jacobian, or null when it does
 * not converge to a physical state (then the caller halves the step). The Newton system is solved
 * through its normal equations with the engine's Cholesky: in float64 that is plenty for a 7×7
 * system whose solution Newton refines anyway.
 */
function backwardEuler(old: Float64Array, pressure: number, h: number): Float64Array | null {
  const y = Float64Array.from(old);
  const n = STATE_SIZE;
  for (let iteration = 0; iteration < 40; iteration++) {
    const g = implicitResidual(y, old, pressure, h);
    const jacobian = new Float64Array(n * n);
    for (let j = 0; j < n; j++) {
      const step = 1e-7 * Math.max(Math.abs(y[j]), j === TEMPERATURE ? 1 : 1e-6);
      const shifted = Float64Array.from(y);
      shifted[j] += step;
      const gj = implicitResidual(shifted, old, pressure, h);
      for (let i = 0; i < n; i++) jacobian[i * n + j] = (gj[i] - g[i]) / step;
    }
    const jt = transposeMatrix(jacobian, n, n);
    const normal = multiplyRows(jt, n, jt, n, n);
    const rhs = multiplyRows(jt, n, g, 1, n);
    const update = solveCholesky(cholesky(normal, n), n, rhs, 1);
    let change = 0;
    for (let i = 0; i < n; i++) {
      y[i] -= update[i];
      change = Math.max(change, Math.abs(update[i]) * (i === TEMPERATURE ? 1e-3 : 1));
    }
    if (!y.every(Number.isFinite) || y[TEMPERATURE] <= 0) return null;
    if (change < 1e-13) return y.slice(0, SPECIES_COUNT).every((v) => v >= -1e-12) ? y : null;
  }
  return null;
}

/** Advances by h, halving wherever Newton fails (a radical pool that runs away within the step). */
export function advance(state: Float64Array, pressure: number, h: number, depth = 0): Float64Array {
  const next = backwardEuler(state, pressure, h);
  if (next) return next;
  if (depth === 24) throw new Error(`Newton did not converge from state ${Array.from(state).join(', ')}`);
  return advance(advance(state, pressure, h / 2, depth + 1), pressure, h / 2, depth + 1);
}

/** The state after one TIME_STEP. */
export function chemistryStep(state: Float64Array, pressure: number): Float64Array {
  let y = state;
  for (let s = 0; s < SUBSTEPS; s++) y = advance(y, pressure, TIME_STEP / SUBSTEPS);
  return y;
}

/** Kilomoles of H and O atoms per kg of mixture: invariants of every reaction. */
export function elements(state: Float64Array): [number, number] {
  const totals: [number, number] = [0, 0];
  for (let i = 0; i < SPECIES_COUNT; i++) for (const e of [0, 1]) totals[e] += (ATOMS[i][e] * state[i]) / MOLAR_MASS[i];
  return totals;
}

/** Network inputs: T, log10 p, then the mass fractions. */
export const INPUT_NAMES = ['T', 'log10 p', ...SPECIES.map((s) => `Y_${s}`)];
/** Network targets: the change of every mass fraction and of T over the step. */
export const OUTPUT_NAMES = [...SPECIES.map((s) => `dY_${s}`), 'dT'];

export interface ChemistryData {
  /** count × INPUT_NAMES.length, raw units. */
  inputs: Float64Array;
  /** count × OUTPUT_NAMES.length, raw units. */
  outputs: Float64Array;
  count: number;
}

/**
 * Random states, seeded: T 1000–2500 K, p 0.5–5 atm (log-uniform), a hydrogen–air-like mixture
 * (H₂ ≤ 3 %, O₂ ≤ 23 %, H₂O ≤ 20 % by mass) with radicals log-uniform between 1e-6 and 1e-2 of the
 * fuel-and-oxidiser mass, so the states span frozen to fast-burning chemistry.
 */
export function makeChemistryData(count: number, seed: number): ChemistryData {
  const random = seededRandom(seed);
  const uniform = (low: number, high: number) => low + (high - low) * random();
  const logUniform = (low: number, high: number) => Math.exp(uniform(Math.log(low), Math.log(high)));
  const inputs = new Float64Array(count * INPUT_NAMES.length);
  const outputs = new Float64Array(count * OUTPUT_NAMES.length);
  for (let n = 0; n < count; n++) {
    const pressure = 101325 * logUniform(0.5, 5);
    const state = new Float64Array(STATE_SIZE);
    state[H2] = uniform(0.002, 0.03);
    state[O2] = uniform(0.05, 0.23);
    state[H2O] = uniform(0, 0.2);
    for (const radical of [H, O, OH]) state[radical] = (state[H2] + state[O2]) * logUniform(1e-6, 1e-2) * (MOLAR_MASS[radical] / MOLAR_MASS[H2O]);
    state[TEMPERATURE] = uniform(1000, 2500);
    const after = chemistryStep(state, pressure);
    inputs.set([state[TEMPERATURE], Math.log10(pressure), ...state.subarray(0, SPECIES_COUNT)], n * INPUT_NAMES.length);
    outputs.set(after.map((v, i) => v - state[i]), n * OUTPUT_NAMES.length);
  }
  return { inputs, outputs, count };
}
