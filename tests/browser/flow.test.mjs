// The quick start, clicked through as a person would: starts the example the
// way README's first command does (./quickstart.sh: builds caddy with xcaddy,
// builds the demo page, runs Caddyfile.example), opens https://localhost:8443/
// in Debian's Chromium (playwright-core, no browser download), and
//  - logs in with a phone number, steps up to transfer:write, and calls the
//    legacy API through the gateway: 200 once, then 401 (the grant is
//    single-use);
//  - with a virtual authenticator (passkey-flow.mjs): adds a passkey after a
//    step-up to prld:passkey:write, steps up with it to payment:confirm,
//    whose route needs the passkey acr, calls the legacy API (200 once, then
//    401), and logs in with the passkey.
// Every OTP is read from caddy's log, like the person at the terminal would.
//
//   node --test tests/browser/flow.test.mjs
//
// Environment:
//   STEPUP_CADDY=/path/to/caddy   skip the xcaddy build in development: build
//                                 the demo page and run this binary with the
//                                 same config instead of ./quickstart.sh
//   STEPUP_CADDYFILE=path         the config for STEPUP_CADDY (default
//                                 Caddyfile.example)
//   STEPUP_CHROMIUM=path          the browser (default /usr/bin/chromium)
//   UPDATE_DOCS_SCREENSHOT=1      also copy the "Scope granted" + HTTP 200
//                                 screenshot to docs/quickstart.png, and the
//                                 passkey step's to docs/passkey-step.png
//
// Screenshots, caddy's log, the pages' console and network traces go to
// tests/browser/artifacts/ (git-ignored).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { passkeyFlow } from "./passkey-flow.mjs";
import { assertNoAlert, assertVisibleText, openBrowser, origin, scopesOf, startQuickStart, updateDocsScreenshot } from "./quickstart.mjs";

const phone = "+14155551234";
const timeout = 30 * 60 * 1000;

// One quick start for both flows (its build is the slow part); each flow
// has its own browser profile and phone number.
let quickStart;
before(async () => {
  quickStart = await startQuickStart();
}, { timeout });
after(() => quickStart?.stop());

test("quick start: login, step-up to transfer:write, legacy API 200 then 401", { timeout }, async (t) => {
  const { caddy, scratch } = quickStart;
  const { page, shot } = await openBrowser(t, scratch, "transfer");
  const alert = page.getByRole("alert");

  // 1. Login: the seed's phone input and button.
  await page.goto(origin + "/");
  await page.getByRole("heading", { name: "Step-Up Demo" }).waitFor();
  const phoneInput = page.getByPlaceholder("+14155551234");
  await phoneInput.waitFor();
  assert.equal(await phoneInput.getAttribute("type"), "tel");
  await assertVisibleText(page, "terminal running caddy");
  await shot("1-login");

  let mark = caddy.otpCount();
  await phoneInput.fill(phone);
  await page.getByRole("button", { name: "Send OTP" }).click();

  // 2. The login code, read from caddy's log.
  const codeInput = page.getByPlaceholder("Enter login code");
  await codeInput.waitFor();
  const loginCode = await caddy.waitForOTP(phone, mark);
  await shot("2-code");
  await codeInput.fill(loginCode);
  await page.getByRole("button", { name: "Verify" }).click();

  // 3. Logged in, without the scope yet.
  const stepUpButton = page.getByRole("button", { name: "Request transfer:write scope" });
  await stepUpButton.waitFor();
  assert.match(await page.locator("article p").innerText(), /^Logged in\. Access token scopes: /);
  assert.equal(await page.locator("article p code").innerText(), "none");
  await assertNoAlert(alert);
  await shot("3-logged-in");

  // 4. Step-up: a second code to the same phone; Resend sends another.
  mark = caddy.otpCount();
  await stepUpButton.click();
  const stepUpInput = page.getByPlaceholder("Enter step-up code");
  await stepUpInput.waitFor();
  await assertVisibleText(page, "Step-up: verify your phone number");
  const firstStepUpCode = await caddy.waitForOTP(phone, mark);
  assert.notEqual(firstStepUpCode, loginCode);
  await assertNoAlert(alert);
  await shot("4-stepup-code");

  // Resend as a person would: the server refuses resends for a while after
  // each send ("Too many attempts: wait and try again."), so wait and retry.
  mark = caddy.otpCount();
  const resend = page.getByRole("button", { name: "Resend" });
  let stepUpCode;
  for (let tries = 1; !stepUpCode; tries++) {
    await resend.click();
    stepUpCode = await caddy.waitForOTP(phone, mark, 3_000).catch((err) => {
      if (!/no OTP/.test(err.message) || tries >= 20) throw err;
    });
    if (!stepUpCode) {
      await alert.waitFor();
      assert.match(await alert.innerText(), /wait a little/);
      if (tries === 1) await shot("4b-stepup-resend-too-soon");
      await sleep(5_000);
    }
  }
  await assertNoAlert(alert);

  // A wrong code is refused and the view stays.
  await stepUpInput.fill(wrongCode(stepUpCode, firstStepUpCode));
  await page.getByRole("button", { name: "Verify" }).click();
  await alert.waitFor();
  await shot("5-stepup-wrong-code");
  await stepUpInput.waitFor();

  await stepUpInput.fill(stepUpCode);
  await page.getByRole("button", { name: "Verify" }).click();

  // 5. Scope granted: the decoded claims carry transfer:write.
  await page.getByText("Scope granted", { exact: true }).waitFor();
  const claimsText = await page.locator("article pre").first().innerText();
  const claims = JSON.parse(claimsText);
  assert.ok(scopesOf(claims).includes("transfer:write"), `claims without transfer:write: ${claimsText}`);
  await assertNoAlert(alert);
  await shot("6-scope-granted");

  // 6. The legacy API through the gateway: accepted once...
  const status = page.getByTestId("transfer-status");
  await page.getByRole("button", { name: "Send transfer" }).click();
  await status.filter({ hasText: /HTTP \d+/ }).waitFor();
  assert.equal(await status.innerText(), "HTTP 200");
  assert.match(await page.locator("section pre").innerText(), /"transfer":"accepted"/);
  await shot("7-transfer-200");
  updateDocsScreenshot("7-transfer-200", "quickstart.png");

  // ...then a step-up challenge again: the grant was single-use.
  await page.getByRole("button", { name: "Send transfer" }).click();
  await status.filter({ hasText: "HTTP 401" }).waitFor();
  assert.equal(await status.innerText(), "HTTP 401");
  assert.match(await page.locator("section pre").innerText(), /insufficient_user_authentication[\s\S]*"step_up_required"/);
  await shot("8-transfer-401");
});

test("quick start: passkeys: enrol, step up to payment:confirm, legacy API 200 then 401, log in with the passkey", { timeout }, (t) =>
  passkeyFlow(t, quickStart),
);

/** A six-digit code that is neither of the given ones. */
function wrongCode(...codes) {
  for (let n = 0; ; n++) {
    const candidate = String(n).padStart(codes[0].length, "0");
    if (!codes.includes(candidate)) return candidate;
  }
}
