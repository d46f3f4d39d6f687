"""The kubelet's restart back-off of a container that keeps ending (CrashLoopBackOff), as
Kubernetes computes it (pkg/kubelet/kuberuntime `doBackOff` over client-go's
`flowcontrol.Backoff`, with pkg/kubelet's `backOffPeriod` 10 s and `MaxContainerBackOff` 300 s):

- a container that ended is restarted at once when it has no back-off yet, or when it ended more
  than twice the maximum (10 min) after its last restart (`hasExpired`: it ran long enough to be
  stable); its back-off then starts (again) at 10 s;
- otherwise it waits until its back-off has passed since it ended (`IsInBackOffSince`): the
  kubelet shows it waiting with reason CrashLoopBackOff ("back-off 10s restarting failed
  container=C pod=P"), and records a Warning BackOff event ("Back-off restarting failed
  container C in pod P"); once restarted its back-off doubles, up to 5 min.

So its restarts come 0 s, 10 s, 20 s, 40 s, … 300 s after it ended. `RestartBackOff` is pure
(times are passed in); `processes.supervise` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pilotfish.registry.pod_fields import pod_uid

INITIAL = 10.0  # pkg/kubelet: backOffPeriod
MAXIMUM = 300.0  # pkg/kubelet: MaxContainerBackOff
REASON = "CrashLoopBackOff"


@dataclass
class RestartBackOff:
    """One container's back-off (the kubelet keys it by pod and container)."""

    initial: float = INITIAL
    maximum: float = MAXIMUM
    current: float = 0.0  # the back-off window (0: none yet); `Backoff.Get`
    last_update: float = 0.0  # when it last restarted the container

    def _expired(self, ended: float) -> bool:
        return not self.current or ended - self.last_update > 2 * self.maximum

    def wait(self, ended: float, now: float) -> float:
        """Seconds a container that ended at `ended` still waits before its restart (0: none)."""
        if self._expired(ended):
            return 0.0
        return max(0.0, self.current - (now - ended))

    def restarted(self, ended: float, now: float) -> None:
        """The container is restarted at `now` (`Backoff.Next`): the next window."""
        expired = self._expired(ended)
        self.current = self.initial if expired else min(2 * self.current, self.maximum)
        self.last_update = now


def go_duration(seconds: float) -> str:
    """Seconds as Go prints a time.Duration: `10s`, `1m20s`, `5m0s`, `1.5s`, `400ms`."""
    if 0 < seconds < 1:
        return f"{round(seconds * 1000)}ms"
    minutes, secs = divmod(round(seconds, 3), 60)
    hours, minutes = divmod(int(minutes), 60)
    text = f"{round(secs, 3):g}s"
    if hours:
        return f"{hours}h{minutes}m{text}"
    return f"{minutes}m{text}" if minutes else text


def kubelet_pod(namespace: str, name: str, ip: str) -> str:
    """How the kubelet names a pod in its messages (`format.Pod`): `name_namespace(uid)`."""
    return f"{name}_{namespace}({pod_uid(namespace, name, ip)})"


def waiting_message(window: float, container: str, pod: str) -> str:
    """The waiting state's message while the container backs off."""
    return f"back-off {go_duration(window)} restarting failed container={container} pod={pod}"


def event_message(container: str, pod: str) -> str:
    """The BackOff event's message."""
    return f"Back-off restarting failed container {container} in pod {pod}"


def exit_code(returncode: int) -> int:
    """A container's exit code as the runtime reports it: a process a signal ended is
    128 + the signal (137 for SIGKILL, 143 for SIGTERM), not Python's negative returncode."""
    return 128 - returncode if returncode < 0 else returncode
