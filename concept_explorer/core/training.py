"""Training along a trajectory: a visible loop that saves checkpoints at the configured steps.

Resumable to the bit: the resume file holds the raw weights, the EMA weights, AdamW's moments and every RNG
state at the last completed step, so `--resume` reaches the same weights as an uninterrupted run with the same
seed. A stop request (Ctrl-C, or the UI's cancel) is honoured between steps, never inside one.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm.auto import tqdm

from . import celeba
from .concepts import ConceptSpace, mask_concept
from .config import RunConfig, TrainConfig, vdm_for
from .precision import autocast
from .render import render_classes
from .run import ResumeState, Run, RunFolderError, RunLayout
from .vdm import VDM


@dataclass(frozen=True)
class TrainingData:
    """Rendered once per run from its seed; everything lives on the CPU until a batch is drawn."""

    train_images: torch.Tensor  # (N, 3, R, R)
    train_h: torch.Tensor  # (N, 11)
    val_images: torch.Tensor
    val_h: torch.Tensor
    heldout_images: torch.Tensor  # held-out classes, within-class attributes (reference §9.11)
    heldout_h: torch.Tensor


def build_data(config: RunConfig) -> TrainingData:
    space, train = config.concept_space, config.train
    if space.dataset == "celeba":
        return celeba_data(config)
    generator = torch.Generator().manual_seed(train.seed)
    images, h, labels = render_classes(space, space.training_classes(), train.train_per_class, generator)
    if train.mask_fraction > 0:
        h = mask_captions(h, labels, space, train)
    order = torch.randperm(images.shape[0], generator=generator)
    n_val = max(1, round(train.val_fraction * images.shape[0]))
    val, fit = order[:n_val], order[n_val:]
    heldout = space.heldout_classes()
    per_class = max(1, train.heldout_loss_images // len(heldout))
    heldout_images, heldout_h, _ = render_classes(space, heldout, per_class, generator)
    return TrainingData(images[fit], h[fit], images[val], h[val], heldout_images, heldout_h)


def celeba_data(config: RunConfig) -> TrainingData:
    """Faces of the local CelebA copy's train partition: up to train_per_class per training class, a fraction
    val_fraction of them for the validation loss, and up to heldout_loss_images of the held-out combination for its
    loss only (never trained on). h is the class prompt: CelebA labels are binary, so every image of a class has
    the same h (§6). The authors' colour jitter and flips are left out, so the data are fixed by the seed and
    resuming stays bit-exact."""
    space, train = config.concept_space, config.train
    codes = space.training_classes()
    images, labels = celeba.load_classes(space, codes, train.train_per_class, train.seed)
    h = torch.stack([space.class_prompt(code) for code in codes])[labels]
    order = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(train.seed))
    n_val = max(1, round(train.val_fraction * images.shape[0]))
    val, fit = order[:n_val], order[n_val:]
    heldout = space.heldout_classes()
    heldout_images, heldout_labels = celeba.load_classes(space, heldout, max(1, train.heldout_loss_images), train.seed)
    heldout_h = torch.stack([space.class_prompt(code) for code in heldout])[heldout_labels]
    return TrainingData(images[fit], h[fit], images[val], h[val], heldout_images, heldout_h)


def mask_captions(h: torch.Tensor, labels: torch.Tensor, space: ConceptSpace, train: TrainConfig) -> torch.Tensor:
    """h with the masked concept left out (NaN, concepts.mask_concept) of round(f·n) of the masked class's n
    training images (labels: index into space.training_classes() per row): a fixed set of images whose captions omit the attribute, as real captions do (a strawberry is just
    "a strawberry"; reference-spec §5.4). The set is drawn from its own generator, so the rest of the data, the
    initialisation and the training noise are those of the same run without masking."""
    target = space.training_classes().index(space.parse_class(train.mask_class))
    rows = torch.nonzero(labels == target).flatten()
    chosen = torch.randperm(len(rows), generator=torch.Generator().manual_seed(train.seed + 3))
    masked = torch.zeros(h.shape[0], dtype=torch.bool)
    masked[rows[chosen[:round(train.mask_fraction * len(rows))]]] = True
    return torch.where(masked[:, None], mask_concept(h, train.mask_concept), h)


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; asking for CUDA without one is a clear error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for, but no CUDA GPU is available; use --device cpu or auto.")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"Unknown device {name!r}; use auto, cpu or cuda.")
    return torch.device(name)


@torch.no_grad()
def mean_loss(
    model: VDM, images: torch.Tensor, h: torch.Tensor, seed: int, precision: str = "fp32", chunk: int = 256
) -> float:
    """Bound in bits/dim averaged over a fixed set, with fixed noise so checkpoints are comparable."""
    model.eval()
    generator = torch.Generator().manual_seed(seed)
    device = next(model.parameters()).device
    total = 0.0
    for start in range(0, images.shape[0], chunk):
        x, cond = images[start:start + chunk].to(device), h[start:start + chunk].to(device)
        with autocast(precision, device):
            total += model.loss(x, cond, generator).total.sum().item()
    return total / images.shape[0]


class Trainer:
    """Owns the model, its EMA copy, the optimiser and the RNGs of one run; `run_until` is the loop."""

    def __init__(self, run: Run, device: torch.device) -> None:
        self.run = run
        self.config = run.config
        self.device = device
        train = self.config.train
        self.data = build_data(self.config)
        torch.manual_seed(train.seed)  # initialisation and dropout draw from the global RNG
        self.model = vdm_for(self.config).to(device)
        self.ema = copy.deepcopy(self.model) if train.ema_decay > 0 else None
        # The fused kernel updates every tensor in one pass: the same AdamW step as torch's CPU default, the per-tensor
        # loop (equal within float rounding, tests/test_speed.py), in 7 ms instead of 27 for the paper model on one
        # EPYC core (benchmarks/results-reference.txt).
        self.optimizer = torch.optim.AdamW(
            [p for p in self.model.parameters() if p.requires_grad], lr=train.lr, weight_decay=train.weight_decay,
            fused=device.type in ("cpu", "cuda"),
        )
        self.batch_generator = torch.Generator().manual_seed(train.seed + 1)
        self.noise_generator = torch.Generator().manual_seed(train.seed + 2)
        self.step = 0

    @property
    def sampling_model(self) -> VDM:
        return self.ema if self.ema is not None else self.model

    # -- one step -----------------------------------------------------------------------------------------------
    def train_step(self) -> float:
        train = self.config.train
        self.model.train()
        index = torch.randint(self.data.train_images.shape[0], (train.batch_size,), generator=self.batch_generator)
        drop = None
        if train.p_uncond > 0:
            drop = (torch.rand(train.batch_size, generator=self.batch_generator) < train.p_uncond).to(self.device)
        x = self.data.train_images[index].to(self.device)
        h = self.data.train_h[index].to(self.device)
        with autocast(train.precision, self.device):
            loss = self.model.loss(x, h, self.noise_generator, drop).total.mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if train.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), train.grad_clip)
        self.optimizer.step()
        self.step += 1
        if self.ema is not None:
            # Warm-up (as in diffusers' EMAModel): early on the average would be mostly random initial weights.
            decay = min(train.ema_decay, (1 + self.step) / (10 + self.step))
            with torch.no_grad():
                torch._foreach_lerp_(list(self.ema.parameters()), list(self.model.parameters()), 1 - decay)
        return loss.item()

    # -- resume state -------------------------------------------------------------------------------------------
    def save_resume(self) -> None:
        rng = {"global": torch.get_rng_state(), "batch": self.batch_generator.get_state(),
               "noise": self.noise_generator.get_state()}
        if self.device.type == "cuda":
            rng["cuda"] = torch.cuda.get_rng_state(self.device)
        self.run.write_resume(ResumeState(
            step=self.step, model=self.model.state_dict(),
            ema=None if self.ema is None else self.ema.state_dict(),
            optimizer=self.optimizer.state_dict()["state"], rng=rng,
        ))

    def load_resume(self) -> None:
        state = self.run.read_resume()
        where = self.run.layout.place(self.run.layout.resume)
        if not 0 <= state.step <= self.config.train.num_steps:
            raise RunFolderError(f"{where} is of step {state.step}, outside this run; delete it to train the run again "
                                 "from step 0.")
        try:
            self.model.load_state_dict(state.model)
            if self.ema is not None:
                self.ema.load_state_dict(state.ema or {})
            groups = self.optimizer.state_dict()["param_groups"]
            self.optimizer.load_state_dict({"state": state.optimizer, "param_groups": groups})
            torch.set_rng_state(state.rng["global"])
            self.batch_generator.set_state(state.rng["batch"])
            self.noise_generator.set_state(state.rng["noise"])
            if "cuda" in state.rng and self.device.type == "cuda":
                torch.cuda.set_rng_state(state.rng["cuda"], self.device)
        except (RuntimeError, KeyError, ValueError, TypeError) as error:
            reason = (str(error).splitlines() or [type(error).__name__])[0][:80]
            raise RunFolderError(f"{where} does not fit this run ({reason}); delete it to train the run again from "
                                 "step 0.") from None
        self.step = state.step
        self.run.keep_metrics_up_to(state.step)

    # -- checkpoints --------------------------------------------------------------------------------------------
    def save_checkpoint(self, train_loss: float, seconds_per_step: float) -> None:
        seed, precision = self.config.train.seed + 3, self.config.train.precision
        model = self.sampling_model
        metrics = {
            "train_loss": train_loss,
            "val_loss": mean_loss(model, self.data.val_images, self.data.val_h, seed, precision),
            "heldout_loss": mean_loss(model, self.data.heldout_images, self.data.heldout_h, seed, precision),
            "gamma_0": model.gamma(torch.zeros((), device=self.device)).item(),
            "gamma_1": model.gamma(torch.ones((), device=self.device)).item(),
            "seconds_per_step": seconds_per_step,
        }
        self.run.add_checkpoint(self.step, model.state_dict(), metrics)
        self.save_resume()

    def run_until(
        self, should_stop: Callable[[], bool] = lambda: False, progress: bool = True,
        after_checkpoint: Callable[[Run, int], None] | None = None,
    ) -> bool:
        """Train to num_steps. Returns True when complete, False when stopped early (state saved)."""
        train = self.config.train
        schedule = set(train.checkpoint_schedule())
        bar = tqdm(total=train.num_steps, initial=self.step, disable=not progress, unit="step", dynamic_ncols=True)
        self.run.set_status("running")
        losses: list[float] = []
        started, started_step = time.perf_counter(), self.step
        try:
            while self.step < train.num_steps:
                if should_stop():
                    self.save_resume()
                    self.run.set_status("interrupted")
                    bar.write(f"Stopped at step {self.step}; resume with --resume. Nothing was lost.")
                    return False
                loss = self.train_step()
                if not math.isfinite(loss):
                    self.run.set_status("failed")
                    raise FloatingPointError(f"Loss became {loss} at step {self.step}; try a smaller lr or grad_clip.")
                losses.append(loss)
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
                if self.step in schedule:
                    per_step = (time.perf_counter() - started) / max(self.step - started_step, 1)
                    self.save_checkpoint(sum(losses) / len(losses), per_step)
                    losses.clear()
                    if after_checkpoint is not None:
                        after_checkpoint(self.run, self.step)
        finally:
            bar.close()
        self.run.set_status("complete")
        self.run.layout.resume.unlink(missing_ok=True)
        return True


def train(
    config: RunConfig | None, out: str | Path, device: str = "auto", resume: bool = False,
    should_stop: Callable[[], bool] = lambda: False, progress: bool = True,
    after_checkpoint: Callable[[Run, int], None] | None = None,
) -> Run:
    """Train a run into `out` (or resume the one there). With `resume`, the stored config is used and a
    given config must match it."""
    out = Path(out)
    torch_device = resolve_device(device)  # before touching `out`, so a bad device leaves no run folder behind
    restart = False
    if resume:
        if out.is_dir() and not RunLayout(out).is_run():
            raise RunFolderError(f"{out} holds no run yet (it was stopped before run.json was written); run the same "
                                 "command without --resume to start it.")
        run = Run.open(out)
        if config is not None and config.to_dict() != run.config.to_dict():
            changed = [k for k, v in config.to_dict().items() if run.config.to_dict()[k] != v]
            raise RunFolderError(f"--resume keeps the stored config; these sections differ: {changed}.")
        if run.status == "complete":
            raise RunFolderError(f"{out} is already complete ({run.final_step} steps); nothing to resume.")
        run.remove_temporaries()  # this process is now the run's only writer
        # Stopped before its first resume save (rendering data, or inside the first step or write): nothing to resume
        # from, so it starts over; training is deterministic, so it ends exactly as an uninterrupted run would.
        restart = not run.layout.resume.is_file()
        if restart:
            run.restart()
            if progress:
                tqdm.write(f"{run.name} was stopped before its first save; training it from step 0.")
    else:
        assert config is not None
        if config.concept_space.dataset == "celeba":  # read the copy's lists first: a refused run leaves no folder
            celeba.select(config.concept_space, celeba.read_index(config.concept_space.data_root),
                          config.concept_space.all_classes(), 1, 0)
        run = Run.create(out, config)
    trainer = Trainer(run, torch_device)
    if resume and not restart:
        trainer.load_resume()
    trainer.run_until(should_stop=should_stop, progress=progress, after_checkpoint=after_checkpoint)
    return run
