// The quick start's passkeys, clicked through in Chromium with a virtual
// authenticator added over the DevTools protocol (WebAuthn domain: CTAP2,
// internal transport, resident keys, user verification): log in with a
// code, "Add a passkey" (a step-up to prld:passkey:write with an SMS code,
// then enrolment), "Confirm with passkey" (a step-up to payment:confirm,
// whose step is verify_passkey and whose route needs acr phr), the legacy
// API once (200, then 401), log out, "Log in with a passkey".
import assert from "node:assert/strict";
import { join } from "node:path";
import { artifacts, assertNoAlert, openBrowser, origin, scopesOf, updateDocsScreenshot } from "./quickstart.mjs";

// Another number than the transfer flow's: each number gets a few codes an hour.
const phone = "+14155550188";

export async function passkeyFlow(t, { caddy, scratch }) {
  const { context, page, shot } = await openBrowser(t, scratch, "passkey");
  const alert = page.getByRole("alert");
  const notice = page.getByRole("status");

  // The authenticator: a platform one (internal transport) that keeps
  // discoverable credentials and verifies its user, touched automatically.
  const cdp = await context.newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  const credentials = async () => (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;

  // 1. Log in with a code; the passkey buttons are there, and no passkey yet.
  await page.goto(origin + "/");
  await page.getByRole("button", { name: "Log in with a passkey" }).waitFor();
  let mark = caddy.otpCount();
  await page.getByPlaceholder("+14155551234").fill(phone);
  await page.getByRole("button", { name: "Send OTP" }).click();
  await page.getByPlaceholder("Enter login code").fill(await caddy.waitForOTP(phone, mark));
  await page.getByRole("button", { name: "Verify" }).click();
  const addPasskey = page.getByRole("button", { name: "Add a passkey" });
  await addPasskey.waitFor();
  assert.match(await page.getByTestId("auth-event").innerText(), /amr otp, sms; acr urn:stepup:otp$/);
  assert.deepEqual(await credentials(), []);
  await shot("passkey-1-logged-in");

  // Without a passkey, the passkey step cannot be done: the page says so.
  await page.getByRole("button", { name: "Confirm with passkey" }).click();
  await alert.waitFor();
  assert.match(await alert.innerText(), /the account has no passkey for this site/);
  await shot("passkey-1b-no-passkey-yet");

  // 2. Add a passkey: first a step-up to prld:passkey:write (an SMS code),
  // then the browser creates the passkey and the gateway stores it.
  mark = caddy.otpCount();
  await addPasskey.click();
  const stepUpInput = page.getByPlaceholder("Enter step-up code");
  await stepUpInput.waitFor();
  await page.getByText("Step-up: verify your phone number, then add your passkey").waitFor();
  await stepUpInput.fill(await caddy.waitForOTP(phone, mark));
  await page.getByRole("button", { name: "Verify" }).click();
  await notice.filter({ hasText: "Passkey added" }).waitFor();
  assert.equal(await notice.innerText(), "Passkey added: This browser.");
  await assertNoAlert(alert);
  const enrolled = await credentials();
  assert.equal(enrolled.length, 1, JSON.stringify(enrolled));
  assert.equal(enrolled[0].rpId, "localhost");
  assert.equal(enrolled[0].isResidentCredential, true);
  await shot("passkey-2-added");

  // The legacy API's passkey route refuses the session as it is: no
  // payment:confirm, and the acr of a code login.
  const refused = await callAPI(page, "/api/payments");
  assert.equal(refused.status, 401, JSON.stringify(refused));
  assert.match(refused.challenge, /error="insufficient_user_authentication"/);
  assert.match(refused.challenge, /acr_values="phr"/);
  assert.equal(refused.body.step_up.scope, "payment:confirm");

  // 3. Confirm with passkey: the step-up's step is verify_passkey; the
  // browser signs the gateway's challenge with the passkey.
  await page.getByRole("button", { name: "Confirm with passkey" }).click();
  const passkeyStep = page.getByRole("article", { name: "Passkey step" });
  await passkeyStep.getByText("Step-up: confirm with your passkey").waitFor();
  assert.match(await passkeyStep.innerText(), /payment:confirm needs the passkey you added \(step verify_passkey\)/);
  await assertNoAlert(alert);
  await shot("passkey-3-step");
  await passkeyStep.screenshot({ path: join(artifacts, "passkey-3-step-card.png") });
  updateDocsScreenshot("passkey-3-step-card", "passkey-step.png");
  await passkeyStep.getByRole("button", { name: "Use my passkey" }).click();

  // 4. Granted: payment:confirm, with what a passkey earns (a device-bound
  // key, its user verified: hwk and pin) and the acr only a passkey earns.
  await page.getByText("Scope granted", { exact: true }).waitFor();
  const claims = JSON.parse(await page.locator("article pre").first().innerText());
  assert.ok(scopesOf(claims).includes("payment:confirm"), JSON.stringify(claims));
  assert.equal(claims.acr, "phr", JSON.stringify(claims));
  assert.deepEqual([...claims.amr].sort(), ["hwk", "pin"], JSON.stringify(claims));
  const [used] = await credentials();
  assert.ok(used.signCount > enrolled[0].signCount, `sign count ${enrolled[0].signCount} -> ${used.signCount}`);
  await assertNoAlert(alert);
  await shot("passkey-4-granted");

  // 5. The legacy API: the payment goes through once...
  const status = page.getByTestId("payment-status");
  await page.getByRole("button", { name: "Send payment" }).click();
  await status.filter({ hasText: /HTTP \d+/ }).waitFor();
  assert.equal(await status.innerText(), "HTTP 200");
  const answer = JSON.parse(await page.locator("section pre").innerText());
  assert.equal(answer.payment, "confirmed");
  assert.equal(answer.user, claims.sub);
  await shot("passkey-5-payment-200");

  // ...then a step-up challenge again: the grant was single-use.
  await page.getByRole("button", { name: "Send payment" }).click();
  await status.filter({ hasText: "HTTP 401" }).waitFor();
  assert.match(await page.locator("section pre").innerText(), /insufficient_user_authentication[\s\S]*"step_up_required"[\s\S]*"payment:confirm"/);
  await shot("passkey-6-payment-401");

  // 6. Log out, then log in with the passkey: no phone number, no code.
  await page.getByRole("button", { name: "Back" }).click();
  await page.getByRole("button", { name: "Log out" }).click();
  await page.getByRole("button", { name: "Log in with a passkey" }).click();
  await addPasskey.waitFor();
  await assertNoAlert(alert);
  assert.match(await page.getByTestId("auth-event").innerText(), /amr (hwk, pin|pin, hwk); acr phr$/);
  const loggedIn = await callAPI(page, "/api/profile");
  assert.equal(loggedIn.status, 200, JSON.stringify(loggedIn));
  assert.equal(loggedIn.body.user, claims.sub, "the passkey login is the same user");
  await shot("passkey-7-passkey-login");
}

/**
 * Calls the legacy API from the page with the access token the SDK holds
 * (its cache: localStorage "__preludejs__::<domain>", {body: {access_token}}).
 */
async function callAPI(page, path) {
  return page.evaluate(async (path) => {
    const cached = JSON.parse(localStorage.getItem(`__preludejs__::${location.host}`));
    const res = await fetch(path, { method: "POST", headers: { Authorization: `Bearer ${cached.body.access_token}` } });
    const text = await res.text();
    let body = text;
    try {
      body = JSON.parse(text);
    } catch {
      // not JSON: kept as text
    }
    return { status: res.status, challenge: res.headers.get("WWW-Authenticate"), body };
  }, path);
}
