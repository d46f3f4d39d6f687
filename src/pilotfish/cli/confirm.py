"""istioctl's confirmations before `install` and `uninstall`, as istioctl asks them.

The question goes to stdout, followed by a space; the answer is read from stdin as Go's
`fmt.Scanln` reads one word: `y`/`yes` proceeds, `n`/`no` does not, another word asks again,
an empty line, more than one word or the end of the input (a closed or empty stdin, as in a
script) does not proceed. istioctl does not look at whether stdin is a terminal, so neither does
this: scripts pass `-y` (`--skip-confirmation`). Refused, istioctl prints `Cancelled.` on
stderr and exits with status 1 (`CANCELLED`).

`install` asks `This will install the Istio <version> profile "<profile>" into the cluster.
Proceed? (y/N)` (istioctl's `mesh.Install`; the version is pilotfish's, the one `version`
reports). `uninstall --purge` first says `All Istio resources will be pruned from the cluster`;
`uninstall` of the default revision says how many proxies still point at it (and lists up to
30), as istioctl's `preCheckWarnings`; with `-y` the warning is printed and nothing asked.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pilotfish import __version__

CANCELLED = 1
ALL_REMOVED = "All Istio resources will be pruned from the cluster\n"
_SHOWN_PROXIES = 30


def confirm(question: str) -> bool:
    """Ask until the answer is yes or no (see the module docstring)."""
    while True:
        print(f"{question} ", end="", flush=True)
        line = sys.stdin.readline()
        words = line.split()
        if len(words) != 1:  # the end of the input, an empty line, or more than one word
            return False
        answer = words[0].upper()
        if answer in ("Y", "YES"):
            return True
        if answer in ("N", "NO"):
            return False


def cancelled() -> int:
    print("Cancelled.", file=sys.stderr)
    return CANCELLED


def install_question(profile: str) -> str:
    return (
        f'This will install the Istio {__version__} profile "{profile}" into the cluster. '
        "Proceed? (y/N)"
    )


def uninstall_warning(purge: bool, proxies: Sequence[str], revision: str = "default") -> str:
    """What istioctl says before an uninstall ("" when it has nothing to say, nor to ask)."""
    if purge:
        return ALL_REMOVED
    if not proxies:
        return ""
    listed = "".join(f"{p}\n" for p in proxies) if len(proxies) <= _SHOWN_PROXIES else ""
    return (
        f"There are still {len(proxies)} proxies pointing to the control plane revision "
        f"{revision}\n{listed}If you proceed with the uninstall, these proxies will become "
        "detached from any control plane and will not function correctly.\n"
    )


def uninstall_confirmed(
    purge: bool, proxies: Sequence[str], skip: bool, revision: str = "default"
) -> bool:
    """istioctl's warning before an uninstall, and its question unless `skip` (`-y`)."""
    warning = uninstall_warning(purge, proxies, revision)
    if skip:
        print(warning)
        return True
    return not warning or confirm(warning + "Proceed? (y/N)")
