// Issue 12: the demo page in Debian's Chromium logs in through the real
// SDK's loginWithOAuth against panva's oidc-provider (its login and consent
// pages filled in here), lands back in the app, and steps up to
// transfer:write as in the quick start; and a login started in one browser
// is refused at the gateway's callback in another (the browser binding
// cookie). Run by tests/oauth_browser_test.go,
// which starts the provider, the gateway (serving demo/dist) and the OTP
// receiver, and sets:
//   STEPUP_APP_URL     the demo page, with ?oauth=okta
//   STEPUP_CODES_URL   the OTP receiver (?to=<phone>)
//   STEPUP_PHONE       the phone number the provider says the user verified
//   STEPUP_CHROMIUM    the browser (default /usr/bin/chromium)
//   STEPUP_ARTIFACTS   where screenshots and the page log go
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  assert.ok(v, `${name} is not set (tests/oauth_browser_test.go sets it)`);
  return v;
};
const appURL = env("STEPUP_APP_URL");
const phone = env("STEPUP_PHONE");
const artifacts = process.env.STEPUP_ARTIFACTS || "artifacts/oauth";

/** The newest code sent to `to` after `after` messages. */
async function nextCode(to, after) {
  const url = new URL(env("STEPUP_CODES_URL"));
  url.searchParams.set("to", to);
  for (let i = 0; i < 200; i++) {
    const resp = await fetch(url);
    if (resp.status === 200) {
      const msg = await resp.json();
      if (msg.sent > after) return msg;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.fail(`no code was sent to ${to}`);
}

test("OAuth login through oidc-provider, then a step-up, in Chromium", async () => {
  mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.STEPUP_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--ignore-certificate-errors"],
  });
  const log = [];
  try {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    page.on("console", (m) => log.push(`console.${m.type()}: ${m.text()}`));
    page.on("pageerror", (e) => log.push(`pageerror: ${e.message}`));
    page.on("response", (r) => log.push(`${r.request().method()} ${r.url().replace(/challenge_token=[^&]+/, "challenge_token=…")} -> ${r.status()}`));
    const shot = (name) => page.screenshot({ path: join(artifacts, `${name}.png`) });
    const alert = page.getByRole("alert");

    await page.goto(appURL);
    const oauthButton = page.getByRole("button", { name: "Log in with okta" });
    await oauthButton.waitFor();
    await shot("1-app");
    await oauthButton.click();

    // The provider's own pages: sign in as carol with a verified phone,
    // then consent.
    await page.waitForURL((u) => u.pathname.startsWith("/interaction/"));
    await page.locator('input[name="login"]').fill("carol");
    await page.locator('input[name="email"]').fill("carol@example.com");
    await page.locator('input[name="phone"]').fill(phone);
    await shot("2-provider-sign-in");
    await page.getByRole("button", { name: "Continue" }).click();
    await page.getByRole("heading", { name: "Authorize" }).waitFor();
    await page.getByRole("button", { name: "Continue" }).click();

    // Back in the app, logged in; the ticket is gone from the address bar.
    const stepUpButton = page.getByRole("button", { name: "Request transfer:write scope" });
    await stepUpButton.waitFor();
    assert.ok(!page.url().includes("challenge_token"), page.url());
    // The browser kept the login's binding from the SDK's authorize fetch
    // and brought it to the callback (which refuses a browser without it):
    // a host-only, Secure, HttpOnly, SameSite=Lax cookie.
    const binding = (await context.cookies()).find((c) => c.name === "__Host-stepup-oauth");
    assert.ok(binding, "no __Host-stepup-oauth cookie");
    assert.equal(binding.path, "/");
    assert.ok(binding.secure && binding.httpOnly, JSON.stringify(binding));
    assert.equal(binding.sameSite, "Lax");
    assert.match(binding.value, /^[A-Za-z0-9_-]{43}$/);
    assert.equal(await page.locator("article p code").innerText(), "none");
    assert.equal(await alert.count(), 0);
    await shot("3-logged-in");

    // Step-up to transfer:write: the code goes to the phone the provider
    // verified.
    const before = await fetch(`${env("STEPUP_CODES_URL")}?to=${encodeURIComponent(phone)}`);
    const sent = before.status === 200 ? (await before.json()).sent : 0;
    await stepUpButton.click();
    const input = page.getByPlaceholder("Enter step-up code");
    await input.waitFor();
    const msg = await nextCode(phone, sent);
    assert.equal(msg.purpose, "step_up");
    await input.fill(msg.code);
    await page.getByRole("button", { name: "Verify" }).click();
    await page.getByText("Scope granted", { exact: true }).waitFor();
    const claims = JSON.parse(await page.locator("article pre").first().innerText());
    assert.ok(claims.scope.split(" ").includes("transfer:write"), JSON.stringify(claims));
    assert.match(claims.sub, /^usr_/);
    await shot("4-scope-granted");

    // The legacy API through the gateway: accepted once.
    const status = page.getByTestId("transfer-status");
    await page.getByRole("button", { name: "Send transfer" }).click();
    await status.filter({ hasText: /HTTP \d+/ }).waitFor();
    assert.equal(await status.innerText(), "HTTP 200");
    await shot("5-transfer-200");
  } finally {
    writeFileSync(join(artifacts, "page.log"), log.join("\n") + "\n");
    await browser.close();
  }
});

test("a login started in one browser is refused at the callback in another", async () => {
  mkdirSync(artifacts, { recursive: true });
  const browser = await chromium.launch({
    executablePath: process.env.STEPUP_CHROMIUM || "/usr/bin/chromium",
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync", "--ignore-certificate-errors"],
  });
  try {
    // The starter (an attacker's browser) begins a login in the demo; its
    // way to the provider is stopped and the authorization URL kept.
    const starter = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await starter.newPage();
    let authorizationURL;
    await starter.route(/\/auth\?/, (route) => {
      authorizationURL = route.request().url();
      return route.abort();
    });
    await page.goto(appURL);
    await page.getByRole("button", { name: "Log in with okta" }).click();
    for (let i = 0; i < 200 && !authorizationURL; i++) await new Promise((r) => setTimeout(r, 25));
    assert.ok(authorizationURL, "the demo never went to the provider");

    // The victim's browser opens that URL and signs in at the provider,
    // which sends it to the gateway's callback: refused there, in JSON,
    // with no redirect back to the app and no ticket.
    const victim = await browser.newContext({ ignoreHTTPSErrors: true });
    const other = await victim.newPage();
    const callback = other.waitForResponse((r) => r.url().includes("/v1/session/login/oauth/okta/callback"));
    await other.goto(authorizationURL);
    await other.locator('input[name="login"]').fill("victim");
    await other.getByRole("button", { name: "Continue" }).click();
    await other.getByRole("heading", { name: "Authorize" }).waitFor();
    await other.getByRole("button", { name: "Continue" }).click();
    const answer = await callback;
    assert.equal(answer.status(), 400);
    assert.equal(answer.headers()["location"], undefined);
    const body = await answer.json();
    assert.equal(body.code, "bad_request");
    assert.ok(!other.url().includes("challenge_token"), other.url());
    await other.screenshot({ path: join(artifacts, "6-callback-in-another-browser.png") });
  } finally {
    await browser.close();
  }
});
