"""Measuring runs: probes, evaluation, elicitation, capability curves, phases and the pure definitions they share,
plus the two services the app runs on top of them (live generation, the background training job). Imports only
the core."""
