"""One resource after another, without a chain the Pulumi SDK walks recursively.

Before the Python SDK records a dependency it checks that it closes no cycle, walking
everything the dependency already depends on, recursively, one Python frame per resource
(`_with_transitive_deps` in pulumi/runtime/resource_cycle_breaker.py, SDK 3.272; the SDK
made its other walk iterative for the same reason, pulumi/pulumi#16669). Steps chained
on each other make that walk as long as the chain: 1,000 steps on one build VM ended in
RecursionError, and the walks cost time quadratic in the chain.

So a resource that must come after another depends on a stand-in for it: a
`DependencyResource` holding only its URN (the SDK's own stand-in for a resource it knows
by reference), made once that URN is known. The engine receives the same dependency (the
URN), the SDK waits for the resource as before, and the walk stops at the stand-in,
which depends on nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pulumi
from pulumi.resource import DependencyResource


def after(resource: pulumi.CustomResource) -> pulumi.Output[pulumi.Resource]:
    """`resource`, as an entry of `depends_on` that the SDK does not walk past. (A
    custom resource: `depends_on` a component means its children, which a URN is not.)"""

    async def stand_in() -> pulumi.Resource:
        urn = await resource.urn.future()
        assert urn is not None  # the engine gives every registered resource its URN
        return DependencyResource(urn)

    known: asyncio.Future[bool] = asyncio.get_event_loop().create_future()
    known.set_result(True)
    # Tasks and futures, not bare coroutines: a run that fails first never awaits them.
    # No resources of its own: the SDK would add (and walk) those as dependencies too.
    return pulumi.Output(set(), asyncio.ensure_future(stand_in()), known)


def after_all(
    resources: Sequence[pulumi.CustomResource | None],
) -> list[pulumi.Input[pulumi.Resource]]:
    """`depends_on` for what comes after every one of `resources` (None: nothing)."""
    return [after(r) for r in resources if r is not None]
