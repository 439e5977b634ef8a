// The peer of riptide's headless batch (issue 16): what a user would write with puppeteer-core.
// One launched browser (the system Chromium), a new page per URL, `goto` until `load`, wait until
// the content exists (`#ready`), `page.content()`, close the page.
//
//   node render.mjs CONCURRENCY LIST_FILE          (one URL per line)
//
// Prints the number of pages rendered and the total HTML length, so a broken run shows.
import { readFileSync } from "node:fs";
import puppeteer from "puppeteer-core";

const [concurrency, list] = [Number(process.argv[2] ?? 2), process.argv[3]];
const urls = readFileSync(list, "utf8").split("\n").filter(Boolean);
const browser = await puppeteer.launch({
  executablePath: process.env.CHROME ?? "/usr/bin/chromium",
  headless: true,
  args: process.getuid?.() === 0 ? ["--no-sandbox"] : [],
});
let next = 0, pages = 0, bytes = 0;
const worker = async () => {
  while (next < urls.length) {
    // Taken before any await, so two workers never take the same URL or one past the end.
    const url = urls[next++];
    const page = await browser.newPage();
    await page.goto(url, { waitUntil: "load" });
    await page.waitForSelector("#ready");
    const html = await page.content();
    bytes += html.length;
    pages += 1;
    await page.close();
  }
};
await Promise.all(Array.from({ length: concurrency }, worker));
await browser.close();
console.log(`${pages} pages, ${bytes} bytes of HTML`);
