// Drives the live page in headless Chromium (playwright-core, the system's
// Chromium): a follower joins, then a presenter's page changes visibility
// (an edit the host applies), undo, a clip plane, the pose, the camera,
// rulers and the laser; each must reach the follower's page. The follower
// opens the link through a name that is not localhost (mapped to loopback
// by Chromium's resolver, so the host still binds loopback only): plain
// HTTP there is not a secure context, so the page has no WebCrypto and
// must decrypt with its vendored AES-GCM. Then the follower taps the model
// and raises a hand; both reach the presenter's page through the host.
// Screenshots go to OUT for the Rust test to read back. Prints one JSON
// line of figures.
// The presenter first redoes a resection of the liver (the session's last
// step, undone): the host meshes the liver again and the follower's page
// swaps its surface in.
// Usage: node follow.cjs FOLLOW_LINK PRESENT_LINK OUT '{"ball":[x,y,z]}'
const { chromium } = require(process.env.PLAYWRIGHT_CORE);
const [follow, present, out, json] = process.argv.slice(2);
const {ball} = JSON.parse(json);
const fail = m => { throw new Error(m); };
const {step, shot: shotAt, settledShot: settledAt} = require('./shots.cjs');
const shot = (page, name) => shotAt(page, `${out}/${name}.png`);
const settledShot = (page, name) => settledAt(page, `${out}/${name}.png`);

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--use-angle=swiftshader', '--enable-unsafe-swiftshader',
      '--host-resolver-rules=MAP live.test 127.0.0.1'],
  });
  try {
    const ctx = await browser.newContext({viewport: {width: 640, height: 720}});
    const f = await ctx.newPage();
    const logs = [];
    f.on('console', m => logs.push(m.text()));
    f.on('pageerror', e => logs.push(String(e)));
    const t0 = Date.now();
    const lan = new URL(follow);
    if (lan.hostname !== '127.0.0.1') fail(`the link is not on loopback: ${follow}`);
    lan.hostname = 'live.test';
    step('follower page opening');
    await f.goto(lan.href);
    await f.waitForFunction(() => window.live && live.loaded, null, {timeout: 120000})
      .catch(e => fail(`the follower's page did not load: ${e}\n${logs.join('\n')}`));
    const secure = await f.evaluate(() => [window.isSecureContext, !!(window.crypto && crypto.subtle), live.crypto]);
    if (secure[0] || secure[1] || secure[2] !== 'vendored') fail(`the follower's page is not the insecure case: ${secure}`);
    const joinMs = Date.now() - t0;
    const modelBytes = await f.evaluate(() => live.modelBytes);
    const segments = await f.evaluate(() => live.scene.segments.map(s => s.id));
    if (segments.length < 5) fail(`only ${segments.length} segments in the scene`);
    await f.waitForTimeout(500);
    await shot(f, 'start');

    step('presenter page opening');
    const p = await ctx.newPage();
    await p.goto(present);
    await p.waitForFunction(() => window.live && live.loaded && live.presenter, null, {timeout: 120000});
    const viewers = await f.evaluate(() => live.viewers);
    if (viewers !== 2) fail(`the follower sees ${viewers} following, not 2`);
    const send = e => p.evaluate(e => live.send(e), e);
    const until = (fn, arg, what) => f.waitForFunction(fn, arg, {timeout: 120000})
      .catch(() => fail(`the follower never saw ${what}`));

    // The presenter looks at the liver's front where the ball is, then
    // redoes its resection: the follower's surface changes there.
    await send({type: 'camera', target: ball, azimuth_deg: 0, polar_deg: 90, distance_mm: 350, fov_deg: 30});
    await until(() => { const o = document.getElementById('mv').getCameraOrbit(); return Math.abs(o.radius - 0.35) < 0.01; }, null, 'the camera on the liver');
    await f.waitForTimeout(500);
    step('camera on the liver; settling');
    await settledShot(f, 'unresected');
    const tRedo = Date.now();
    step('redo sent');
    await send({type: 'redo'});
    await f.waitForFunction(() => live.surfaces >= 1 || live.surfaceError, null, {timeout: 180000})
      .catch(() => fail('the follower never got the edited surface'));
    const surfaceError = await f.evaluate(() => live.surfaceError);
    if (surfaceError) fail(`the edited surface did not load: ${surfaceError}`);
    const surfaceMs = Date.now() - tRedo;
    await f.waitForTimeout(500);
    step('surface swapped; settling');
    await settledShot(f, 'resected');

    step('hide and undo');
    // Hide every structure (edits the host applies), then undo the last.
    for (const id of segments) await send({type: 'visible', id, visible: false});
    await until(ids => ids.every(id => live.table.get(id) && !live.table.get(id).visible), segments, 'everything hidden');
    await f.waitForTimeout(300);
    await shot(f, 'hidden');
    const last = segments[segments.length - 1];
    await send({type: 'undo'});
    await until(id => live.table.get(id).visible, last, 'the undo');
    const shown = await f.evaluate(() => [...live.table.values()].filter(s => s.visible).length);
    if (shown !== 1) fail(`${shown} structures shown after one undo, not 1`);
    for (const id of segments) await send({type: 'visible', id, visible: true});
    await until(ids => ids.every(id => live.table.get(id).visible), segments, 'everything shown again');

    step('camera, clip, pose, rulers, laser');
    // The presenter's camera: seen from the patient's front, level.
    const centre = await f.evaluate(() => live.scene.centre_mm);
    const camera = {type: 'camera', target: centre, azimuth_deg: 0, polar_deg: 90, distance_mm: 900, fov_deg: 30};
    await send(camera);
    await until(() => { const o = document.getElementById('mv').getCameraOrbit(); return Math.abs(o.phi - Math.PI / 2) < 0.01 && Math.abs(o.radius - 0.9) < 0.01; }, null, 'the camera');
    await f.waitForTimeout(500);
    await shot(f, 'front');
    // A cut from the top through the centre: the upper part goes.
    await send({type: 'clip', planes: [{normal: [0, 0, 1], offset_mm: centre[2]}]});
    await until(() => live.view.clip && live.view.clip.planes.length === 1, null, 'the clip plane');
    await f.waitForTimeout(500);
    await shot(f, 'cut');
    await send({type: 'clip', planes: []});
    // Turned 90 degrees about the superior axis.
    const h = Math.SQRT1_2;
    await send({type: 'pose', rotation: [0, 0, h, h], translation: [0, 0, 0]});
    await until(() => live.view.pose, null, 'the pose');
    await f.waitForTimeout(500);
    await shot(f, 'turned');
    // A ruler and the laser.
    await send({type: 'rulers', rulers: [{a: centre, b: [centre[0] + 42, centre[1], centre[2]], length_mm: 42}]});
    await until(() => document.getElementById('rulers').textContent.includes('42.0 mm'), null, 'the ruler');
    await send({type: 'laser', point: centre});
    await until(() => !document.querySelector('[slot="hotspot-laser"]').hidden, null, 'the laser');

    step('laser latency');
    // Presenter action to the follower having it: the laser, 20 times.
    const lat = [];
    for (let i = 0; i < 20; i++) {
      const x = centre[0] + i;
      const sentAt = await p.evaluate(async e => { const t = performance.timeOrigin + performance.now(); await live.send(e); return t; },
        {type: 'laser', point: [x, centre[1], centre[2]]});
      await f.waitForFunction(x => live.view.laser && live.view.laser.point && live.view.laser.point[0] === x,
        x, {timeout: 60000});
      lat.push((await f.evaluate(() => live.appliedAt)) - sentAt);
    }
    lat.sort((a, b) => a - b);
    const q = k => lat[Math.min(lat.length - 1, Math.floor(k * lat.length))];
    const refused = await f.evaluate(() => live.refused);
    if (refused) fail(`the follower refused ${refused} frames`);

    // The follower taps the model (its name asked once) and raises a hand:
    // the presenter's page gets both, named, from the host.
    step('point and hand');
    f.on('dialog', d => d.accept('Ada'));
    const spot = await f.evaluate(() => {
      const mv = document.getElementById('mv'), r = mv.getBoundingClientRect();
      for (let i = 0; i < 400; i++) {
        const x = r.x + r.width * (0.3 + 0.4 * ((i * 37) % 20) / 20), y = r.y + r.height * (0.3 + 0.4 * Math.floor(i / 20) / 20);
        if (mv.positionAndNormalFromPoint(x, y)) return {x, y};
      }
      return null;
    });
    if (!spot) fail('no point of the follower\'s picture shows the model');
    await f.mouse.click(spot.x, spot.y);
    await p.waitForFunction(() => [...live.points.values()].some(e => e.name === 'Ada' && e.point.every(Number.isFinite)), null, {timeout: 120000})
      .catch(() => fail(`the presenter never saw the follower's point\n${logs.join('\n')}`));
    const marker = await p.evaluate(() => [...document.querySelectorAll('.point')].map(e => e.textContent));
    if (!marker.includes('Ada')) fail(`no marker named Ada on the presenter's page: ${marker}`);
    await f.click('#hand');
    await p.waitForFunction(() => document.getElementById('hands').textContent.includes('Ada'), null, {timeout: 120000})
      .catch(() => fail('the presenter never saw the raised hand'));
    const stored = await f.evaluate(() => localStorage.getItem('stratum-live-name'));
    if (stored !== 'Ada') fail(`the name was not kept: ${stored}`);
    console.log(JSON.stringify({joinMs, surfaceMs, modelBytes, segments: segments.length, p50: q(0.5), p95: q(0.95), logs: logs.length}));
  } finally {
    await browser.close();
  }
})().catch(e => { console.error(String(e && e.stack || e)); process.exit(1); });
