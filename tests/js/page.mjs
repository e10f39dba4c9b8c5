// SPDX-License-Identifier: MIT
// Drives an `ldprof report --html` page in Debian's Chromium (headless, through playwright-core)
// the way a person would: real clicks on the canvas, typing in the search box, choosing filters.
// It asserts nothing itself: it prints what the page showed after each step, as JSON, and the
// test (tests/test_html.py) or the benchmark (tests/bench/html.py) decides.
//
//   node page.mjs PAGE.html SHOT_DIR < steps.json > observations.json
//
// steps: [{"do": "click", "name": "hot_a"}, {"do": "search", "text": "hot_"}, {"do": "shot",
// "name": "search"}, ...]; see run() for every step. Every request the page makes is recorded
// (and refused): a self-contained page makes none.
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { chromium } from "playwright-core";

const [page_path, shot_dir] = process.argv.slice(2);
const steps = JSON.parse(readFileSync(0, "utf8"));
const url = pathToFileURL(page_path).href;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const out = { steps: [], requests: [], console_errors: [], page_errors: [] };
try {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  // Anything but the page itself is recorded and refused.
  await context.route("**/*", (route) => {
    const u = route.request().url();
    if (u.split("#")[0] === url) return route.continue();
    out.requests.push(u);
    return route.abort();
  });
  const page = await context.newPage();
  page.on("request", (r) => { if (r.url().split("#")[0] !== url) out.requests.push(r.url()); });
  page.on("console", (m) => { if (m.type() === "error") out.console_errors.push(m.text()); });
  page.on("pageerror", (e) => out.page_errors.push(String(e)));

  const settle = () => page.evaluate(() => new Promise((ok) => requestAnimationFrame(() => requestAnimationFrame(ok))));
  const observe = () => page.evaluate(() => {
    const byName = {};
    for (const f of window.ldprof.frames()) {
      const e = byName[f.name] || (byName[f.name] = { w: 0, wmax: 0, n: 0, dim: false, match: false, kind: f.kind, fill: f.fill, y: f.y });
      e.w += f.w; e.wmax = Math.max(e.wmax, f.w); e.n++; e.dim = e.dim || f.dim; e.match = e.match || f.match;
    }
    const m = document.getElementById("matched"), info = document.getElementById("info");
    const rows = [...document.querySelectorAll("#table tbody tr")].slice(0, 20)
      .map((tr) => [...tr.children].map((td) => td.textContent));
    return {
      frames: byName,
      state: window.ldprof.state(),
      timing: window.ldprof.timing,
      info: { text: info.textContent, zoom: info.dataset.zoom, total: Number(info.dataset.total) },
      matched: { text: m.textContent, share: m.dataset.share === undefined ? null : Number(m.dataset.share),
                 samples: m.dataset.samples === undefined ? null : Number(m.dataset.samples),
                 bad: m.classList.contains("bad") },
      table: { head: [...document.querySelectorAll("#table thead th")].map((th) => th.textContent),
               title: document.getElementById("table-title").textContent, rows },
      back_disabled: document.getElementById("back").disabled,
      resources: performance.getEntriesByType("resource").length,
      hash: location.hash,
    };
  });
  // The centre of the widest drawn frame of that name (dim: an ancestor of the zoomed frame).
  const frameAt = async (name, dim) => {
    const f = await page.evaluate(([n, d]) => window.ldprof.frames().filter((x) => x.name === n && x.dim === d)
      .sort((a, b) => b.w - a.w)[0] || null, [name, !!dim]);
    if (!f) throw new Error(`no ${dim ? "dimmed " : ""}frame named ${name} is drawn`);
    const box = await page.locator("#canvas").boundingBox();
    return { x: box.x + f.x + f.w / 2, y: box.y + f.y + f.h / 2 };
  };

  await page.goto(url);
  await page.waitForFunction(() => window.ldprof && window.ldprof.ready, null, { timeout: 30000 });
  for (const s of steps) {
    switch (s.do) {
      case "observe": break;
      case "click": { const p = await frameAt(s.name, s.dim); await page.mouse.click(p.x, p.y); break; }
      case "hover": { const p = await frameAt(s.name, s.dim); await page.mouse.move(p.x, p.y); break; }
      case "button": await page.click("#" + s.id); break;
      case "key": await page.locator("body").press(s.key); break;
      case "browser_back": await page.evaluate(() => history.back()); await page.waitForTimeout(200); break;
      case "search": await page.fill("#search", s.text); await page.press("#search", "Enter"); break;
      case "select": {
        const value = await page.evaluate(([w, n]) => {
          const o = [...document.querySelectorAll(`#filter-${w} option`)].find((x) => (n === null ? x.value === "-1" : x.dataset.name === n));
          return o ? o.value : null;
        }, [s.which, s.name === undefined ? null : s.name]);
        if (value === null) throw new Error(`no ${s.which} filter value ${s.name}`);
        await page.selectOption("#filter-" + s.which, value);
        break;
      }
      case "options": break;
      case "sort": await page.click(`#table thead th[data-key="${s.key}"]`); break;
      case "row": await page.click(`#table tbody tr:nth-child(${s.index + 1})`); break;
      case "shot": break;
      case "eval": break;
      default: throw new Error("unknown step " + s.do);
    }
    await settle();
    const o = await observe();
    if (s.do === "options")
      o.options = await page.evaluate((w) => [...document.querySelectorAll(`#filter-${w} option`)].map((x) => x.dataset.name || null), s.which);
    if (s.do === "eval")
      o.value = await page.evaluate(s.js);
    if (s.do === "hover")
      o.tip = await page.evaluate(() => document.getElementById("tip").textContent);
    if (s.do === "shot" && shot_dir)
      await page.screenshot({ path: `${shot_dir}/${s.name}.png`, fullPage: !!s.full });
    o.step = s;
    out.steps.push(o);
  }
} catch (e) {
  out.error = String(e && e.stack || e);
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(out));
