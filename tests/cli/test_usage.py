"""`top`'s arithmetic over /proc samples: a pod's processes are its containers' and their
descendants; CPU is the ticks spent inside the window."""

from __future__ import annotations

import os

from pilotfish.cli import usage

TICKS = os.sysconf("SC_CLK_TCK")


def test_tree_takes_descendants_and_skips_the_dead() -> None:
    parents = {1: 0, 10: 1, 11: 10, 12: 11, 20: 1, 21: 20}
    assert usage.tree([10, None, 99], parents) == {10, 11, 12}
    assert usage.tree([], parents) == set()


def test_usage_counts_ticks_inside_the_window() -> None:
    before = usage.Sample({10: 1, 11: 10}, {10: 100, 11: 5}, {}, 0, 0)
    after = usage.Sample(
        {10: 1, 11: 10, 12: 10}, {10: 100 + TICKS // 2, 11: 5, 12: 40}, {10: 1 << 20, 12: 3}, 0, 0
    )
    millicores, rss = usage.usage({10, 11, 12}, before, after, 1.0)
    # half a second of pid 10; pid 12 was born inside the window: all its ticks count
    assert millicores == round((TICKS // 2 + 40) / TICKS * 1000)
    assert rss == (1 << 20) + 3


def test_sample_reads_this_process() -> None:
    found = usage.sample()
    me = os.getpid()
    assert found.parents[me] == os.getppid()
    assert found.rss[me] > 1 << 20 and found.total >= found.busy > 0
