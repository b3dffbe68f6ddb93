// Issue 11: RFC 9470 routes (acr, max_age) with the real @prelude.so/js-sdk
// 0.6.0. Run by tests/sdk_test.go (TestRealSDKACR), which configures:
//   scope payouts:write  acr urn:stepup:phone (possession-based), verify_sms, session-bound
//   scope mail:confirm   acr urn:stepup:mail, verify_email, session-bound
//   /api/payouts         stepup { acr urn:stepup:phone }
//   /api/recent          stepup payouts:write { max_age 5s }
// and sets STEPUP_SDK_STEPUP=1, STEPUP_DOMAIN and STEPUP_CODES_URL.

import { resetBrowser } from "./polyfill.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { PrldSessionClient } from "@prelude.so/js-sdk";
import { domain, nextCode, randomEmail, randomPhone } from "./harness.mjs";

const skip = process.env.STEPUP_SDK_STEPUP === "1" ? false : "step-up runs only with STEPUP_SDK_STEPUP=1";

async function loggedIn(type, value) {
  await resetBrowser();
  const client = new PrldSessionClient({ domain });
  await client.startOTPLogin({ identifier: { type, value } });
  const msg = await nextCode(value, 0);
  await client.checkOTP(msg.code);
  const profile = await client.getProfile();
  assert.match(profile?.sid ?? "", /^ses_/, "login failed");
  return { client, profile, sent: msg.sent };
}

/** Calls the legacy API behind the gateway with the SDK's current token. */
async function call(client, path) {
  const { user } = await client.refresh();
  const resp = await fetch(`https://${domain}${path}`, { headers: { Authorization: `Bearer ${user.accessToken}` } });
  const text = await resp.text();
  return { status: resp.status, wwwAuthenticate: resp.headers.get("www-authenticate") ?? "", body: text ? JSON.parse(text) : null };
}

/** Steps up for scope with the code sent to `to`, as the seed's demo does. */
async function stepUp(client, scope, to, sent) {
  const seen = [];
  const onChallenge = (info) => seen.push(info);
  const requested = await client.requestStepUp({ scope, onChallenge });
  assert.equal(requested.status, "review");
  const { challengeId } = seen[0];
  await client.otpCreate({ challengeId });
  const msg = await nextCode(to, sent);
  assert.equal(msg.purpose, "step_up");
  await client.otpCheck(challengeId, msg.code, onChallenge);
  assert.equal(seen.at(-1).currentStep, "completed");
  return msg.sent;
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

test("an acr route: the challenge names the scope, the SDK steps up, the token carries the acr", { skip }, async () => {
  const phone = randomPhone();
  const { client, profile, sent } = await loggedIn("phone_number", phone);
  assert.equal(profile.acr, "urn:stepup:otp");
  assert.deepEqual(profile.amr, ["otp", "sms"]);
  assert.ok(Math.abs(profile.auth_time - nowSeconds()) < 30, `auth_time ${profile.auth_time}`);

  const refused = await call(client, "/api/payouts");
  assert.equal(refused.status, 401);
  assert.match(refused.wwwAuthenticate, /^Bearer error="insufficient_user_authentication", /);
  assert.match(refused.wwwAuthenticate, /acr_values="urn:stepup:phone"/);
  assert.equal(refused.body.code, "step_up_required");
  assert.equal(refused.body.acr_values, "urn:stepup:phone");
  assert.equal(refused.body.step_up.scope, "payouts:write");

  await stepUp(client, refused.body.step_up.scope, phone, sent);
  const stepped = await client.getProfile();
  assert.equal(stepped.acr, "urn:stepup:phone");
  assert.deepEqual(stepped.amr, ["otp", "sms"]);
  assert.ok(stepped.auth_time >= profile.auth_time);
  assert.equal(stepped.sid, profile.sid);
  const passed = await call(client, "/api/payouts");
  assert.equal(passed.status, 200, JSON.stringify(passed.body));
});

test("max_age: a step-up too long ago, and the SDK steps up again", { skip }, async () => {
  const phone = randomPhone();
  const { client, sent } = await loggedIn("phone_number", phone);
  const last = await stepUp(client, "payouts:write", phone, sent);
  const fresh = await call(client, "/api/recent");
  assert.equal(fresh.status, 200, JSON.stringify(fresh.body));
  const before = (await client.getProfile()).auth_time;

  await new Promise((r) => setTimeout(r, 6500)); // the route's max_age is 5s
  const stale = await call(client, "/api/recent");
  assert.equal(stale.status, 401);
  assert.match(stale.wwwAuthenticate, /max_age=5(,|$)/);
  assert.doesNotMatch(stale.wwwAuthenticate, /acr_values/);
  assert.equal(stale.body.max_age, 5);
  assert.equal(stale.body.step_up.scope, "payouts:write");

  // The scope is still granted; requesting it again renews auth_time.
  await stepUp(client, stale.body.step_up.scope, phone, last);
  const renewed = await client.getProfile();
  assert.ok(renewed.auth_time > before, `auth_time ${renewed.auth_time} after ${before}`);
  const again = await call(client, "/api/recent");
  assert.equal(again.status, 200, JSON.stringify(again.body));
});

test("an email login and an email step: otp and email, never the phone's acr", { skip }, async () => {
  const email = randomEmail();
  const { client, profile, sent } = await loggedIn("email_address", email);
  assert.equal(profile.acr, "urn:stepup:otp");
  assert.deepEqual(profile.amr, ["otp", "email"]);
  await stepUp(client, "mail:confirm", email, sent);
  const stepped = await client.getProfile();
  assert.equal(stepped.acr, "urn:stepup:mail");
  assert.deepEqual(stepped.amr, ["otp", "email"]);
  const refused = await call(client, "/api/payouts");
  assert.equal(refused.status, 401);
  assert.equal(refused.body.acr_values, "urn:stepup:phone");
});
