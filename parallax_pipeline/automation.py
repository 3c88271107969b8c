"""Declarative automation: carry a changed scene or soundtrack through to the project video.

The projects sensor starts runs for assets whose files on disk changed; these conditions
take over from there. A project asset re-materialises only when an upstream artifact's
data version (its recipe) changed, or when its partition first appears, never merely
because something upstream ran again with the same result.
"""

from __future__ import annotations

import dagster as dg


def rebuild_on_upstream_change(*, wait_for_all_deps: bool = False) -> dg.AutomationCondition:
    """`wait_for_all_deps` also holds the asset back while a dependency is missing; fan-in
    assets over the scene positions do not use it: a position past a project's last scene
    is missing until the projects sensor marks it empty."""
    # The sensor's "empty position" marks count as updates too (Dagster 1.13 compares no
    # data versions here, and `any_new_update_has_run_tags` finds no updates of these
    # multi-partitioned deps): a project given a new empty position is composed again,
    # from the content cache (its recipe is unchanged), not rendered.
    upstream_changed = dg.AutomationCondition.any_deps_match(
        dg.AutomationCondition.data_version_changed() | dg.AutomationCondition.will_be_requested()
    ).with_label("upstream data version changed")
    # A scene whose clip failed holds its project back until that clip is made (the
    # sensor requests it again when its inputs change): composing without it would only
    # fail again, a wasted red run per tick.
    upstream_failed = dg.AutomationCondition.any_deps_match(dg.AutomationCondition.execution_failed()).with_label(
        "an upstream partition failed"
    )
    condition = (
        (dg.AutomationCondition.newly_missing() | upstream_changed).since_last_handled()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
        & ~upstream_failed
    )
    if wait_for_all_deps:
        condition = condition & ~dg.AutomationCondition.any_deps_missing()
    return condition.with_label("rebuild when an upstream artifact changes")


automation_sensor = dg.AutomationConditionSensorDefinition(
    "project_automation",
    target=dg.AssetSelection.all(),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description="Re-composes and re-mixes a project after its scenes or soundtrack changed.",
)
