"""A run's probe, whichever kind reads its images: the synthetic probe (probes.py) reads rendered concepts along
their axes, the attribute probe (attribute_probe.py) classifies the attributes of CelebA faces. Both answer
`score(images, space)` with positions and P(present), so evaluation, elicitation and live generation call these
functions and never ask which kind they hold.
"""

from __future__ import annotations

from pathlib import Path

from ..core.concepts import ConceptSpace
from ..core.run import Run
from .attribute_probe import AttributeProbe, AttributeProbeConfig, attribute_accuracy, train_attribute_probe
from .probes import OutdatedProbe, Probe, calibration_error, class_mean_accuracy, probe_config_for, train_probe

RunProbe = Probe | AttributeProbe


def train_probe_for(space: ConceptSpace, progress: bool = True, **overrides: object) -> RunProbe:
    """A new probe that reads images of `space`, with fields of its config overridden (e.g. steps)."""
    if space.dataset == "celeba":
        return train_attribute_probe(AttributeProbeConfig(space=space, **overrides), progress)  # type: ignore[arg-type]
    return train_probe(probe_config_for(space, **overrides), progress)


def load_probe(path: Path, space: ConceptSpace, where: str | None = None) -> RunProbe:
    """The probe stored at `path` for a run of `space` (`where`: how messages name the file)."""
    return AttributeProbe.load(path, where) if space.dataset == "celeba" else Probe.load(path, where)


def ensure_probe(run: Run, progress: bool = True) -> RunProbe:
    """The run's probe, trained the first time it is needed (and stored in the run folder); a probe file of an
    earlier format is replaced."""
    path = run.layout.probe
    space = run.config.concept_space
    if path.is_file():
        try:
            return load_probe(path, space, run.layout.place(path))
        except OutdatedProbe:
            pass  # made by an earlier version: retrained here, and the passes re-score their stored images
    probe = train_probe_for(space, progress=progress)
    probe.save(path)
    return probe


def probe_report(probe: RunProbe, space: ConceptSpace) -> dict:
    """How well the probe reads `space`, as the evaluation summary stores it: per criterion and class, per-concept
    accuracy and presence (on renders at the class means, or on held-out labelled faces), and the calibration error
    along each continuous axis (none on CelebA, whose attributes are binary)."""
    if isinstance(probe, AttributeProbe):
        return {"class_mean_accuracy": attribute_accuracy(probe, space), "calibration": {}}
    return {"class_mean_accuracy": class_mean_accuracy(probe, space), "calibration": calibration_error(probe, space)}
