// In-page probe of benchmarks/bench_browser.py, installed by browser_harness.py before any page script runs
// (Playwright add_init_script).
//
// Times are performance.now() milliseconds, 0 = navigation start. "Painted" means the frame that shows a change
// has been produced: a requestAnimationFrame after the change, then a message-channel task, which runs once that
// frame is done. Images count as shown when their pixels are decoded (img.decode()) and a frame has followed.
(() => {
  const B = window.__ceBench = {marks: {}, stimulus: null, pointerUp: null, keys: [], steps: [], resources: [],
                                longTasks: []};

  const afterPaint = (fn) => requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => fn(performance.now());
    channel.port2.postMessage(null);
  });
  const decoded = (imgs) => Promise.all(imgs.filter((img) => img.getAttribute('src'))
    .map((img) => img.decode().catch(() => null)));
  const loaded = (img) => !!img && img.complete && img.naturalWidth > 0;

  // The trusted input a step change answers: the last key, click, or drag movement before it (the change runs
  // inside that event's handler, so the last one recorded is its cause). timeStamp: when the browser got it.
  for (const type of ['keydown', 'pointerdown', 'pointermove', 'click']) {
    addEventListener(type, (event) => {
      if (type === 'pointermove' && !event.buttons) return;
      B.stimulus = {type, t: event.timeStamp};
      if (type === 'keydown' && B.keys.push(event.timeStamp) > 200) B.keys.shift();
    }, {capture: true, passive: true});
  }
  addEventListener('pointerup', (event) => { B.pointerUp = event.timeStamp; }, {capture: true, passive: true});

  // Each step change: when data-step changed (the stepper sets it last, after every panel), the frame that
  // painted it, and the frame after the stored and elicited grids of that step were decoded.
  let watched = null;
  function watchSteps(root) {
    if (watched === root) return;
    watched = root;
    new MutationObserver(() => {
      const S = window.ceStepper;
      const sample = {step: root.dataset.step, changed: performance.now(), stimulus: B.stimulus,
                      render: S && S.renders.length ? S.renders[S.renders.length - 1] : null};
      afterPaint((t) => { sample.painted = t; });
      decoded([...root.querySelectorAll('.ce-stored img, .ce-elicited img')]).then(() => afterPaint((t) => {
        sample.shown = t;
        B.steps.push(sample);
      }));
    }).observe(root, {attributes: true, attributeFilter: ['data-step']});
  }

  // Page load, checked once a frame: plots drawn for a step, then the sample grids, then the first live grid.
  function stamp(name) {
    B.marks[name] = null;
    afterPaint((t) => { B.marks[name] = t; });
  }
  function poll() {
    const S = window.ceStepper, root = document.querySelector('.ce-stepper');
    if (root) watchSteps(root);
    if (!('plots' in B.marks) && S && S.view && root && root.dataset.step && root.querySelector('.ce-concept .main-svg')) {
      stamp('plots');
    }
    if (!('grids' in B.marks) && S && S.images && root && loaded(root.querySelector('.ce-stored img'))) stamp('grids');
    if (!('live' in B.marks) && S && S.live && root && loaded(root.querySelector('.ce-live img'))) stamp('live');
    if (!('live' in B.marks) && performance.now() < 120000) requestAnimationFrame(poll);
  }
  requestAnimationFrame(poll);

  // A live generation: resolves once ceStepper.live.src differs from `previous` and its grid has been painted.
  B.waitLive = (previous, limitMs) => new Promise((resolve) => {
    const started = performance.now();
    const check = () => {
      const live = window.ceStepper && window.ceStepper.live;
      if (live && live.src !== previous) {
        const arrived = performance.now();
        decoded([document.querySelector('.ce-stepper .ce-live img')]).then(() => afterPaint((shown) => resolve(
          {arrived, shown, pointerUp: B.pointerUp, summary: live.summary, step: live.step})));
      } else if (performance.now() - started > limitMs) {
        resolve(null);
      } else {
        requestAnimationFrame(check);
      }
    };
    check();
  });

  // The performance timeline, for the diagnosis: the page's requests to the server, and main-thread long tasks.
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      if (e.name.includes('/gradio_api/') && !e.name.includes('/file=')) {
        B.resources.push({name: e.name.replace(location.origin, ''), start: e.startTime, end: e.responseEnd});
      }
    }
  }).observe({type: 'resource', buffered: true});
  try {
    new PerformanceObserver((list) => {
      for (const e of list.getEntries()) B.longTasks.push({start: e.startTime, duration: e.duration});
    }).observe({type: 'longtask', buffered: true});
  } catch (error) { /* no long-task timing in this browser */ }
})();
