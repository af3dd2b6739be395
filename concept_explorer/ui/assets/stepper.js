// The step control and every precomputed panel, redrawn in the browser (gr.HTML js_on_load; see ui/stepper.py).
//
// The server sends a run's view once (props.view: steps, plotly specs, captions, phases) and its sample grids
// (props.images); a step change redraws everything here, with no server round trip. The server hears about a
// settled step through one debounced event (trigger('input', {index, step})), which moves the live generation;
// its result comes back as props.live. Keyboard: ← → step, Home/End, 1-9 phases, P play, F full screen.
const root = element.querySelector('.ce-stepper');
const $ = (selector) => root.querySelector(selector);
const SPEEDS = {'0.5×': 1600, '1×': 800, '2×': 400, '4×': 200};
const NOTIFY_MS = 120;
const MAX_TILE_PX = 64;
const PLOT_CONFIG = {displaylogo: false, responsive: true, modeBarButtonsToRemove: ['lasso2d', 'select2d']};
const memory = window.ceStepperMemory || (window.ceStepperMemory = {});  // survives a tab re-mount
const S = {view: null, images: null, index: 0, plane: 0, playing: false, timer: null, notifyTimer: null, live: null,
           liveTraces: [], renders: []};
window.ceStepper = S;  // for the browser tests and the URL writer
window.ceStepperJump = (name) => {  // the guided tour's "show me" buttons
  const phase = S.view && S.view.phases.find((p) => p.name === name);
  if (phase) setIndex(phase.index);
};

const fmt = (n) => n.toLocaleString('en-US');
const nearestIndex = (step) => {
  let best = 0;
  S.view.steps.forEach((s, i) => { if (Math.abs(s - step) < Math.abs(S.view.steps[best] - step)) best = i; });
  return best;
};

// -- building a run's panels --------------------------------------------------------------------------------------
// The current step is drawn on an SVG layer over each plot, placed with the plot's own axis scales: moving it
// costs a few DOM attributes, where a plotly restyle or relayout redraws the whole figure (30-40 ms each).
const SVG = 'http://www.w3.org/2000/svg';

function overlay(box) {
  let layer = box.querySelector(':scope > svg.ce-overlay');
  if (!layer) {
    layer = document.createElementNS(SVG, 'svg');
    layer.setAttribute('class', 'ce-overlay');
    box.appendChild(layer);
  }
  return layer;
}

function axisPairs(layout) {
  return Object.keys(layout).filter((k) => /^xaxis\d*$/.test(k) && layout['yaxis' + k.slice(5)])
    .map((k) => [layout[k], layout['yaxis' + k.slice(5)]]);
}

function drawMarkers() {
  const box = $('.ce-concept'), layout = box._fullLayout, v = S.view;
  if (!layout || !layout.xaxis || !box.data) return;
  const groups = box.querySelectorAll('.scatterlayer .trace');  // tag the live samples' traces for fading
  groups.forEach((g, k) => g.classList.toggle('ce-live-trace', S.liveTraces.includes(k)));
  const xa = layout.xaxis, ya = layout.yaxis, radius = v.large ? 11 : 8.5;
  overlay(box).innerHTML = box.data.slice(0, v.classes).map((trace, c) => {
    const x = trace.x[S.index], y = trace.y[S.index];
    if (x === null || y === null || x === undefined) return '';
    return `<circle cx="${xa.l2p(x) + xa._offset}" cy="${ya.l2p(y) + ya._offset}" r="${radius}" ` +
           `fill="${v.classColors[c]}" stroke="black" stroke-width="2.5"/>`;
  }).join('');
}

function drawStepLines(box) {
  const layout = box._fullLayout, step = S.view.steps[S.index];
  if (!layout) return;
  overlay(box).innerHTML = axisPairs(layout).map(([xa, ya]) => {
    const x = xa.l2p(step) + xa._offset;
    if (!(x >= xa._offset - 1 && x <= xa._offset + xa._length + 1)) return '';
    return `<line x1="${x}" x2="${x}" y1="${ya._offset}" y2="${ya._offset + ya._length}" stroke="#111" ` +
           `stroke-width="2" stroke-dasharray="4 3"/>`;
  }).join('');
}

function drawStepLevel(box) {
  // The distance-vs-time figure has steps on its y axis: the current step is a horizontal line there.
  const layout = box._fullLayout;
  if (!layout || !layout.yaxis) return;
  const xa = layout.xaxis, ya = layout.yaxis, y = ya.l2p(S.view.steps[S.index]) + ya._offset;
  overlay(box).innerHTML = `<line x1="${xa._offset}" x2="${xa._offset + xa._length}" y1="${y}" y2="${y}" ` +
    `stroke="#111" stroke-width="2" stroke-dasharray="4 3"/>`;
}

function drawOverlays() {
  drawMarkers();
  drawStepLines($('.ce-capability'));
  drawStepLines($('.ce-accuracy'));
  if (S.view.distanceTime) {
    drawStepLevel($('.ce-distance'));
    const step = S.view.steps[S.index];  // the classes learned by this step, in bold
    root.querySelectorAll('.ce-learning-table tr[data-step]').forEach((row) =>
      row.classList.toggle('ce-learned', row.dataset.step !== '' && +row.dataset.step <= step));
  }
}

function fitSlide() {
  // Presentation mode is one slide: shrink concept space by whatever still overflows the window.
  if (!document.body.classList.contains('present')) return;
  const concept = $('.ce-concept'), over = document.scrollingElement.scrollHeight - window.innerHeight;
  if (over > 0 && concept._fullLayout) {
    Plotly.relayout(concept, {height: Math.max(280, concept._fullLayout.height - over - 4)});
  }
}

function drawConcept() {
  // Concept space in the chosen plane of concepts (a run of three or more concepts has one per pair).
  const v = S.view, figure = v.planes ? v.planes[S.plane].figure : v.figures.concept;
  const concept = $('.ce-concept');
  S.liveTraces = [];
  const layout = {...figure.layout};
  if (document.body.classList.contains('present')) {  // one slide: the plot takes the height below the step bar
    layout.height = Math.max(320, window.innerHeight - concept.getBoundingClientRect().top - window.scrollY - 12);
  }
  Plotly.newPlot(concept, figure.data, layout, PLOT_CONFIG).then(fitSlide);
  concept.on('plotly_click', (event) => {
    const point = event.points[0];
    if (point.curveNumber < v.classes) { play(false); setIndex(point.pointIndex); }
  });
  concept.on('plotly_afterplot', drawMarkers);
}

function drawPlanes() {
  // One button per plane of concepts, for runs of three or more concepts; none for a 2-concept run.
  const box = $('.ce-planes'), planes = S.view.planes || [];
  box.hidden = !planes.length;
  box.innerHTML = '';
  planes.forEach((plane, k) => {
    const button = document.createElement('button');
    button.className = 'ce-plane' + (k === S.plane ? ' ce-active' : '');
    button.textContent = plane.name;
    button.title = `Concept space in the ${plane.name} plane`;
    button.addEventListener('click', () => choosePlane(k));
    box.appendChild(button);
  });
}

function choosePlane(k) {
  S.plane = k;
  root.querySelectorAll('.ce-plane').forEach((b, j) => b.classList.toggle('ce-active', j === k));
  drawConcept();
  if (S.live) showLive(S.live);
  drawMarkers();
}

function drawThree() {
  // The held-out classes' distance against learning time and every class's learning steps (3+ concepts only).
  const v = S.view, box = $('.ce-three');
  box.hidden = !v.distanceTime;
  if (!v.distanceTime) return;
  const distance = $('.ce-distance');
  Plotly.newPlot(distance, v.distanceTime.data, v.distanceTime.layout, PLOT_CONFIG)
    .then(() => drawStepLevel(distance));
  distance.on('plotly_afterplot', () => drawStepLevel(distance));
  distance.on('plotly_click', (event) => {  // a learned class: go to the step it was learned at
    const step = event.points[0].customdata;
    if (typeof step === 'number') { play(false); setIndex(nearestIndex(step)); }
  });
  const t = v.learningTable, cell = (step) => (step === null ? 'not learned' : fmt(step));
  $('.ce-learning-table').innerHTML = '<table><caption>Learning steps (first of ≥3 checkpoints in a row at ≥80 %' +
    ' correct); bold: learned by the current step; bits off: from the nearest training class; ' +
    'distance: from its corner when training converged</caption><tr><th>class</th><th>bits off' +
    `</th><th>all right</th>${t.concepts.map((c) => `<th>${c}</th>`).join('')}<th>distance</th></tr>` +
    t.rows.map((r) => `<tr data-step="${r.joint ?? ''}"><td>${r.name}${r.heldout ? ' (held out)' : ''}</td>` +
      `<td>${r.bits}</td><td>${cell(r.joint)}</td>${r.concepts.map((s) => `<td>${cell(s)}</td>`).join('')}` +
      `<td>${r.distance === null ? '–' : r.distance.toFixed(2)}</td></tr>`).join('') + '</table>';
}

function drawFigures() {
  const v = S.view;
  drawPlanes();
  drawConcept();
  // The curves are below the fold: drawn a frame later, so concept space is on screen sooner (page load).
  setTimeout(() => {
    if (S.view !== v) return;  // another run arrived meanwhile
    for (const name of ['capability', 'accuracy']) {
      const figure = v.figures[name], box = $('.ce-' + name);
      Plotly.newPlot(box, figure.data, figure.layout, PLOT_CONFIG).then(() => drawStepLines(box));
      box.on('plotly_click', (event) => { play(false); setIndex(nearestIndex(event.points[0].x)); });
      box.on('plotly_afterplot', () => drawStepLines(box));
    }
    drawThree();
  }, 0);
}

function drawTrack() {
  const v = S.view, last = v.steps[v.steps.length - 1];
  const range = $('.ce-range');
  range.min = 0; range.max = last; range.step = 1;
  const ticks = $('.ce-ticks');
  ticks.innerHTML = '';
  for (const step of v.steps) {  // every checkpoint, where it lies in training time
    const tick = document.createElement('span');
    tick.className = 'ce-tick';
    tick.style.left = (100 * step / last) + '%';
    ticks.appendChild(tick);
  }
  const jumps = $('.ce-jumps');
  jumps.innerHTML = '';
  v.phases.forEach((phase, k) => {
    const mark = document.createElement('span');
    mark.className = 'ce-phase-tick ce-phase-' + k;
    mark.style.left = (100 * phase.step / last) + '%';
    mark.title = `${phase.name} · step ${fmt(phase.step)}`;
    ticks.appendChild(mark);
    const button = document.createElement('button');
    button.className = 'ce-jump ce-phase-' + k;
    button.dataset.index = phase.index;
    button.title = `${phase.help} (key ${k + 1})`;
    button.innerHTML = `<b>${k + 1}</b> ${phase.name} <span>step ${fmt(phase.step)}</span>`;
    button.addEventListener('click', () => setIndex(phase.index));
    jumps.appendChild(button);
  });
}

function setView(view) {
  if (!view || !view.steps) return;
  const keep = S.view && S.view.run === view.run ? S.view.steps[S.index] : memory[view.run];
  if (!(S.view && S.view.run === view.run && view.planes && S.plane < view.planes.length)) S.plane = 0;
  S.view = view;
  S.images = null;
  drawTrack();
  drawFigures();
  $('.ce-header').textContent = view.header;
  $('.ce-seed-note').textContent = view.seedNote || '';  // the seed group's spread, under the capability figure
  const start = keep !== undefined ? nearestIndex(keep) : (view.start ?? 0);
  render(start);
  if (S.live) showLive(S.live);
  if (start !== view.start) scheduleNotify();  // the page kept its own step: the server must follow it
}

// -- one step -------------------------------------------------------------------------------------------------------
function showGrid(box, grid, caption) {
  // grid: {src, rows, colors} (views/step_view.grid_data), or null to hide the figure.
  box.style.display = grid ? '' : 'none';
  if (!grid) return;
  if (caption) box.querySelector('figcaption').textContent = caption;  // a tile keeps its own caption
  const img = box.querySelector('img');
  if (img.getAttribute('src') !== grid.src) img.src = grid.src;
  const labels = box.querySelector('.ce-rowlabels'), rows = grid.rows || [], colors = grid.colors || [];
  if (labels.dataset.rows !== rows.join('|')) {
    labels.dataset.rows = rows.join('|');
    labels.innerHTML = rows.map((r, k) => `<span style="color:${colors[k] || '#333'}">${r}</span>`).join('');
  }
  fitGrid(box);
}

function drawStrip() {
  // The four phases side by side: the held-out prompt under plain prompting and the best elicitation there.
  const strip = $('.ce-strip');
  strip.innerHTML = '';
  (S.images.strip || []).forEach((tile, k) => {
    const figure = document.createElement('figure');
    figure.className = 'ce-tile';
    figure.innerHTML = `<figcaption><span class="ce-dot ce-phase-${k}"></span>${tile.phase} · step ${fmt(tile.step)}` +
      `</figcaption><div class="ce-gridbox"><div class="ce-rowlabels"></div><img alt="${tile.phase}"></div>` +
      `<div class="ce-tile-help">${tile.explanation}</div>`;
    figure.addEventListener('click', () => { play(false); setIndex(tile.index); });
    strip.appendChild(figure);
    showGrid(figure, tile, null);
  });
}

function fitGrid(box) {
  // The largest whole-number upscale that fits the box: crisp pixels, no fractional resampling.
  const img = box.querySelector('img');
  if (!img.naturalWidth) { img.onload = () => fitGrid(box); return; }
  const labels = box.querySelector('.ce-rowlabels');
  const stacked = getComputedStyle(labels.parentElement).flexDirection.startsWith('column');  // labels below
  const room = box.clientWidth - (stacked ? 0 : labels.offsetWidth) - 12;
  const rowCount = labels.children.length || 1;
  const most = Math.max(1, Math.floor(MAX_TILE_PX / (img.naturalHeight / rowCount)));  // tiles at most ~64 px
  // Below native size only when even 1× does not fit (a phone): then the browser shrinks it to the room.
  const scale = room >= img.naturalWidth ? Math.min(most, Math.floor(room / img.naturalWidth))
    : Math.max(0.25, room / img.naturalWidth);
  img.style.width = img.naturalWidth * scale + 'px';
  img.style.height = img.naturalHeight * scale + 'px';
  labels.style.gridTemplateRows = stacked ? '' : `repeat(${rowCount}, ${img.naturalHeight * scale / rowCount}px)`;
}

function render(index) {
  const started = performance.now();
  const v = S.view;
  S.index = index;
  memory[v.run] = v.steps[index];
  const step = v.steps[index];
  $('.ce-range').value = step;
  $('.ce-step').textContent = 'step ' + fmt(step);
  $('.ce-ckpt').textContent = `checkpoint ${index + 1} of ${v.steps.length}`;
  $('.ce-caption').textContent = v.captions[index];
  root.querySelectorAll('.ce-jump').forEach((b) => b.classList.toggle('ce-active', +b.dataset.index === index));
  $('.ce-plot-title').textContent = `Concept space at step ${fmt(step)}`;
  drawOverlays();
  if (S.images) {
    const stored = S.images.stored[index], elicited = S.images.elicited[index];
    showGrid($('.ce-stored'), stored, `Stored generations at step ${fmt(step)}`);
    showGrid($('.ce-elicited'), elicited, `${v.heldout} under each elicitation method at step ${fmt(step)}`);
  }
  fadeLive();
  writeUrl(step);
  S.renders.push(performance.now() - started);
  if (S.renders.length > 200) S.renders.shift();
  root.dataset.step = step;  // what the page shows, for tests: every panel above is drawn for this step
}

function setIndex(index, notify = true) {
  if (!S.view) return;
  index = Math.max(0, Math.min(S.view.steps.length - 1, index));
  if (index !== S.index || !root.dataset.step) render(index);
  if (notify) scheduleNotify();
}

function scheduleNotify() {
  // One event for a burst of changes: the server hears only the step the viewer settled on.
  clearTimeout(S.notifyTimer);
  S.notifyTimer = setTimeout(() => trigger('input', {index: S.index, step: S.view.steps[S.index]}), NOTIFY_MS);
}

function writeUrl(step) {
  const params = new URLSearchParams(location.search);
  params.set('step', step);
  history.replaceState(null, '', location.pathname + '?' + params.toString() + location.hash);
}

// -- live generation ------------------------------------------------------------------------------------------------
function fadeLive() {
  // Samples of another step stay visible but faded (a CSS class: no plotly redraw while scrubbing).
  const faded = !!S.live && S.live.step !== S.view.steps[S.index];
  root.classList.toggle('ce-live-stale', faded);
}

function showLive(live) {
  S.live = live;
  const box = $('.ce-live');
  box.querySelector('.ce-live-summary').textContent = live.summary || '';
  showGrid(box, live, live.title || 'Live generation');
  // One redraw (Plotly.react) that swaps the old live traces for the new ones; delete + add would draw twice.
  const concept = $('.ce-concept');
  const kept = concept.data.filter((_, k) => !S.liveTraces.includes(k));
  const traces = live.run !== S.view.run ? [] : (live.planes ? live.planes[S.plane] : live.traces) || [];
  S.liveTraces = traces.map((_, k) => kept.length + k);
  Plotly.react(concept, [...kept, ...traces], concept.layout, PLOT_CONFIG);
  fadeLive();
}

// -- playback and keys ----------------------------------------------------------------------------------------------
function play(on) {
  S.playing = on;
  clearInterval(S.timer);
  $('.ce-play').textContent = on ? '⏸' : '▶';
  $('.ce-play').title = on ? 'Pause (P)' : 'Play (P)';
  if (!on) return;
  if (S.index >= S.view.steps.length - 1) setIndex(0);
  S.timer = setInterval(() => {
    if (S.index >= S.view.steps.length - 1) { play(false); return; }
    setIndex(S.index + 1);
  }, SPEEDS[$('.ce-speed').value] || 800);
}

function fullscreen() {
  const page = document.documentElement;
  if (document.fullscreenElement) document.exitFullscreen(); else if (page.requestFullscreen) page.requestFullscreen();
}

function onKey(event) {
  const target = event.target, tag = (target.tagName || '').toLowerCase();
  if (!S.view || event.altKey || event.ctrlKey || event.metaKey || target.isContentEditable) return;
  if (tag === 'textarea' || tag === 'select' || (tag === 'input' && target.type !== 'range')) return;
  if (!root.isConnected || root.offsetParent === null) return;  // the Explore tab is not shown
  const phases = S.view.phases, key = event.key;
  let handled = true;
  if (key === 'ArrowLeft') setIndex(S.index - 1);
  else if (key === 'ArrowRight') setIndex(S.index + 1);
  else if (key === 'Home') setIndex(0);
  else if (key === 'End') setIndex(S.view.steps.length - 1);
  else if (/^[1-9]$/.test(key) && phases[+key - 1]) setIndex(phases[+key - 1].index);
  else if (key === 'p' || key === 'P' || (key === ' ' && tag !== 'button')) play(!S.playing);
  else if (key === 'f' || key === 'F') fullscreen();
  else if (key === 'Escape' && S.tour !== null && S.tour !== undefined) tourStep(-1);
  else handled = false;
  if (handled) event.preventDefault();
}

// -- the guided tour, over the real figures -------------------------------------------------------------------------
const TOUR_PANELS = {concept: '.ce-concept-box', stored: '.ce-stored', elicited: '.ce-elicited',
                     capability: '.ce-capability', bar: '.ce-bar'};
const markdown = (text) => text.replace(/\*\*(.+?)\*\*/g, '<b>$1</b>').replace(/\*(.+?)\*/g, '<i>$1</i>')
  .replace(/`(.+?)`/g, '<code>$1</code>');

function tourStep(k) {
  const tour = props.tour || [], card = $('.ce-tour');
  root.querySelectorAll('.ce-spot').forEach((e) => e.classList.remove('ce-spot'));
  if (k < 0 || k >= tour.length) { card.hidden = true; S.tour = null; return; }
  S.tour = k;
  const stop = tour[k];
  card.hidden = false;
  $('.ce-tour-title').textContent = stop.title;
  $('.ce-tour-body').innerHTML = markdown(stop.body);
  $('.ce-tour-count').textContent = `${k + 1} / ${tour.length}`;
  $('.ce-tour-back').disabled = k === 0;
  $('.ce-tour-next').textContent = k === tour.length - 1 ? 'Done' : 'Next →';
  if (stop.phase && window.ceStepperJump) { play(false); window.ceStepperJump(stop.phase); }
  const panel = stop.panel && $(TOUR_PANELS[stop.panel]);
  if (panel) { panel.classList.add('ce-spot'); panel.scrollIntoView({behavior: 'smooth', block: 'center'}); }
}

$('.ce-tour-start').addEventListener('click', () => tourStep(0));
$('.ce-tour-next').addEventListener('click', () => tourStep(S.tour + 1));
$('.ce-tour-back').addEventListener('click', () => tourStep(S.tour - 1));
$('.ce-tour-close').addEventListener('click', () => tourStep(-1));

$('.ce-range').addEventListener('input', (event) => { play(false); setIndex(nearestIndex(+event.target.value)); });
$('.ce-prev').addEventListener('click', () => { play(false); setIndex(S.index - 1); });
$('.ce-next').addEventListener('click', () => { play(false); setIndex(S.index + 1); });
$('.ce-play').addEventListener('click', () => play(!S.playing));
$('.ce-speed').addEventListener('change', () => { if (S.playing) play(true); });
$('.ce-full').addEventListener('click', fullscreen);
$('.ce-goto').addEventListener('keydown', (event) => {
  if (event.key !== 'Enter') return;
  const step = parseFloat(event.target.value);
  if (Number.isFinite(step) && step >= 0) { play(false); setIndex(nearestIndex(step)); }
  event.target.value = '';
});
if (window.ceStepperKeys) document.removeEventListener('keydown', window.ceStepperKeys);
window.ceStepperKeys = onKey;
document.addEventListener('keydown', onKey);
new ResizeObserver(() => root.querySelectorAll('.ce-gridbox').forEach((b) => fitGrid(b.parentElement)))
  .observe(root);

function setImages(images) {
  if (!images || !S.view || images.run !== S.view.run) return;
  S.images = images;
  drawStrip();
  render(S.index);
}

// The props the server sets, named without quotes on purpose: gradio reads a quoted name in this script as a
// custom event of the component, and then sends its Python listener, stringified, beside every update of that prop
// (and its /call API route fails to serialise it).
const WATCHED = {
  view: () => setView(props.view),
  images: () => setImages(props.images),
  live: () => { if (props.live && S.view) showLive(props.live); },
};
for (const [name, redraw] of Object.entries(WATCHED)) watch(name, redraw);
if (props.view) setView(props.view);
setImages(props.images);
