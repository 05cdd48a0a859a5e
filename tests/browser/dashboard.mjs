// The dashboard in a real browser (Debian's chromium, driven by
// playwright-core): called by tests/all/dashboard.rs with the page's URL,
// its token, the dead letter to retry and where to save a screenshot.
// Prints one JSON line of what it saw; exits non-zero on any failure.
import { chromium } from "playwright-core";

const [url, token, deadId, screenshot] = process.argv.slice(2);
const seen = {};
const check = (ok, what) => {
  if (!ok) throw new Error(`${what}: ${JSON.stringify(seen)}`);
};

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
try {
  // Without the token: the page and every change are refused.
  const stranger = await browser.newContext();
  seen.anonymous_page = (await stranger.request.get(url)).status();
  seen.anonymous_retry = (await stranger.request.post(url + "api/dead/retry", { data: { all: true } })).status();
  check(seen.anonymous_page === 401 && seen.anonymous_retry === 401, "no token, no entry");

  const context = await browser.newContext({
    httpCredentials: { username: "ops", password: token },
    viewport: { width: 1280, height: 900 },
  });
  // With the token but not from the page (no CSRF value): refused.
  seen.no_csrf = (await context.request.post(url + "api/dead/delete", { data: { all: true } })).status();
  check(seen.no_csrf === 403, "a change without the page's CSRF value is refused");

  const page = await context.newPage();
  await page.goto(url);
  const count = async (label) =>
    Number(await page.locator(`[data-count="${label}"] .n`).textContent({ timeout: 10000 }));
  await page.locator('[data-count="done"]').waitFor({ timeout: 10000 });
  seen.done_first = await count("done");
  // Jobs are running: the count moves while the page is open.
  await page.waitForFunction(
    (before) => Number(document.querySelector('[data-count="done"] .n')?.textContent) > before,
    seen.done_first,
    { timeout: 20000 },
  );
  seen.done_later = await count("done");
  seen.hosts = await page.locator("#hosts tr").count();
  check(seen.hosts >= 2, "a live host is listed");
  // The plugin the host runs, with its describe() answer and version.
  await page.locator("#plugins", { hasText: "0.1.0" }).waitFor({ timeout: 10000 });
  seen.plugins = await page.locator("#plugins").textContent();
  check(seen.plugins.includes("music-sync") && seen.plugins.includes("*/tracks/*"), "plugins");
  // The schedule's round and its progress.
  await page.locator("#schedules", { hasText: "1 done, 0 dead of 1" }).waitFor({ timeout: 20000 });
  seen.schedules = await page.locator("#schedules").textContent();
  // The URL host under a concurrency limit has slots taken.
  await page.locator("#politeness", { hasText: "127.0.0.1" }).waitFor({ timeout: 10000 });
  seen.politeness = await page.locator("#politeness").textContent();

  // Retry the dead letter from its row; it leaves the list.
  const row = page.locator(`tr[data-dead-id="${deadId}"]`);
  await row.waitFor({ timeout: 10000 });
  await row.getByRole("button", { name: "Retry" }).click();
  await row.waitFor({ state: "detached", timeout: 10000 });
  seen.retried = true;
  // Delete one from its row, then the rest with "Delete all" (confirmed).
  const gone = page.locator('tr[data-dead-id="gone-1"]');
  await gone.getByRole("button", { name: "Delete" }).click();
  await gone.waitFor({ state: "detached", timeout: 10000 });
  await page.locator('tr[data-dead-id="gone-2"]').waitFor({ timeout: 10000 });
  page.once("dialog", (dialog) => dialog.accept());
  await page.getByRole("button", { name: "Delete all" }).click();
  seen.deleted = true;
  await page.waitForFunction(
    () => document.getElementById("dead-total").textContent === "(0)",
    null,
    { timeout: 20000 },
  );
  seen.dead_after = await count("dead");
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(JSON.stringify({ ok: true, ...seen }));
} finally {
  await browser.close();
}
