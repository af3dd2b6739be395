"""What is shown about runs, as data: plotly figure specs, raster grids, the per-run view, the run catalog,
exports and the static report. Imports the core and analysis; no gradio."""
