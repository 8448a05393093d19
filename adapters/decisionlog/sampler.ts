/**
 * mulberry32: a small, fast 32-bit PRNG; the same seed gives the same sequence on every platform,
 * so a test (or an operator replaying a run) knows exactly which decisions a sample keeps.
 * Returns numbers in [0, 1).
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Decides which decisions are recorded: every denial (non-OK code), and a `rate` share of the rest.
 * One PRNG draw per allowed decision, in arrival order, none for a denial or at rate 0 or 1.
 */
export class Sampler {
  private readonly next: () => number;

  constructor(
    readonly rate: number,
    seed: number = (Math.random() * 0x100000000) >>> 0,
  ) {
    this.next = mulberry32(seed);
  }

  keep(code: number): boolean {
    if (code !== 0 || this.rate >= 1) return true;
    if (this.rate <= 0) return false;
    return this.next() < this.rate;
  }
}
