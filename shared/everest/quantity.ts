/**
 * Kubernetes resource quantities ("500m", "2Gi", "1.5", "1e3") as plain numbers: CPU in cores, memory and
 * storage in bytes. client-node has a parser but does not export it from its package entry point.
 */
const SUFFIX: Readonly<Record<string, number>> = {
  n: 1e-9,
  u: 1e-6,
  m: 1e-3,
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
  E: 1e18,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  Ei: 2 ** 60,
};

const QUANTITY =
  /^([+-]?[0-9]+(?:\.[0-9]*)?|[+-]?\.[0-9]+)(?:([eE][+-]?[0-9]+)|(n|u|m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei))?$/;

/** The quantity's value; undefined when it is not a valid quantity. Numbers pass through. */
export function parseQuantity(quantity: string | number | undefined): number | undefined {
  if (typeof quantity === 'number') return Number.isFinite(quantity) ? quantity : undefined;
  if (quantity === undefined) return undefined;
  const match = QUANTITY.exec(quantity.trim());
  if (match === null) return undefined;
  const [, number = '', exponent, suffix = ''] = match;
  const value =
    Number(number) * (exponent === undefined ? (SUFFIX[suffix] ?? 1) : 10 ** Number(exponent.slice(1)));
  return Number.isFinite(value) ? value : undefined;
}
