// The browser environment the real @prelude.so/js-sdk 0.6.0 needs, in
// Node >= 20 (prelude-protocol.md §13). Import this module before the SDK:
//
//   import { jar } from "./polyfill.mjs";
//   import { PrldSessionClient } from "@prelude.so/js-sdk";
//
// Everything lives on this realm's globalThis, so one Node realm is one
// browser profile: a second, independent client needs its own realm (see
// remote-client.mjs, which runs one in a worker thread).
//
// With STEPUP_SDK_DEBUG=1 every request is logged to stderr as method,
// path, status, cookie names and the error code of a failed answer; never
// a header value, a body, a query value or a token.

import "fake-indexeddb/auto"; // IndexedDB that stores CryptoKeys (structuredClone keeps them)
import { CookieJar } from "./cookie-jar.mjs";

const debug = process.env.STEPUP_SDK_DEBUG === "1";

/** The cookie jar behind this realm's fetch. */
export const jar = new CookieJar();

/** Node's own fetch, which neither sends nor keeps cookies. */
export const rawFetch = globalThis.fetch;

function define(name, value) {
  Object.defineProperty(globalThis, name, { value, configurable: true, writable: true, enumerable: true });
}

// The SDK tests `typeof window`, registers a pagehide listener and refuses
// to run outside a secure context.
define("window", globalThis);
if (typeof globalThis.addEventListener !== "function") define("addEventListener", () => {});
if (typeof globalThis.removeEventListener !== "function") define("removeEventListener", () => {});
define("isSecureContext", true);

/**
 * navigator.locks as the SDK uses it: request(name, {signal}, callback),
 * exclusive, in arrival order. Node 20 has no navigator at all, later
 * versions one without locks; ours replaces either.
 */
class LockManager {
  #tails = new Map();

  request(name, options, callback) {
    if (typeof options === "function") [options, callback] = [{}, options];
    const signal = options?.signal;
    const previous = this.#tails.get(name) ?? Promise.resolve();
    let release;
    const held = new Promise((resolve) => (release = resolve));
    const tail = previous.then(() => held);
    this.#tails.set(name, tail);
    return previous.then(async () => {
      try {
        if (signal?.aborted) throw signal.reason ?? new DOMException("Aborted", "AbortError");
        return await callback({ name, mode: "exclusive" });
      } finally {
        release();
        if (this.#tails.get(name) === tail) this.#tails.delete(name);
      }
    });
  }
}
define("navigator", { userAgent: `Node.js/${process.versions.node} (caddy-stepup SDK tests)`, locks: new LockManager() });

/**
 * Web Storage: the methods live on the prototype and every item is an own
 * enumerable property, so Object.keys(localStorage) lists the keys only,
 * as the SDK's cache expects.
 */
class MemoryStorage {
  get length() {
    return Object.keys(this).length;
  }
  key(i) {
    return Object.keys(this)[i] ?? null;
  }
  getItem(k) {
    return Object.prototype.hasOwnProperty.call(this, k) ? this[k] : null;
  }
  setItem(k, v) {
    Object.defineProperty(this, String(k), { value: String(v), enumerable: true, configurable: true, writable: true });
  }
  removeItem(k) {
    delete this[String(k)];
  }
  clear() {
    for (const k of Object.keys(this)) delete this[k];
  }
}
define("localStorage", new MemoryStorage());

/** fetch with the browser's cookie handling for credentials:"include". */
async function fetchWithCookies(input, init = {}) {
  const url = new URL(typeof input === "string" || input instanceof URL ? String(input) : input.url);
  if (url.protocol !== "https:" && url.protocol !== "http:") return rawFetch(input, init); // data: (the SDK's WASM)
  // No page origin exists here, so only "include" counts: the SDK's
  // credential-less GET /me/list goes without cookies, as it would from a
  // page on another origin.
  const withCookies = init.credentials === "include";
  const headers = new Headers(init.headers ?? (input instanceof Request ? input.headers : undefined));
  const cookie = withCookies ? jar.header(url) : "";
  if (cookie) headers.set("Cookie", cookie);
  const method = init.method ?? (input instanceof Request ? input.method : "GET");
  let response;
  try {
    response = await rawFetch(input, { ...init, headers });
  } catch (err) {
    if (debug) log(`${method} ${describe(url)} -> ${err?.cause?.code ?? err?.name ?? "error"}`);
    throw err;
  }
  const events = withCookies ? jar.store(url, response.headers.getSetCookie()) : [];
  if (debug) {
    let code = "";
    if (!response.ok) {
      code = await response
        .clone()
        .json()
        .then((b) => ` code=${b?.code}`)
        .catch(() => " (non-JSON body)");
    }
    log(
      `${method} ${describe(url)} -> ${response.status}${code}` +
        (cookie ? ` cookies-sent=[${cookie.split("; ").map((c) => c.split("=")[0])}]` : "") +
        (events.length ? ` cookies: ${events.join(", ")}` : ""),
    );
  }
  return response;
}
define("fetch", fetchWithCookies);

/** The path with query parameter names only (values may be identifiers). */
function describe(url) {
  const keys = [...url.searchParams.keys()];
  return url.pathname + (keys.length ? "?" + keys.join("&") : "");
}

function log(line) {
  process.stderr.write(`[sdk-http] ${line}\n`);
}

/**
 * Forgets everything a browser profile keeps for the SDK: cookies,
 * localStorage, and the records of the SDK's IndexedDB database (cleared,
 * not deleted, since an SDK client may hold it open). Tests that share a
 * realm call it first so that one test's session never leaks into the next.
 */
export async function resetBrowser() {
  jar.clear();
  localStorage.clear();
  const dbs = await indexedDB.databases();
  for (const { name } of dbs) {
    const db = await new Promise((resolve, reject) => {
      const req = indexedDB.open(name);
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    const stores = [...db.objectStoreNames];
    if (stores.length) {
      await new Promise((resolve, reject) => {
        const tx = db.transaction(stores, "readwrite");
        for (const s of stores) tx.objectStore(s).clear();
        tx.oncomplete = resolve;
        tx.onerror = () => reject(tx.error);
      });
    }
    db.close();
  }
}
