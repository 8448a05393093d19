/** Types of `cluster-key-slot` (the package ships none): Redis Cluster's CRC16 hash slot of a key, hash tags honoured. */
declare module 'cluster-key-slot' {
  /** The slot (0–16383) of `key`. */
  export default function calculateSlot(key: string | Buffer): number;
  /** The slot of all `keys`, or -1 when they do not share one. */
  export function generateMulti(keys: Array<string | Buffer>): number;
}
