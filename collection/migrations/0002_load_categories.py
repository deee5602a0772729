"""Load the Amazon.com category catalogue and the built-in "All departments" preset.

Node ids come from shared/reference (marketplace-apis.md §6 for departments,
amazon-categories.md for sub-categories); collection/data/categories.json is the copy the
project ships.
"""

import json
from pathlib import Path

from django.db import migrations

# Headphones, Camera & Photo, Kitchen & Dining, Dogs, Exercise & Fitness, Games.
SAMPLER = ["12097479011", "502394", "284507", "2975312011", "3407731", "166220011"]
DATA = Path(__file__).resolve().parent.parent / "data" / "categories.json"


def load(apps, schema_editor):
    Category = apps.get_model("collection", "Category")
    CategoryPreset = apps.get_model("collection", "CategoryPreset")
    rows = json.loads(DATA.read_text(encoding="utf-8"))
    departments = {}
    for row in rows:
        category, _ = Category.objects.update_or_create(
            node_id=row["node_id"],
            defaults={
                "name": row["name"],
                "department": row["department"],
                "is_department": row["is_department"],
            },
        )
        if row["is_department"]:
            departments[row["name"]] = category
    for category in Category.objects.filter(is_department=False):
        parent = departments.get(category.department)
        if parent:
            category.parent = parent
            category.save(update_fields=["parent"])
    preset, _ = CategoryPreset.objects.get_or_create(
        name="All departments",
        defaults={"description": "Every top-level Amazon.com department.", "is_builtin": True},
    )
    preset.categories.set(departments.values())
    sample, _ = CategoryPreset.objects.get_or_create(
        name="Sampler",
        defaults={"description": "Six sub-categories: a quick run that still shows parallelism."},
    )
    sample.categories.set(Category.objects.filter(node_id__in=SAMPLER))


def unload(apps, schema_editor):
    apps.get_model("collection", "CategoryPreset").objects.filter(
        name__in=["All departments", "Sampler"]
    ).delete()


class Migration(migrations.Migration):
    dependencies = [("collection", "0001_initial")]

    operations = [migrations.RunPython(load, unload)]
