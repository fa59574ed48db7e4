"""One conversation with a shell in the incident's remote-client node through a real terminal
(pexpect), shared by the live-lab tests here and over SSH."""

from __future__ import annotations

import re

import pexpect


def converse_in_remote_client(
    shell: pexpect.spawn,
    lab: str,
    asked: tuple[tuple[str, str], ...] = (),
    resize_to: tuple[int, int] | None = None,
    exit_status: int = 0,
) -> None:
    """In a shell just opened in `lab`'s remote-client (a 37x101 terminal): its host name, then each
    (command, expected output) of `asked`, the window size (and, with `resize_to`, the size after
    a resize), a ping stopped by Ctrl-C (which must reach ping, not the shell), and `exit`."""
    prompt = re.escape(f"[{lab}] remote-client:")
    shell.expect(prompt)
    for command, expected in (
        ("hostname", r"[\r\n]remote-client\r\n"),  # after the echoed line and bash's bracketed-paste switch
        *asked,
        ("stty size", r"37 101"),
    ):
        shell.sendline(command)
        shell.expect(expected)
        shell.expect(prompt)
    if resize_to is not None:
        shell.setwinsize(*resize_to)  # SIGWINCH: the window in the node follows
        shell.sendline("stty size")
        shell.expect(f"{resize_to[0]} {resize_to[1]}")
        shell.expect(prompt)
    shell.sendline("ping -n 10.0.2.1")
    shell.expect("bytes from 10.0.2.1")
    shell.sendintr()
    shell.expect("packets transmitted")
    shell.expect(prompt)
    shell.sendline("echo still-$((20 + 22))")
    shell.expect("still-42")
    shell.sendline(f"exit {exit_status}")
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == exit_status
