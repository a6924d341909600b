/** Rounds to the nearest integer, ties to even: what cvRound does on x86 (SSE conversion). */
export function roundHalfEven(value: number): number {
  const r = Math.round(value);
  return r - value === 0.5 && (r & 1) !== 0 ? r - 1 : r;
}
