"""`{template: linux/install-packages.sh.j2, vars: {...}}`: a Jinja2 template under
templates/<os>/, rendered with its declared variables, run as a managed run command.

A template that may need a restart (it can print vocabulary.RESTART_MARKER, as
install-features does when a feature's RestartNeeded says Yes) is followed by a `Restart`
VM action that reads the command's output and restarts only when the marker is there
(vmimage/steps/template.py): the graph is fixed before anything runs, what the guest
answers decides at run time."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Any

from pydantic import Field

from vmimage.config.steps.kind import StepKind, UserScriptStep, script_restarts
from vmimage.scripts.declarations import DeclarationError, declaration_of
from vmimage.scripts.render import TEMPLATES_DIR, TemplateProblem, render
from vmimage.vocabulary import RESTART_MARKER


class TemplateStep(UserScriptStep):
    template: str = Field(
        min_length=1,
        description="Jinja2 template under templates/, e.g. linux/install-packages.sh.j2",
    )
    vars: dict[str, Any] = Field(default_factory=dict, description="variables the template needs")


def _problems(step: TemplateStep, os: str, at: str) -> list[str]:
    expected_dir = f"{os}/"
    if not step.template.startswith(expected_dir):
        return [f"{at}.template: {os} builds use templates under templates/{expected_dir}"]
    if ".." in PurePosixPath(step.template).parts or "\\" in step.template:
        return [f"{at}.template: {step.template!r} leaves templates/{expected_dir}; name a "
                "file inside it, without '..'"]
    try:
        declared = declaration_of(str(TEMPLATES_DIR), step.template)
    except (OSError, UnicodeDecodeError):
        return [f"{at}.template: {step.template!r} is not a template file under templates/"]
    except DeclarationError as exc:
        return [f"{at}.template: {exc}"]
    if declared is not None:
        problems = declared.problems(step.vars, f"{at}.vars")
        if problems:
            return problems
    try:
        render(step.template, step.vars, os=os, vm_name="validation")
    except TemplateProblem as exc:
        return [f"{at}: {exc}"]
    return []


def _warnings(step: TemplateStep, at: str) -> list[str]:
    try:
        undeclared = declaration_of(str(TEMPLATES_DIR), step.template) is None
    except (OSError, UnicodeDecodeError, DeclarationError):
        return []  # reported as a problem
    if not undeclared:
        return []
    return [f"{at}.template: {step.template} declares no variables ({{#- vars: ... -#}}), "
            "so its vars are not checked"]


def _script_text(step: TemplateStep, os: str) -> str | None:
    try:
        return render(step.template, step.vars, os=os, vm_name="validation")
    except TemplateProblem:
        return None


def stem_of(template: str) -> str:
    """'linux/install-packages.sh.j2' -> 'install-packages', for the run command's name."""
    return template.rsplit("/", 1)[-1].split(".", 1)[0]




def _restarts(step: TemplateStep, os: str) -> int:
    """One restart after the step when its wrapper (3010) or the template itself (the
    restart marker, as install-features prints it) may ask for one."""
    return max(script_restarts(step, os), int(RESTART_MARKER in (_script_text(step, os) or "")))


KIND = StepKind(key="template", model=TemplateStep, problems=_problems,
                warnings=_warnings, script_text=_script_text, restarts=_restarts,
                description="a Jinja2 template under templates/<os>/, with its vars")
