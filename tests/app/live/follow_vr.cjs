// A browser follows a presenter in a headset: headless Chromium
// (playwright-core, the system's Chromium) opens the follower's link of the
// app's Share live, started from the wrist panel on Monado. The Rust test
// turns the controller that holds the model and says so on stdin
// ("turn K DEGREES SENT_MS", then "end"); for each turn this waits until the
// page's pose has turned that far from where it started, and prints one
// JSON line: the page's angle, when the turning pose was applied (the
// latency from the rig's send), the camera it follows, and a screenshot
// (OUT/turnK.png; OUT/start.png before the first; OUT/page.png, the whole
// page after the first).
// Usage: node follow_vr.cjs FOLLOW_LINK OUT
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const readline = require('readline');
const [follow, out] = process.argv.slice(2);
const fail = m => { throw new Error(m); };
const {step, settledShot} = require('./shots.cjs');
const shot = (page, name) => settledShot(page, `${out}/${name}.png`);

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
  const lines = readline.createInterface({input: process.stdin});
  const queue = [];
  let wake = null;
  lines.on('line', l => { queue.push(l.trim()); if (wake) { wake(); wake = null; } });
  const next = async () => { while (!queue.length) await new Promise(r => { wake = r; }); return queue.shift(); };
  try {
    const ctx = await browser.newContext({viewport: {width: 800, height: 600}});
    const f = await ctx.newPage();
    const logs = [];
    f.on('console', m => logs.push(m.text()));
    f.on('pageerror', e => logs.push(String(e)));
    step('follower page opening');
    await f.goto(follow);
    await f.waitForFunction(() => window.live && live.loaded && live.view.pose && live.view.camera, null, {timeout: 240000})
      .catch(e => fail(`the follower's page did not load with the presenter's view: ${e}\n${logs.join('\n')}`));
    // The angle (degrees) between the page's pose now and `from`.
    await f.evaluate(() => {
      window.turnedFrom = from => {
        const q = live.view.pose.rotation;
        const dot = Math.abs(q[0] * from[0] + q[1] * from[1] + q[2] * from[2] + q[3] * from[3]);
        return 2 * Math.acos(Math.min(1, dot)) * 180 / Math.PI;
      };
    });
    const start = await f.evaluate(() => live.view.pose.rotation);
    await shot(f, 'start');
    const view = await f.evaluate(() => {
      const mv = document.getElementById('mv');
      const o = mv.getCameraOrbit(), t = mv.getCameraTarget();
      return {camera: live.view.camera, pose: live.view.pose, segments: live.scene.segments.length, centre: live.scene.centre_mm,
        shown: {theta: o.theta, phi: o.phi, radius: o.radius, fov: mv.getFieldOfView(), target: [t.x, t.y, t.z]}};
    });
    console.log(JSON.stringify({ready: true, ...view}));
    for (;;) {
      const cmd = (await next()).split(' ');
      if (cmd[0] === 'end') break;
      if (cmd[0] !== 'turn') fail(`unknown command ${cmd}`);
      const [k, degrees, sent] = [cmd[1], Number(cmd[2]), Number(cmd[3])];
      step(`turn ${k}: waiting for ${degrees} degrees`);
      // Within 3 degrees of the turn; polled every 5 ms, so `appliedAt` is
      // the event that turned it (or one a few ms after).
      const handle = await f.waitForFunction(([from, deg]) => {
        const a = turnedFrom(from);
        return Math.abs(a - deg) < 3 ? {angle: a, at: live.appliedAt, seen: Date.now()} : null;
      }, [start, degrees], {timeout: 240000, polling: 5})
        .catch(async () => fail(`the follower's model never turned ${degrees} degrees: at ${await f.evaluate(s => turnedFrom(s), start)}`));
      const got = await handle.jsonValue();
      await shot(f, `turn${k}`);
      if (k === '1') await f.screenshot({path: `${out}/page.png`, timeout: 180000});
      const camera = await f.evaluate(() => live.view.camera);
      const rotation = await f.evaluate(() => live.view.pose.rotation);
      console.log(JSON.stringify({step: Number(k), angle: got.angle, latency_ms: got.at - sent, seen_ms: got.seen - sent, camera, rotation}));
    }
  } finally {
    lines.close();
    await browser.close();
  }
})().then(() => process.exit(0), e => { console.error(String(e && e.stack || e)); process.exit(1); });
