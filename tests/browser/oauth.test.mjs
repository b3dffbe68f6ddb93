// Issue 12: the demo page in Debian's Chromium logs in through the real
// SDK's loginWithOAuth against panva's oidc-provider (its login and consent
// pages filled in here), lands back in the app, and steps up to
// transfer:write as in the quick start. Run by tests/oauth_browser_test.go,
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
