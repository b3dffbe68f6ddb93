// Issue 12: password login and sign-up with the real @prelude.so/js-sdk
// 0.6.0. Run by tests/sdk_test.go (TestRealSDKPassword), which configures
// `login password { min_length 10; numbers }` and sets STEPUP_DOMAIN and
// STEPUP_CODES_URL.

import { resetBrowser } from "./polyfill.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { PrldErrors, PrldSessionClient } from "@prelude.so/js-sdk";
import { domain, nextCode, randomEmail } from "./harness.mjs";

const strong = "correct horse 42";

async function freshClient() {
  await resetBrowser();
  return new PrldSessionClient({ domain });
}

/** Signs up and proves the address with the code, as the app does. */
async function signUp(client, email, password, sent = 0) {
  await client.signUpWithEmail({ identifier: email, password });
  // finalize sent the code and opened no session yet.
  assert.ok(!(await client.getProfile()), "a session before the address was proven");
  const msg = await nextCode(email, sent);
  assert.equal(msg.channel, "email");
  assert.equal(msg.purpose, "login");
  await client.checkOTP(msg.code);
  return msg.sent;
}

test("the compliancy, and the SDK's own check of it", async () => {
  const client = await freshClient();
  const policy = await client.getPasswordCompliancy();
  assert.deepEqual(policy, { min_length: 10, max_length: 128, uppercase: 0, lowercase: 0, numbers: 1, symbols: 0 });
  assert.equal((await client.validatePassword("short1")).valid, false);
  assert.equal((await client.validatePassword("no digits here")).valid, false);
  assert.equal((await client.validatePassword(strong)).valid, true);
});

test("sign up, log out, log in with the password; a wrong one and a weak one", async () => {
  const email = randomEmail();
  let client = await freshClient();
  await assert.rejects(client.signUpWithEmail({ identifier: email, password: "short1" }), PrldErrors.InvalidPassword);
  const sent = await signUp(client, email, strong);
  const signedUp = await client.getProfile();
  assert.match(signedUp.sub, /^usr_/);
  assert.deepEqual(signedUp.amr, ["otp", "email"]);
  await client.logout();

  client = await freshClient();
  await assert.rejects(client.loginWithPassword({ identifier: email, password: "correct horse 43" }), PrldErrors.Unauthorized);
  await assert.rejects(client.loginWithPassword({ identifier: randomEmail(), password: strong }), PrldErrors.Unauthorized);
  assert.ok(!(await client.getProfile()));
  await client.loginWithPassword({ identifier: email.toUpperCase(), password: strong });
  const profile = await client.getProfile();
  assert.equal(profile.sub, signedUp.sub);
  assert.equal(profile.acr, "urn:stepup:pwd");
  assert.deepEqual(profile.amr, ["pwd"]);
  // A real session: it refreshes and lists itself.
  await client.invalidateCache();
  const { user } = await client.refresh();
  assert.equal(user.profile.sid, profile.sid);
  const { sessions } = await client.listSessions();
  assert.ok(sessions.some((s) => s.id === profile.sid));

  // Signing up again with the address: its owner learns after the code.
  const again = await freshClient();
  await again.signUpWithEmail({ identifier: email, password: "another one 7" });
  const msg = await nextCode(email, sent);
  await assert.rejects(again.checkOTP(msg.code), PrldErrors.Conflict);
  await assert.rejects(again.loginWithPassword({ identifier: email, password: "another one 7" }), PrldErrors.Unauthorized);
});
