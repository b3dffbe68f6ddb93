// Issue 3: the real @prelude.so/js-sdk 0.6.0 logs in against the real
// gateway with one-time codes, refreshes, lists and revokes sessions and
// logs out. Run by tests/sdk_test.go (TestRealSDKLogin), which starts
// caddy and the OTP receiver and sets STEPUP_DOMAIN and STEPUP_CODES_URL.

import { resetBrowser } from "./polyfill.mjs";
import { test } from "node:test";
import assert from "node:assert/strict";
import { PrldErrors, PrldSessionClient, decode } from "@prelude.so/js-sdk";
import { domain, nextCode, randomEmail, randomPhone, wrongCode } from "./harness.mjs";
import { startRemoteClient } from "./remote-client.mjs";

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** Asserts what every access token the SDK holds must say. */
function assertProfile(profile, accessToken) {
  assert.ok(profile, "no profile");
  assert.deepEqual(profile, decode(accessToken).claims, "profile is not the access token's claims");
  assert.match(profile.sub, /^usr_/, "sub");
  assert.match(profile.sid, /^ses_/, "sid");
  assert.equal(typeof profile.scope, "string", "scope claim is not a string");
  assert.equal(typeof profile.exp, "number", "exp");
  assert.ok(profile.exp > nowSeconds(), "access token already expired");
}

test("phone number: login, retry, wrong and right code, refresh, sessions, revoke others, logout", async (t) => {
  await resetBrowser();
  const phone = randomPhone();
  const a = new PrldSessionClient({ domain });

  // Start: Prelude answers 204, which the SDK returns as undefined.
  assert.equal(await a.startOTPLogin({ identifier: { type: "phone_number", value: phone } }), undefined);
  const first = await nextCode(phone, 0);
  assert.equal(first.purpose, "login");
  assert.match(first.code, /^\d{6}$/);

  // A resend delivers a new code; only the newest is valid.
  assert.equal(await a.retryOTP(), undefined);
  const second = await nextCode(phone, first.sent);
  assert.match(second.code, /^\d{6}$/);

  // 0.6.0 maps bad_check_code to BadRequest (prelude-protocol.md §4).
  await assert.rejects(a.checkOTP(wrongCode(second.code)), PrldErrors.BadRequest, "wrong code");
  if (first.code !== second.code) {
    await assert.rejects(a.checkOTP(first.code), PrldErrors.BadRequest, "superseded code");
  }
  assert.equal(await a.getProfile(), undefined, "a failed check must not log in");

  const login = await a.checkOTP(second.code);
  assert.equal(typeof login?.access_token, "string", "checkOTP returns the access token");
  assert.equal(typeof login.expires_at, "number", "expires_at must be Unix seconds");
  assert.ok(login.expires_at > nowSeconds(), "expires_at is in the past");
  const profile = await a.getProfile();
  assertProfile(profile, login.access_token);
  const sid = profile.sid;
  assert.equal(await a.getSessionId(), sid);

  // An unexpired token comes from the cache, without a request.
  const cached = await a.refresh();
  assert.equal(cached.user.accessToken, login.access_token);

  // Expired (the SDK's own invalidateCache): POST /refresh mints a new one
  // for the same session.
  await a.invalidateCache();
  const refreshed = await a.refresh();
  assert.notEqual(refreshed.user.accessToken, login.access_token, "refresh returned the old token");
  assertProfile(refreshed.user.profile, refreshed.user.accessToken);
  assert.equal(refreshed.user.profile.sid, sid, "refresh changed the session");
  assert.equal(refreshed.user.profile.sub, profile.sub, "refresh changed the user");
  assert.deepEqual(await a.getProfile(), refreshed.user.profile);

  // And again: the rotated refresh token works too.
  await a.invalidateCache();
  const again = await a.refresh();
  assert.notEqual(again.user.accessToken, refreshed.user.accessToken);
  assert.equal(again.user.profile.sid, sid);

  const listed = await a.listSessions();
  assert.ok(listed.total >= 1, `total ${listed.total}`);
  assert.equal(typeof listed.limit, "number");
  assert.equal(typeof listed.offset, "number");
  const mine = listed.sessions.find((s) => s.id === sid);
  assert.ok(mine, `session ${sid} is not listed`);
  for (const field of ["created_at", "last_seen_at", "expires_at"]) {
    assert.ok(!Number.isNaN(Date.parse(mine[field])), `${field} ${mine[field]} is not a date`);
  }
  assert.ok(Date.parse(mine.expires_at) > Date.now(), "listed session already expired");
  assert.ok(["desktop", "mobile", "tablet", "unknown"].includes(mine.device_type), `device_type ${mine.device_type}`);

  // A second browser (its own IndexedDB, localStorage and cookies) logs the
  // same user in: a second session of the same user.
  const b = startRemoteClient(domain);
  t.after(() => b.close());
  assert.equal(await b.call("startOTPLogin", { identifier: { type: "phone_number", value: phone } }), undefined);
  const third = await nextCode(phone, second.sent);
  const bLogin = await b.call("checkOTP", third.code);
  assert.equal(typeof bLogin.expires_at, "number");
  const bProfile = await b.call("getProfile");
  assertProfile(bProfile, bLogin.access_token);
  assert.equal(bProfile.sub, profile.sub, "the same phone number must be the same user");
  assert.notEqual(bProfile.sid, sid, "a second login must be a second session");

  const both = await b.call("listSessions");
  assert.ok(both.total >= 2, `total ${both.total}`);
  const ids = both.sessions.map((s) => s.id);
  assert.ok(ids.includes(sid) && ids.includes(bProfile.sid), `sessions ${ids}`);

  // B revokes the others: A can no longer refresh, B still can.
  assert.equal(await b.call("revokeSessions", "others"), undefined);
  await a.invalidateCache();
  await assert.rejects(a.refresh(), PrldErrors.Unauthorized, "a revoked session refreshed");
  await b.call("invalidateCache");
  const bRefreshed = await b.call("refresh");
  assert.equal(bRefreshed.user.profile.sid, bProfile.sid);
  const left = await b.call("listSessions");
  assert.deepEqual(
    left.sessions.map((s) => s.id),
    [bProfile.sid],
  );
  assert.equal(left.total, 1);

  // Logout: local state is gone and the session cannot be refreshed.
  assert.equal(await b.call("logout"), undefined);
  assert.equal(await b.call("getProfile"), undefined, "profile survived logout");
  assert.equal(await b.call("getSessionId"), null);
  await assert.rejects(b.call("refresh"), (err) => {
    assert.equal(err.prldClass, "Unauthorized", `refresh after logout: ${err.sdkName}: ${err.message}`);
    return true;
  });
});

test("e-mail address: login and logout", async () => {
  await resetBrowser();
  const email = randomEmail();
  const c = new PrldSessionClient({ domain });
  assert.equal(await c.startOTPLogin({ identifier: { type: "email_address", value: email } }), undefined);
  const msg = await nextCode(email, 0);
  assert.equal(msg.channel, "email");
  assert.equal(msg.purpose, "login");

  await assert.rejects(c.checkOTP(wrongCode(msg.code)), PrldErrors.BadRequest);
  const login = await c.checkOTP(msg.code);
  const profile = await c.getProfile();
  assertProfile(profile, login.access_token);

  await c.invalidateCache();
  const refreshed = await c.refresh();
  assert.equal(refreshed.user.profile.sid, profile.sid);
  assert.equal(refreshed.user.profile.sub, profile.sub);

  assert.equal(await c.logout(), undefined);
  assert.equal(await c.getProfile(), undefined);
  await assert.rejects(c.refresh(), PrldErrors.Unauthorized);

  // Logging in again with the same address is the same user, new session.
  await c.startOTPLogin({ identifier: { type: "email_address", value: email } });
  const next = await nextCode(email, msg.sent);
  await c.checkOTP(next.code);
  const relogged = await c.getProfile();
  assert.equal(relogged.sub, profile.sub);
  assert.notEqual(relogged.sid, profile.sid);
  await c.logout();
});

test("an unreachable server rejects cleanly", async () => {
  // A port nothing listens on: the SDK's three attempts fail and the call
  // rejects with the transport error, without hanging.
  const c = new PrldSessionClient({ domain: "127.0.0.1:1", timeout: 2000 });
  await assert.rejects(c.startOTPLogin({ identifier: { type: "phone_number", value: randomPhone() } }), TypeError);
  assert.equal(await c.getProfile(), undefined);
});
