"""Words on the page: panel help and the guided tour, in plain language (kept apart from the layout code)."""

TITLE = "Concept Explorer"
SUBTITLE = (
    "How a small diffusion model learns to compose concepts — and can do more than it shows. "
    "Reproducing Park et al., *Emergence of Hidden Capabilities: Exploring Learning Dynamics in Concept Space* "
    "(NeurIPS 2024)."
)

STEP_HELP = (
    "One training-step control drives every panel. Drag the slider, use ◀ ▶ (or ← →, Home, End), type a step, "
    "press play (P), jump to a phase the analysis found in this run (1, 2, …), or click a point of a trajectory. "
    "F goes full screen; the ? button takes the guided tour."
)

CRITERION_INFO = (
    "strict: a colour must lie within the class's range (±0.05), else it is in between; lenient: the red/blue "
    "midpoint decides."
)
"""One line under the criterion selector (analysis/definitions.py states both criteria)."""

DIRECTION_INFO = "orthogonal: other concepts projected out; pairs: mean over training pairs; target: at the target"
"""One line under the intervention's direction dropdown (analysis/elicit.py, DIRECTIONS)."""

CONCEPT_SPACE_HELP = (
    "**Concept space.** Each line follows one class prompt through training: a probe reads every generated "
    "image's colour (x) and size (y) and places it between the training classes — 0 at the red (large) class "
    "mean, 1 at the blue (small) one, past them when a sample overshoots; the line joins the class averages at "
    "each checkpoint. Training classes are dashed, the **held-out class (blue-small) is solid** — the model never "
    "saw a blue small circle. Brown rings mark its phases, a brown star its *sudden turn* from the class it was "
    "mistaken for toward its own corner. Big dots mark the current step; black crosses are the live generation on "
    "the right, one per sample (faded when they belong to another step). Thumbnails show what each corner means."
)

GENERATION_HELP = (
    "**Live generation.** Sample the current checkpoint with your own prompt. The concept sliders move along each "
    "concept's axis: 0 is the first level's training mean (red, large), 1 the second (blue, small); going past 1 "
    "*overprompts*. Overprompt strength pushes the chosen concepts further from the other level. A *latent "
    "intervention* adds a concept direction to the model's internal concept embedding — the difference of the "
    "embeddings of two prompts that differ in that concept, taken over the training pairs (*pairs*), with the other "
    "concepts' directions projected out (*orthogonal*), or at the target's own levels (*target*); *embedding "
    "patching* borrows the embedding layer of another checkpoint; *guidance* (runs trained with a null token) "
    "scales classifier-free guidance; *leave … unspecified* (runs trained with masked prompts) leaves the masked "
    "concept out of the prompt, so the run's learned mask token stands in for it. The summary counts hits under the "
    "criterion chosen at the top. Images update when you release a slider; results are cached."
)

CAPABILITY_HELP = (
    "**Hidden capability.** How often the held-out prompt yields the held-out class, by plain prompting (black) and "
    "by each elicitation method — overprompting, latent intervention along each of three directions, embedding "
    "patching, guidance — at the best strength of a small grid, under the chosen criterion (in the title). The "
    "yellow window is the **hidden capability**: the model can already make the class when asked the right way, "
    "but plain prompting does not yet show it. When the run has sibling seeds, light bands show the range over "
    "the seeds of plain prompting and of the best method, and the line below gives their learning steps."
)

ACCURACY_HELP = (
    "**Accuracy per class.** Fraction of generations whose every concept (left) or one concept is right, per "
    "class, under the chosen criterion (strict: within the class's range; lenient: past the midpoint); stars mark "
    "learning steps (first of three checkpoints in a row at ≥ 80 %). The held-out class is "
    "learned last, and its concepts are learned in the order of their concept signal."
)

GENERATIONS_HELP = (
    "**Stored generations** at this checkpoint, eight per class (the same seed at every checkpoint, so differences "
    "come from the weights). Right: the held-out class under each elicitation method, when stored."
)

COMPARE_HELP = (
    "Two runs side by side at the same training step (each snaps to its nearest checkpoint). Runs that differ in "
    "concept signal (how far apart red and blue, or large and small, are) learn the stronger concept first."
)

TRAIN_HELP = (
    "Train a small run on this server's CPU with your own concept signal: Δcolor is how different red and blue are, "
    "Δsize how different large and small are. Checkpoints are evaluated as they arrive, so the trajectory grows "
    "below; when training ends, capability curves are computed and the run appears in the run list. One run at a "
    "time per server; a 600-step run takes a few minutes on two CPU cores."
)

SHARE_HELP = (
    "The address bar always holds the whole view (run, step, every slider), so copying it — or the link below — "
    "reproduces exactly what is on screen. Add `present=1` for presentation mode (one slide: the step control, "
    "concept space and the live grid), `phase=3` to open at the third phase, `criterion=lenient` for the midpoint "
    "criterion. Exports: the live grid as PNG, the trajectory as an animated GIF (for slides), the data as CSV or "
    "JSON (accuracies under the chosen criterion)."
)

TOUR = [
    ("1 · The task", (
        "A diffusion model learns to draw a circle of a given **colour** (red or blue) and **size** (large or small). "
        "It is trained on three combinations — red-large, red-small, blue-large — and never sees **blue-small**. "
        "Can it compose the two concepts into the fourth? Concept space answers this for every checkpoint: each "
        "line is where one prompt's samples land as training goes on."
    ), None, "concept"),
    ("2 · Training classes are learned", (
        "Early on, every prompt gives a blurry average. Then the dashed lines head for their corners: the model "
        "learns the classes it was trained on, the concept with the stronger signal first."
    ), "training classes learned", "concept"),
    ("3 · Concept memorisation", (
        "Meanwhile the held-out prompt (solid line) first lands near a *training* class: the model gets one concept "
        "right and copies the other from data it has seen. Look at the held-out row of the stored generations."
    ), "memorization", "stored"),
    ("4 · A hidden capability", (
        "Here is the paper's surprise: at this step the model **can** make blue-small circles — overprompting or a "
        "latent intervention on its concept embedding produce them — while plain prompting still does not. "
        "Compare the rows, or try the intervention strength slider in the live generation panel."
    ), "hidden capability", "elicited"),
    ("5 · Generalisation", (
        "Much later, plain prompting catches up and the solid line reaches its corner. The shaded band in the "
        "capability panel is how long the capability stayed hidden."
    ), "generalization", "capability"),
    ("6 · Your turn", (
        "Press play (P), jump between phases (1, 2, …), click any point of a trajectory, compare runs with different "
        "concept signal, train your own, and share the exact view from *Share & export*. Presentation mode "
        "(`?present=1`) fits the step control, concept space and the live grid on one slide."
    ), None, "bar"),
]
"""The guided tour: (title, text, the phase it jumps to or None, the panel it highlights). It runs over the real
figures in the Explore tab (stepper.js)."""
