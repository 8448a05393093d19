/**
 * The report bench's baseline consumer: pops JSON batches from a Redis list and parses them, as a bare
 * Node worker would, until it has seen `expected` bags; prints the bag count and exits.
 * Usage: node report-baseline-worker.js <redis-url> <list-key> <expected-bags>
 */
import { Redis } from 'ioredis';

async function main(): Promise<void> {
  const [url, key, expectedText] = process.argv.slice(2);
  const expected = Number(expectedText);
  const redis = new Redis(url);
  let bags = 0;
  while (bags < expected) {
    const popped = await redis.brpop(key, 5);
    if (!popped) break;
    const batch = JSON.parse(popped[1]) as { attributes: unknown[] };
    bags += batch.attributes.length;
  }
  process.stdout.write(`${bags}\n`);
  redis.disconnect();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exitCode = 1;
});
