"""Programs in a live lab's node, started from outside the keeper, exactly as a run's steps run them.

A node (host, router, Docker host) is entered through its shell's namespaces: network and
mount (its own /etc/hosts, resolv.conf, taos.cfg) as mnexec joins them, and UTS (its host
name) as lab.deploy.network.in_node does; the environment is the lab's
(lab.software.node_environment: the emulated or real `taos` on PATH). A container is entered
through its own Docker engine (`docker exec`), whose environment the container got at start.
"""

from __future__ import annotations

import os
import shlex
import subprocess

from ..commands import CommandRunner, Transcript
from ..errors import InvalidInput
from ..scenario import model
from ..software import node_environment
from .registry import LiveLab, matching


def targets(lab: LiveLab) -> list[str]:
    """Everything of the lab a shell or a command can run in: its nodes, then its containers."""
    return [*lab.nodes, *lab.containers]


def check_target(lab: LiveLab, name: str) -> str:
    """`name` if the lab has a node or container of that name (or a unique prefix of one); InvalidInput otherwise."""
    every = targets(lab)
    matches = matching(name, every)
    if len(matches) == 1:
        return matches[0]
    raise InvalidInput(
        f"lab {lab.name} has no node or container '{name}'"
        + (f" (it could be any of {', '.join(matches)})" if matches else "")
        + f"; it has: {', '.join(every)}"
    )


def node_argv(lab: LiveLab, variant: model.Variant, target: str, argv: list[str], terminal: bool = False) -> list[str]:
    """The argument list that runs `argv` in `target` of the lab (`terminal`: with a pseudo-terminal, for docker exec)."""
    if target in lab.containers:
        return ["docker", "exec", "-it" if terminal else "-i", target, *argv]
    env = [f"{key}={value}" for key, value in node_environment(variant.deployment.software).items()]
    if terminal:
        env.append("TERM=" + os.environ.get("TERM", "xterm"))
    return ["nsenter", f"--target={lab.nodes[target]}", "--net", "--mount", "--uts", "--", "env", "-i", *env, *argv]


def engine_env(lab: LiveLab, target: str) -> dict[str, str] | None:
    """The docker CLI's environment for a container's engine; None for a node (the caller's own is fine)."""
    return lab.engines[lab.containers[target]] if target in lab.containers else None


def shell_argv(lab: LiveLab, variant: model.Variant, target: str) -> list[str]:
    """An interactive shell in `target` whose prompt names the lab and the node (bash, or sh where bash is missing)."""
    prompt = f"[{lab.name}] {target}:\\w# "
    script = (
        f"export PS1={shlex.quote(prompt)}; "
        "if command -v bash >/dev/null; then exec bash --norc --noprofile -i; else exec sh -i; fi"
    )
    return node_argv(lab, variant, target, ["sh", "-c", script], terminal=True)


def runner(lab: LiveLab, variant: model.Variant, target: str, transcript: Transcript) -> CommandRunner:
    """A CommandRunner for steps in `target` of the live lab (a session of its own, as Mininet's popen gives)."""
    argv_of = lambda argv: node_argv(lab, variant, target, list(argv))  # noqa: E731
    return CommandRunner(
        target,
        transcript,
        env=engine_env(lab, target),
        spawn=lambda argv, **kw: subprocess.Popen(argv_of(argv), start_new_session=True, **kw),
    )
