// The device verification page in a real browser (Debian's headless Chromium, driven by
// playwright-core): what a user does with the code their device shows. Not a node:test suite:
// tests/it/device_page.rs runs it against a live server and reads the JSON it prints.
//
// Environment:
//   TOLLHOUSE_DEVICE_URL   verification_uri_complete of a pending device login
//   TOLLHOUSE_USER_CODE    its user_code, as shown (BCDF-GHJK)
//   TOLLHOUSE_LOGIN_URL    the app's initiateLoginUri (where Continue must lead)
//   TOLLHOUSE_SCREENSHOT   where to keep a screenshot of the page
//   CHROMIUM               the browser [default: /usr/bin/chromium]
import { chromium } from "playwright-core";

const need = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const deviceUrl = need("TOLLHOUSE_DEVICE_URL");
const userCode = need("TOLLHOUSE_USER_CODE");
const loginUrl = need("TOLLHOUSE_LOGIN_URL");
const screenshot = need("TOLLHOUSE_SCREENSHOT");

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu"],
});
const report = {};
try {
  const page = await browser.newPage();
  const requests = [];
  page.on("request", (r) => requests.push(r.url()));

  // verification_uri_complete: the code is already in the field, found by its label.
  await page.goto(deviceUrl);
  report.title = await page.title();
  const field = page.getByLabel("Device code");
  report.prefilled = await field.inputValue();
  report.focused = await field.evaluate((el) => el === document.activeElement);
  report.describedBy = await field.getAttribute("aria-describedby");
  await page.screenshot({ path: screenshot, fullPage: true });

  // A mistyped code: the page says so in an alert, and keeps what was typed.
  await field.fill("BCDF-BCDF");
  await page.getByRole("button", { name: "Continue" }).click();
  await page.waitForLoadState();
  report.wrongCodeAlert = (await page.getByRole("alert").textContent())?.trim();
  report.wrongCodeKept = await page.getByLabel("Device code").inputValue();

  // The right code, typed as a person might (lower case, no dash), then Continue.
  await page.getByLabel("Device code").fill(userCode.replace("-", "").toLowerCase());
  await Promise.all([
    page.waitForURL((url) => url.href.startsWith(loginUrl)),
    page.getByRole("button", { name: "Continue" }).click(),
  ]);
  const landed = new URL(page.url());
  report.landed = landed.origin + landed.pathname;
  report.query = Object.fromEntries(landed.searchParams);
  report.body = (await page.textContent("body"))?.trim();
  // Nothing but the page itself, the form post and the app's login page was fetched.
  report.foreignRequests = requests.filter(
    (u) => !u.startsWith(new URL(deviceUrl).origin) && !u.startsWith(new URL(loginUrl).origin),
  );
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
