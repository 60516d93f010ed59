// The console in headless Chromium (Debian's), driven by playwright-core: sign in, find an
// artifact by filters, symbolicate a pasted JavaScript stack and a pasted tombstone, see the
// explanation of a frame whose file was never uploaded and the missing-artifact report, delete
// (after the dry run) and restore, the health page; a read-only key sees no delete button and
// gets 403 if it tries; another tenant's key sees nothing of this one. Run by run.sh, which
// starts symxd, uploads the fixtures and passes what to expect in the environment.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import path from "node:path";

const env = process.env;
const require = createRequire(path.join(env.MODULES, "package.json"));
const { chromium } = require("playwright-core");
const URL = env.SYMX_URL + "/console";
const TIMEOUT = 15000;

const browser = await chromium.launch({
  executablePath: env.CHROMIUM,
  headless: true,
  // A closed network: no background connections, no component updates.
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

let failures = 0;
async function step(name, fn) {
  try {
    await fn();
    console.log("ok   " + name);
  } catch (e) {
    failures++;
    console.log("FAIL " + name + "\n" + (e.stack || e));
  }
}

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(m.text());
  });
  return { page, errors };
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(env.SCREENSHOTS, name + ".png"), fullPage: true });
}

async function signIn(page, key) {
  await page.goto(URL);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
}

async function findJs(page) {
  await page.getByRole("link", { name: "Artifacts" }).click();
  await page.locator("#f-kind").selectOption("js");
  await page.locator('#f-fields input[data-filter="service"]').fill("shop");
  await page.locator('#f-fields input[data-filter="version"]').fill("4.2.0");
  await page.getByRole("button", { name: "Search" }).click();
}

const admin = await newPage();
const page = admin.page;

await step("signs in with an admin key", async () => {
  await signIn(page, env.ADMIN_KEY);
  await page.locator("#who-text").filter({ hasText: "tenant acme" }).waitFor();
  assert.match(await page.locator("#who-text").textContent(), /admin/);
  // The key is kept for the tab only.
  const kept = await page.evaluate(() => [sessionStorage.getItem("symx-key"), localStorage.length]);
  assert.equal(kept[0], env.ADMIN_KEY);
  assert.equal(kept[1], 0);
});

let artifactId = "";
await step("finds the uploaded bundle by kind, service and version, with its details", async () => {
  await findJs(page);
  const row = page.locator("#artifacts-table tbody tr", { hasText: "/static/js/app.min.js" });
  await row.waitFor();
  assert.equal(await page.locator("#artifacts-table tbody tr").count(), 1);
  artifactId = await row.getAttribute("data-id");
  assert.match(artifactId, /^js_/);
  // Another version finds nothing.
  await page.locator('#f-fields input[data-filter="version"]').fill("9.9.9");
  await page.getByRole("button", { name: "Search" }).click();
  await page.locator("#artifacts-count").filter({ hasText: /^0 artifact/ }).waitFor();
  await findJs(page);
  await row.click();
  const details = page.locator("#details");
  await details.waitFor();
  for (const text of [artifactId, "source_map", "minified_file", "Index cached", "shop", "4.2.0"]) {
    assert.ok((await details.textContent()).includes(text), "details lack " + text);
  }
  await shot(page, "artifacts");
});

await step("symbolicates a pasted JavaScript stack with source context", async () => {
  await page.getByRole("link", { name: "Symbolicate" }).click();
  await page.locator("#s-text").fill(env.JS_STACK);
  await page.locator("#s-service").fill("shop");
  await page.locator("#s-version").fill("4.2.0");
  await page.getByRole("button", { name: "Symbolicate" }).click();
  const result = page.locator("#s-result");
  await result.locator("li.is-resolved").first().waitFor();
  const text = await result.textContent();
  // The CLI's (and the fixture's reference) answers for this stack.
  assert.ok(text.includes("at book_lookup (../src/app.js:24:33)"), text);
  assert.ok(text.includes("at runApp (../src/app.js:18:10)"), text);
  assert.ok((await result.locator("pre.context .hl").count()) > 0, "no source context");
  // Node's own frames are skipped, not unresolved.
  assert.ok(text.includes("node:internal"), text);
  await shot(page, "symbolicate-js");
});

await step("symbolicates a pasted tombstone, and explains the frame nothing was uploaded for", async () => {
  await page.locator("#s-text").fill(env.TOMBSTONE);
  await page.locator("#s-service").fill("");
  await page.locator("#s-version").fill("");
  await page.getByRole("button", { name: "Symbolicate" }).click();
  const result = page.locator("#s-result");
  await result.locator("li.is-unresolved").first().waitFor();
  const resolved = await result.locator("li.is-resolved").first().textContent();
  assert.ok(resolved.includes(env.EXPECT_FUNCTION), resolved + " lacks " + env.EXPECT_FUNCTION);
  assert.ok(resolved.includes("crash.cpp:" + env.EXPECT_LINE), resolved + " lacks line " + env.EXPECT_LINE);
  const unresolved = await result.locator("li.is-unresolved").first().textContent();
  assert.ok(unresolved.includes("libc.so"), unresolved);
  assert.ok(unresolved.includes("native_no_debug_file"), unresolved);
  assert.ok(unresolved.includes("Fix: symx upload"), unresolved);
  await shot(page, "symbolicate-tombstone");
});

await step("lists the missing artifact with its fix, most frequent first", async () => {
  await page.getByRole("link", { name: "Missing" }).click();
  await page.locator("#m-order").selectOption("count");
  await page.getByRole("button", { name: "Show" }).click();
  const row = page.locator("#missing-table tbody tr", { hasText: "0123456789abcdef0123456789abcdef" });
  await row.waitFor();
  assert.ok((await row.textContent()).includes("symx upload"), await row.textContent());
  await shot(page, "missing");
});

await step("deletes after a dry run, then restores", async () => {
  await findJs(page);
  await page.locator(`#artifacts-table tbody tr[data-id="${artifactId}"]`).click();
  await page.getByRole("button", { name: "Delete…" }).click();
  const preview = page.locator("#delete-preview-text");
  await preview.filter({ hasText: "Dry run" }).waitFor();
  assert.ok((await preview.textContent()).includes(artifactId));
  // The dry run deleted nothing.
  await findJs(page);
  await page.locator(`#artifacts-table tbody tr[data-id="${artifactId}"]`).waitFor();
  await page.locator(`#artifacts-table tbody tr[data-id="${artifactId}"]`).click();
  await page.getByRole("button", { name: "Delete…" }).click();
  await page.getByRole("button", { name: "Delete", exact: true }).click();
  await page.locator("#status").filter({ hasText: "Deleted 1 artifact" }).waitFor();
  await page.getByRole("button", { name: "Restore" }).waitFor();
  assert.match(await page.locator("#details").textContent(), /Deleted\d{4}-/);
  await shot(page, "deleted");
  // It no longer resolves, then resolves again once restored.
  const resolvesNow = async () =>
    page.evaluate(async ([key, stack]) => {
      const r = await fetch("/api/symx/v1/symbolicate", {
        method: "POST",
        headers: { Authorization: "Bearer " + key, "Content-Type": "application/json" },
        body: JSON.stringify({ text: stack, service: "shop", version: "4.2.0" }),
      });
      const body = await r.json();
      return body.lines.some((l) => l.result && l.result.status === "resolved" && l.result.frames.length);
    }, [env.ADMIN_KEY, env.JS_STACK]);
  assert.equal(await resolvesNow(), false);
  await page.getByRole("button", { name: "Restore" }).click();
  await page.locator("#status").filter({ hasText: "Restored 1 artifact" }).waitFor();
  await page.getByRole("button", { name: "Delete…" }).waitFor();
  assert.equal(await resolvesNow(), true);
});

await step("shows health from the metrics", async () => {
  await page.getByRole("link", { name: "Health" }).click();
  const list = page.locator("#health-list");
  await list.locator('dd[data-metric="Index cache"]').waitFor();
  assert.match(await list.locator('dd[data-metric="Index cache"]').textContent(), / of 1\.0 GB$/);
  assert.match(await list.locator('dd[data-metric="Frames symbolicated"]').textContent(), /in all/);
  assert.match(await list.locator('dd[data-metric="Storage on disk"]').textContent(), /B$/);
  // Rates once a second scrape is in.
  await list.locator('dd[data-metric="Uploads"]').filter({ hasText: "/s" }).waitFor({ timeout: 12000 });
  await shot(page, "health");
});

await step("the page ran without script errors", async () => {
  // Failed loads included (a 401 on any asset or call would show here).
  assert.deepEqual(admin.errors, []);
});

await step("a read-only key sees no delete button and is refused a delete", async () => {
  const { page: ro } = await newPage();
  await signIn(ro, env.READ_KEY);
  await ro.locator("#who-text").filter({ hasText: "read" }).waitFor();
  await findJs(ro);
  await ro.locator(`#artifacts-table tbody tr[data-id="${artifactId}"]`).click();
  await ro.locator("#details").waitFor();
  assert.equal(await ro.getByRole("button", { name: "Delete…" }).isVisible(), false);
  assert.equal(await ro.getByRole("button", { name: "Restore" }).isVisible(), false);
  const status = await ro.evaluate(async ([key, id]) => {
    const r = await fetch(`/api/v2/sourcemaps?mapkind=js&filter%5Bid%5D=${id}&filter%5Bservice%5D=shop&filter%5Bversion%5D=4.2.0&dry_run=false`, {
      method: "DELETE",
      headers: { "DD-API-KEY": key, "DD-APPLICATION-KEY": key },
    });
    return r.status;
  }, [env.READ_KEY, artifactId]);
  assert.equal(status, 403);
  await shot(ro, "read-only");
  await ro.context().close();
});

await step("another tenant's key sees none of this tenant's artifacts or report", async () => {
  const { page: other } = await newPage();
  await signIn(other, env.OTHER_KEY);
  await other.locator("#who-text").filter({ hasText: "tenant globex" }).waitFor();
  await findJs(other);
  await other.locator("#artifacts-count").filter({ hasText: /^0 artifact/ }).waitFor();
  await other.getByRole("link", { name: "Missing" }).click();
  await other.locator("#missing-count").filter({ hasText: "0 shown, 0 in the report" }).waitFor();
  const answer = await other.evaluate(async ([key, id]) => {
    const r = await fetch("/api/symx/v1/artifacts/" + id, { headers: { Authorization: "Bearer " + key } });
    return r.status;
  }, [env.OTHER_KEY, artifactId]);
  assert.equal(answer, 404);
  await other.context().close();
});

await step("a wrong key is refused at sign-in", async () => {
  const { page: bad } = await newPage();
  await signIn(bad, "symx_0000000000000000_" + "0".repeat(64));
  await bad.locator("#status").filter({ hasText: "The key was refused" }).waitFor();
  assert.equal(await bad.locator("#nav").isVisible(), false);
  await shot(bad, "sign-in-refused");
  await bad.context().close();
});

await browser.close();
if (failures > 0) {
  console.log(`${failures} console step(s) failed`);
  process.exit(1);
}
