import { Worker } from 'node:worker_threads';

/**
 * Runs `source` (CommonJS, `require` relative to dist/) in a worker thread and resolves with the
 * value it posts, or rejects when it throws or has not answered by `deadlineMs`. For work that could
 * block a thread for good (a catastrophic regex): the test's own thread stays free to give up.
 */
export async function answerInWorker(source: string, deadlineMs: number): Promise<unknown> {
  const w = new Worker(`const { parentPort } = require('node:worker_threads');\n${source}`, { eval: true });
  try {
    return await new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer from the worker within ${deadlineMs} ms`)), deadlineMs);
      w.once('message', (v: unknown) => {
        clearTimeout(t);
        resolve(v);
      });
      w.once('error', (err) => {
        clearTimeout(t);
        reject(err);
      });
    });
  } finally {
    await w.terminate();
  }
}
