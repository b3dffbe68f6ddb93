// What the SDK tests share: the environment the Go orchestrator
// (tests/sdk_test.go) passes, and a reader for the OTP codes its webhook
// receiver collected. Import polyfill.mjs before this module.

import assert from "node:assert/strict";
import { rawFetch } from "./polyfill.mjs";

/** Reads a required environment variable. */
export function env(name) {
  const v = process.env[name];
  assert.ok(v, `environment variable ${name} is not set (tests/sdk_test.go sets it)`);
  return v;
}

/** The SDK's `domain`: host:port of the gateway under test. */
export const domain = env("STEPUP_DOMAIN");

/**
 * Waits for a new OTP message to `to` and returns it: the receiver answers
 * GET <STEPUP_CODES_URL>?to=<to> with the newest message for that
 * destination and how many were sent there ({code, sent, purpose, ...}),
 * 404 while there is none. The gateway delivers before it answers, so the
 * wait is only a safety net.
 * @param {string} to destination (phone number or e-mail address)
 * @param {number} after how many messages to `to` were already seen
 */
export async function nextCode(to, after = 0) {
  const url = new URL(env("STEPUP_CODES_URL"));
  url.searchParams.set("to", to);
  for (let i = 0; i < 100; i++) {
    const resp = await rawFetch(url);
    if (resp.status === 200) {
      const msg = await resp.json();
      if (msg.sent > after) return msg;
    } else {
      assert.equal(resp.status, 404, `code receiver answered ${resp.status}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`no new code was sent to ${to} (after ${after} messages)`);
}

/** A fresh US test phone number (+1415555xxxx), so runs never share a user. */
export function randomPhone() {
  return "+1415555" + String(Math.floor(Math.random() * 10000)).padStart(4, "0");
}

/** A fresh e-mail address on a reserved domain. */
export function randomEmail() {
  return `sdk-${crypto.randomUUID().slice(0, 8)}@example.com`;
}

/** A six-digit code that differs from `code`. */
export function wrongCode(code) {
  return code === "000000" ? "111111" : "000000";
}
