"""Cross-checks of the `models:` section that one entry's schema cannot make alone (config/loader.py runs them)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from wardgate.config.errors import ConfigProblem
from wardgate.config.schema import DeploymentConfig, ModelConfig, Settings
from wardgate.routing.classifier import load_classifier


def check_models(settings: Settings, raw: Mapping[str, Any]) -> list[ConfigProblem]:
    """``raw`` is the interpolated YAML, to name keys as the file writes them (list form or mapping form)."""
    problems: list[ConfigProblem] = []
    providers = ", ".join(sorted(settings.providers)) or "(none configured: add one under providers:)"
    models = settings.models
    raw_models = raw.get("models") if isinstance(raw.get("models"), dict) else {}
    assert isinstance(raw_models, dict)
    for public, config in models.items():
        listed = isinstance(raw_models.get(public), list)
        where = f"models.{public}" if listed else f"models.{public}.deployments"
        entries: list[tuple[str, DeploymentConfig]] = [(f"{where}[{i}]", d) for i, d in enumerate(config.deployments)]
        if config.canary is not None:
            entries.append((f"models.{public}.canary.deployment", config.canary.deployment))
        seen: set[str] = set()
        for loc, dep in entries:
            if dep.provider not in settings.providers:
                problems.append(
                    ConfigProblem(
                        f"{loc}.provider",
                        f"{dep.provider!r} is not a configured provider.",
                        f"use one of: {providers}.",
                    )
                )
            name = f"{dep.provider}/{dep.model}"
            if name in seen:
                problems.append(
                    ConfigProblem(
                        loc,
                        f"{name} is listed twice for this model.",
                        "list each provider/model once (use weight: to give it more calls).",
                    )
                )
            seen.add(name)
        problems.extend(_check_options(public, config, models))
    return problems


def _check_options(public: str, config: ModelConfig, models: Mapping[str, ModelConfig]) -> list[ConfigProblem]:
    problems = []
    here = f"models.{public}"
    for i, other in enumerate(config.fallbacks):
        if other == public:
            problems.append(ConfigProblem(f"{here}.fallbacks[{i}]", "a model cannot fall back to itself."))
        elif other not in models:
            known = ", ".join(m for m in models if m != public) or "(no other model)"
            problems.append(
                ConfigProblem(
                    f"{here}.fallbacks[{i}]", f"{other!r} is not a configured model.", f"use one of: {known}."
                )
            )
    classes = sorted({d.model_class for d in config.deployments if d.model_class is not None})
    shown = ", ".join(classes) or "(none: set model_class: on the deployments)"
    wanted: list[tuple[str, str | None]] = [(f"{here}.default_class", config.default_class)]
    if config.classifier is not None:
        wanted += [
            (f"{here}.classifier.easy", config.classifier.easy),
            (f"{here}.classifier.hard", config.classifier.hard),
        ]
    for loc, cls in wanted:
        if cls is not None and cls not in classes:
            problems.append(
                ConfigProblem(
                    loc, f"{cls!r} is not the model_class of any of this model's deployments.", f"use {shown}."
                )
            )
    if config.strategy == "model_class" and config.classifier is None and config.default_class is None:
        problems.append(
            ConfigProblem(
                f"{here}.strategy",
                "model_class needs a class to prefer.",
                "add default_class: (or a classifier:), or keys tagged model_class choose one.",
            )
        )
    if config.canary is not None and config.canary.deployment.weight != 1.0:
        problems.append(
            ConfigProblem(f"{here}.canary.deployment.weight", "has no effect: percent sets the canary's share.")
        )
    if config.classifier is not None and config.classifier.plugin is not None:
        try:
            load_classifier(config.classifier.plugin)
        except (ImportError, AttributeError, TypeError) as exc:
            problems.append(
                ConfigProblem(f"{here}.classifier.plugin", f"cannot be loaded ({exc}).", "check the import path.")
            )
    return problems


def list_form_paths(problems: list[ConfigProblem], raw: Mapping[str, Any]) -> list[ConfigProblem]:
    """Schema errors inside a model written as a list name ``models.x[0]…``, as the file does, not the
    ``models.x.deployments[0]…`` of the mapping the list stands for."""
    raw_models = raw.get("models")
    if not isinstance(raw_models, dict):
        return problems
    out = []
    for problem in problems:
        for public, value in raw_models.items():
            prefix = f"models.{public}.deployments["
            if isinstance(value, list) and problem.path.startswith(prefix):
                problem = dataclasses.replace(problem, path=f"models.{public}[" + problem.path[len(prefix) :])
                break
        out.append(problem)
    return out
