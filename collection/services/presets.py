"""Category presets: named selections that runs and schedules start from."""

from __future__ import annotations

import logging

from django.db import transaction

from collection.models import CategoryPreset

logger = logging.getLogger(__name__)


class PresetError(Exception):
    """A preset change that cannot be made, with a message fit for an operator."""


def preset_categories_check(*, categories) -> None:
    """A preset is a selection to start runs from: an empty one would start nothing (a run
    or a schedule firing from it is refused), so it cannot be saved empty."""
    if not list(categories):
        raise PresetError("A preset needs at least one category.")


def presets_delete(*, preset_ids) -> int:
    """Delete presets; the built-in ones ("All departments") are refused, all or nothing."""
    with transaction.atomic():
        presets = list(CategoryPreset.objects.select_for_update().filter(pk__in=list(preset_ids)))
        builtin = [p.name for p in presets if p.is_builtin]
        if builtin:
            raise PresetError(
                f"The built-in preset {', '.join(repr(n) for n in builtin)} cannot be deleted."
            )
        CategoryPreset.objects.filter(pk__in=[p.pk for p in presets]).delete()
    logger.info("deleted %d preset(s)", len(presets))
    return len(presets)
