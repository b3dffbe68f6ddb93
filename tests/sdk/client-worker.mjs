// One more browser profile for the SDK tests: a worker thread is its own
// JavaScript realm, so its polyfills give it its own IndexedDB (DPoP key,
// refresh token), localStorage (access token) and cookie jar. It runs one
// PrldSessionClient and performs the method calls remote-client.mjs posts.

import "./polyfill.mjs";
import { parentPort, workerData } from "node:worker_threads";
import { PrldErrors, PrldSessionClient } from "@prelude.so/js-sdk";

const client = new PrldSessionClient({ domain: workerData.domain });

parentPort.on("message", async ({ id, method, args }) => {
  try {
    const value = await client[method](...args);
    parentPort.postMessage({ id, ok: true, value });
  } catch (err) {
    // Errors don't cross realms with their classes: send which PrldErrors
    // class the error is an instance of.
    const prldClass = Object.entries(PrldErrors).find(([, C]) => typeof C === "function" && err instanceof C)?.[0];
    parentPort.postMessage({ id, ok: false, error: { name: err?.name, message: err?.message, prldClass } });
  }
});
