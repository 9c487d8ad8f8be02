// What the follower scripts share: where a run is (on stderr, so a run
// that takes too long says where), and pictures of the page's model area
// only (a locator's screenshot waits for the element to be still, which a
// <model-viewer> never is), at once or once the picture has settled: two
// pictures in a row alike (a loaded machine, software WebGL, may still be
// drawing the last change after a fixed wait).
const started = Date.now();
const step = what => console.error(`[${((Date.now() - started) / 1000).toFixed(1)} s] ${what}`);

async function modelBox(page) {
  return page.evaluate(() => { const r = document.getElementById('mv').getBoundingClientRect(); return {x: r.x, y: r.y, width: r.width, height: r.height}; });
}

async function shot(page, path) {
  await page.screenshot({path, clip: await modelBox(page), timeout: 180000});
}

async function settledShot(page, path) {
  const box = await modelBox(page);
  let last = null;
  for (let i = 0; i < 15; i++) {
    const now = await page.screenshot({clip: box, timeout: 180000});
    if (last && now.equals(last)) break;
    last = now;
    await page.waitForTimeout(400);
  }
  await shot(page, path);
}

module.exports = {step, shot, settledShot};
