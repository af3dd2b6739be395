// Clicking a cell in the Sweep tab's fan opens it in Explore (gr.HTML js_on_load; see ui/areas.py sweep_tab).
//
// The fan is a gr.Plot (#sweep-fan) that gradio draws with Plotly.react into one div, whose listeners survive
// redraws; a new div appears only when the tab is mounted again, so each div is given the listener once. Each
// cell's held-out line, turning-point star and marker carry the cell's name as customdata
// (views/sweep_view.fan_spec); the training classes' lines take no clicks. The name goes to the server as this
// component's click event (trigger('click', {cell})), the trigger that opens a cell like the "Open in Explore"
// button (ui/layout.py wire_sweep, ui/sweep_tab.py open_cell), so a cell without weights gets the same message.
const listen = () => {
  const fan = document.querySelector('#sweep-fan .js-plotly-plot');
  if (!fan || fan.ceOpensCells || typeof fan.on !== 'function') return;
  fan.ceOpensCells = true;
  fan.on('plotly_click', (event) => {
    const cell = event.points[0].customdata;
    if (typeof cell === 'string') trigger('click', {cell});
  });
};
new MutationObserver(listen).observe(element.closest('#tab-sweep') || document.body, {childList: true, subtree: true});
listen();
