"""The samplers a user may pick, by short name. Each is built from the checkpoint's own noise schedule."""

from __future__ import annotations

from diffusers import DDIMScheduler, DPMSolverMultistepScheduler, EulerAncestralDiscreteScheduler

SCHEDULERS = {
    "ddim": (DDIMScheduler, {}),
    "euler_a": (EulerAncestralDiscreteScheduler, {}),
    "dpm++": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"}),
}
ALIASES = {"euler-ancestral": "euler_a", "euler_ancestral": "euler_a", "dpmsolver++": "dpm++", "dpm": "dpm++"}


def scheduler_names() -> list[str]:
    return list(SCHEDULERS)


def make_scheduler(name: str, schedule_config):
    """A fresh scheduler of kind `name` sharing `schedule_config` (betas, prediction type, ...)."""
    key = ALIASES.get(name.lower(), name.lower())
    if key not in SCHEDULERS:
        raise ValueError(f"Unknown scheduler '{name}'; choose one of {', '.join(SCHEDULERS)}.")
    cls, overrides = SCHEDULERS[key]
    return cls.from_config(schedule_config, **overrides)


def sd15_schedule() -> DDIMScheduler:
    """Stable Diffusion 1.5's training noise schedule (scaled-linear betas, 1000 steps)."""
    return DDIMScheduler(
        num_train_timesteps=1000,
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
        prediction_type="epsilon",
    )
