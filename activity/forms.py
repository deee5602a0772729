"""The leaderboard's filter form: query-string parameters → ``LeaderboardFilters``.

A bad value is dropped with the field's error shown, never a 500 or a silently wrong list.
"""

from __future__ import annotations

from django import forms

from collection.models import Category
from collection.selectors import LeaderboardFilters

FLAGGED_CHOICES = [("", "Any"), ("yes", "Flagged"), ("no", "Not flagged")]


class LeaderboardFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=100, label="Seller name")
    department = forms.ChoiceField(required=False, label="Department or category")
    asin = forms.CharField(required=False, max_length=20, label="Resells ASIN")
    score_min = forms.FloatField(required=False, min_value=0, max_value=100, label="Score ≥")
    markup_min = forms.FloatField(required=False, min_value=-100, label="Markup from %")
    markup_max = forms.FloatField(required=False, min_value=-100, label="to %")
    feedback_min = forms.IntegerField(required=False, min_value=0, label="Feedback ≥")
    flagged = forms.ChoiceField(required=False, choices=FLAGGED_CHOICES, label="Flagged")
    new_in_run = forms.IntegerField(required=False, min_value=1, label="New in run")
    seen_in_run = forms.IntegerField(required=False, min_value=1, label="Matched in run")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # "d:<department>" or "c:<category pk>": one select, departments with their
        # categories under them.
        choices: list = [("", "All")]
        groups: dict[str, list] = {}
        for pk, name, department in Category.objects.order_by("department", "name").values_list(
            "pk", "name", "department"
        ):
            groups.setdefault(department or name, []).append((f"c:{pk}", name))
        for department, categories in groups.items():
            options = [(f"d:{department}", f"{department} (whole department)")]
            options += [c for c in categories if c[1] != department]
            choices.append((department, options))
        self.fields["department"].choices = choices

    PRIMARY = ("q", "department", "asin", "score_min")

    def primary_fields(self):
        return [self[name] for name in self.PRIMARY]

    def more_fields(self):
        return [self[name] for name in self.fields if name not in self.PRIMARY]

    def more_in_use(self) -> bool:
        """Open the "more filters" fold when one of them is set or wrong."""
        return any(
            self.data.get(name) or self.errors.get(name)
            for name in self.fields
            if name not in self.PRIMARY
        )

    def clean(self):
        data = super().clean()
        low, high = data.get("markup_min"), data.get("markup_max")
        if low is not None and high is not None and low > high:
            self.add_error("markup_max", "The upper markup is below the lower one.")
        return data

    def filters(self) -> LeaderboardFilters:
        """The valid fields as filters (invalid ones are left out and shown as errors)."""
        data = self.cleaned_data if self.is_bound else {}
        choice = data.get("department") or ""
        department, category_id = "", None
        if choice.startswith("d:"):
            department = choice[2:]
        elif choice.startswith("c:"):
            category_id = int(choice[2:])
        flagged = {"yes": True, "no": False}.get(data.get("flagged") or "")
        return LeaderboardFilters(
            search=data.get("q") or "",
            department=department,
            category_id=category_id,
            asin=data.get("asin") or "",
            score_min=data.get("score_min"),
            markup_min_percent=data.get("markup_min"),
            markup_max_percent=data.get("markup_max"),
            feedback_min=data.get("feedback_min"),
            flagged=flagged,
            new_in_run_id=data.get("new_in_run"),
            seen_in_run_id=data.get("seen_in_run"),
        )
