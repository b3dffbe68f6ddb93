// A PrldSessionClient in its own realm (client-worker.mjs), for tests that
// need two independent browsers at once: two sessions of one user, one of
// which revokes the other.

import { Worker } from "node:worker_threads";

/** An error thrown by the SDK in the worker. */
export class RemoteSDKError extends Error {
  constructor({ name, message, prldClass }) {
    super(message);
    /** The SDK error's name, e.g. "UnauthorizedError". */
    this.sdkName = name;
    /** The PrldErrors key it is an instance of, e.g. "Unauthorized". */
    this.prldClass = prldClass;
  }
}

/**
 * Starts a client for `domain` in a worker thread. `call(method, ...args)`
 * runs a client method there (arguments and results must be cloneable: no
 * callbacks); `close()` ends the worker.
 */
export function startRemoteClient(domain) {
  const worker = new Worker(new URL("./client-worker.mjs", import.meta.url), { workerData: { domain } });
  const pending = new Map();
  let next = 0;
  worker.on("message", ({ id, ok, value, error }) => {
    const p = pending.get(id);
    pending.delete(id);
    if (ok) p.resolve(value);
    else p.reject(new RemoteSDKError(error));
  });
  worker.on("error", (err) => {
    for (const p of pending.values()) p.reject(err);
    pending.clear();
  });
  return {
    call(method, ...args) {
      const id = next++;
      return new Promise((resolve, reject) => {
        pending.set(id, { resolve, reject });
        worker.postMessage({ id, method, args });
      });
    },
    close: () => worker.terminate(),
  };
}
