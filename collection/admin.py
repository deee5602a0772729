"""Admin for what an operator looks at and does. Scraped text is always shown escaped.

Every action parses the request and calls one service (``collection.services``); runs are
never executed in a request: starting or resuming one enqueues it for a task worker and
the admin answers at once with a link to the run's live page.

One module past ~400 lines because Django discovers ``<app>/admin.py``: it is sectioned
by what the operator handles (site, starting runs, runs, links out, products, sellers,
internals, schedules); a section that grows further becomes a module of a package.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote, urlsplit

from asgiref.sync import sync_to_async
from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.handlers.asgi import ASGIRequest
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import (
    Http404,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from collection import selectors
from collection.models import (
    Category,
    CategoryPreset,
    CollectionRun,
    Product,
    ProductCategory,
    ProviderUsage,
    RunTask,
    Schedule,
    Seller,
    SellerChange,
    SellerSighting,
    SellerSnapshot,
)
from collection.services.control import CONTROL_ACTIONS, run_control
from collection.services.dispatch import run_start
from collection.services.estimates import run_estimate_compare_line, run_estimate_lines
from collection.services.exports import (
    ExportError,
    markup_percent,
    seller_why,
    sellers_export,
    share_percent,
)
from collection.services.lifecycle import (
    RunError,
    RunOptionsError,
    run_estimate_from_options,
    run_options_validate,
)
from collection.services.presets import PresetError, preset_categories_check, presets_delete
from collection.services.schedules import (
    ScheduleError,
    cron_is_frequent,
    cron_validate,
    schedule_frequency_check,
    schedule_preview,
    schedule_save,
)
from collection.services.sellers import (
    SellerError,
    seller_rename,
    sellers_delete,
    sellers_flag,
    sellers_restore,
    sellers_unflag,
)

logger = logging.getLogger(__name__)


# --- The site: the product's name, and what operators use apart from the internals --------

admin.site.site_header = "Seller Scout"
admin.site.site_title = "Seller Scout"
admin.site.index_title = "Find the dropshippers"

# In the order an operator reaches for them.
OPERATOR_MODELS = ["Seller", "CollectionRun", "CategoryPreset", "Schedule", "Product", "Category"]
# Rows the system writes, named for what they are to an operator.
INTERNAL_MODELS = {
    "SellerChange": "Change log",
    "SellerSnapshot": "Snapshots (seller counts per run)",
    "RunTask": "Run tasks",
    "ProviderUsage": "Provider usage (quota windows)",
    "DBTaskResult": "Task results (worker queue)",
}


def scout_app_list(request, app_label=None):
    """The admin's app list in two sections, "Seller Scout" (what operators use) and
    "Internals" (what the system writes), then the other apps (users and groups).

    Installed on the default site below: the documented alternative, a ``default_site``
    AdminConfig, would change INSTALLED_APPS in config/settings.py for this one method.
    """
    apps = admin.AdminSite.get_app_list(admin.site, request, app_label)
    operators, internals, others = [], [], []
    for app in apps:
        rest = []
        for model in app["models"]:
            name = model["object_name"]
            if name in INTERNAL_MODELS:
                internals.append({**model, "name": INTERNAL_MODELS[name]})
            elif app["app_label"] == "collection":
                operators.append(model)
            else:
                rest.append(model)
        if rest:
            others.append({**app, "models": rest})
    position = {name: i for i, name in enumerate([*OPERATOR_MODELS, *INTERNAL_MODELS])}
    sections = []
    for title, models in (("Seller Scout", operators), ("Internals", internals)):
        if models:
            models.sort(key=lambda m: position.get(m["object_name"], len(position)))
            sections.append(
                {
                    "name": title,
                    "app_label": "collection",
                    "has_module_perms": True,
                    "app_url": reverse("admin:app_list", kwargs={"app_label": "collection"}),
                    "models": models,
                }
            )
    return sections + others


# The default site, so every admin URL keeps working; a method set on the instance.
admin.site.get_app_list = scout_app_list  # type: ignore[method-assign]


def run_live_url(run_id: int) -> str:
    try:
        return reverse("activity:run_detail", args=[run_id])
    except NoReverseMatch:  # the live pages are not installed
        return f"/runs/{run_id}/"


def run_link_message(run: CollectionRun, text: str) -> str:
    """A message naming the run, with a link to its live page (escaped, then marked safe)."""
    return format_html(
        '{} <a href="{}">Open the live page of run {}</a>.', text, run_live_url(run.pk), run.pk
    )


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the system only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Starting runs ------------------------------------------------------------------------


def _run_options_clean(data: dict, errors) -> dict:
    """Form-level check of run options through the one service that validates them."""
    if data.get("ebay_queries") is None:  # left empty (or a form posted without it)
        data["ebay_queries"] = settings.COLLECTION_EBAY_QUERIES
    if not errors:
        try:
            run_options_validate(
                workers=data["workers"],
                amazon_pages=data["amazon_pages"],
                ebay_pages=data["ebay_pages"],
                markup_min_percent=data["markup_min_percent"],
                markup_max_percent=data["markup_max_percent"],
                ebay_queries=data["ebay_queries"],
            )
        except RunOptionsError as exc:
            raise ValidationError(str(exc)) from exc
    return data


class RunOptionsForm(forms.Form):
    """The options of a run (the selection comes from the action or from the fields below)."""

    workers = forms.IntegerField(
        min_value=1, max_value=200, help_text="Concurrent workers (1–200)."
    )
    amazon_pages = forms.TypedChoiceField(
        choices=[(1, "1 (top 50)"), (2, "2 (top 100)")],
        coerce=int,
        help_text="Best-seller pages per category.",
    )
    ebay_pages = forms.IntegerField(
        min_value=1,
        max_value=50,
        label="eBay pages",
        help_text="Result pages of 200 listings per eBay query, at most (1–50).",
    )
    ebay_queries = forms.IntegerField(
        min_value=1,
        max_value=5,
        label="eBay queries",
        required=False,
        help_text="eBay searches per product, at most (1–5): the best query first, the "
        "next ones only when it finds too little. Empty: the default.",
    )
    markup_min_percent = forms.DecimalField(
        min_value=0,
        max_digits=7,
        decimal_places=2,
        label="Markup min %",
        help_text="80 % markup = eBay price ≥ 1.8 × the Amazon price.",
    )
    markup_max_percent = forms.DecimalField(
        min_value=0,
        max_digits=7,
        decimal_places=2,
        label="Markup max %",
        help_text="120 % markup = eBay price ≤ 2.2 × the Amazon price.",
    )

    @classmethod
    def defaults(cls) -> dict:
        return {
            "workers": settings.COLLECTION_WORKERS,
            "amazon_pages": settings.COLLECTION_AMAZON_PAGES,
            "ebay_pages": settings.COLLECTION_EBAY_PAGES,
            "ebay_queries": settings.COLLECTION_EBAY_QUERIES,
            "markup_min_percent": settings.COLLECTION_MARKUP_MIN_PERCENT,
            "markup_max_percent": settings.COLLECTION_MARKUP_MAX_PERCENT,
        }

    def clean(self):
        return _run_options_clean(super().clean(), self.errors)


class StartRunForm(RunOptionsForm):
    """The stand-alone "Start a run" page: choose presets and/or categories too."""

    presets = forms.ModelMultipleChoiceField(
        queryset=CategoryPreset.objects.all(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 6}),
    )
    categories = forms.ModelMultipleChoiceField(
        queryset=Category.objects.all(),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 15}),
    )

    field_order = ["presets", "categories"]

    def clean(self):
        data = super().clean()
        if not self.errors and not (data.get("presets") or data.get("categories")):
            raise ValidationError("Choose at least one preset or category.")
        return data


def _estimate_lines(*, categories: list[Category], options: dict) -> list[str]:
    """The request estimate, or nothing for options the form refuses anyway."""
    try:
        estimate = run_estimate_from_options(
            categories=categories,
            amazon_pages=options["amazon_pages"],
            ebay_pages=options["ebay_pages"],
            markup_min_percent=options["markup_min_percent"],
            markup_max_percent=options["markup_max_percent"],
            ebay_queries=options.get("ebay_queries"),
        )
    except RunOptionsError:
        return []
    return run_estimate_lines(estimate=estimate)


def _selection(*, presets=(), categories=()) -> tuple[list[Category], CategoryPreset | None]:
    """The union of chosen presets' and categories' categories, and the preset if only one."""
    presets = list(presets)
    chosen = {c.pk: c for c in categories}
    for preset in presets:
        for category in preset.categories.all():
            chosen[category.pk] = category
    preset = presets[0] if len(presets) == 1 and not categories else None
    return sorted(chosen.values(), key=lambda c: c.node_id), preset


def start_run_response(modeladmin, request, *, form, categories, preset, context):
    """Render the start form, or start the run (POST with ``apply``)."""
    if "apply" in request.POST and form.is_valid():
        if form.cleaned_data.get("presets") is not None:  # the stand-alone page
            categories, preset = _selection(
                presets=form.cleaned_data["presets"], categories=form.cleaned_data["categories"]
            )
        options = {k: form.cleaned_data[k] for k in RunOptionsForm.base_fields}
        try:
            run = run_start(
                categories=categories, preset=preset, started_by=request.user, **options
            )
        except RunError as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
        else:
            modeladmin.message_user(
                request,
                run_link_message(
                    run,
                    f"Run {run.pk} queued over {len(categories)} categories; "
                    "a task worker starts it.",
                ),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(run_live_url(run.pk))  # watch it start
    options = form.cleaned_data if form.is_bound and form.is_valid() else RunOptionsForm.defaults()
    if form.is_bound and form.is_valid() and form.cleaned_data.get("presets") is not None:
        categories, preset = _selection(
            presets=form.cleaned_data["presets"], categories=form.cleaned_data["categories"]
        )
    estimate = _estimate_lines(categories=categories, options=options) if categories else []
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": "Start a collection run",
        "opts": modeladmin.model._meta,
        "form": form,
        "categories": categories,
        "preset": preset,
        "estimate": estimate,
        "active_runs": CollectionRun.objects.filter(
            status__in=CollectionRun.ACTIVE_STATUSES
        ).count(),
        "max_active_runs": settings.COLLECTION_MAX_ACTIVE_RUNS,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        **context,
    }
    return TemplateResponse(request, "admin/collection/start_run.html", context)


def _start_run_action(modeladmin, request, queryset, *, categories, preset):
    # First call: from the changelist's action menu (unbound form). Then the form posts
    # back to the changelist with the same action and selection, plus "apply" (start) or
    # "estimate" (show the estimate for the chosen options).
    submitted = "apply" in request.POST or "estimate" in request.POST
    form = RunOptionsForm(request.POST if submitted else None, initial=RunOptionsForm.defaults())
    return start_run_response(
        modeladmin,
        request,
        form=form,
        categories=categories,
        preset=preset,
        context={"queryset": queryset, "action": request.POST.get("action")},
    )


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "department", "node_id", "is_department"]
    list_filter = ["is_department", "department"]
    search_fields = ["name", "department", "node_id"]
    actions = ["start_run"]

    @admin.action(description="Start a run from the selected categories", permissions=["start_run"])
    def start_run(self, request, queryset):
        categories, _ = _selection(categories=queryset)
        return _start_run_action(self, request, queryset, categories=categories, preset=None)

    def has_start_run_permission(self, request):
        return request.user.has_perm("collection.add_collectionrun")


class CategoryPresetForm(forms.ModelForm):
    class Meta:
        model = CategoryPreset
        fields = ["name", "description", "categories"]

    def clean_categories(self):
        categories = self.cleaned_data["categories"]
        try:
            preset_categories_check(categories=categories)
        except PresetError as exc:
            raise ValidationError(str(exc)) from exc
        return categories


@admin.register(CategoryPreset)
class CategoryPresetAdmin(admin.ModelAdmin):
    form = CategoryPresetForm
    list_display = ["name", "category_count", "is_builtin", "updated_at"]
    search_fields = ["name"]
    filter_horizontal = ["categories"]
    actions = ["start_run"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_categories=Count("categories"))

    @admin.display(description="categories", ordering="_categories")
    def category_count(self, obj):
        return obj._categories

    @admin.action(description="Start a run from the selected presets", permissions=["start_run"])
    def start_run(self, request, queryset):
        categories, preset = _selection(presets=queryset.prefetch_related("categories"))
        return _start_run_action(self, request, queryset, categories=categories, preset=preset)

    def has_start_run_permission(self, request):
        return request.user.has_perm("collection.add_collectionrun")

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        # Bulk delete: the built-in preset is protected like the single delete above.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        builtin = [str(o) for o in objs if o.is_builtin]
        return deleted, model_count, perms_needed, list(protected) + builtin

    def delete_model(self, request, obj):
        presets_delete(preset_ids=[obj.pk])

    def delete_queryset(self, request, queryset):
        try:
            presets_delete(preset_ids=list(queryset.values_list("pk", flat=True)))
        except PresetError as exc:
            self.message_user(request, str(exc), messages.ERROR)


# --- Runs ---------------------------------------------------------------------------------


class RunTaskInline(admin.TabularInline):
    model = RunTask
    fields = ("key", "status", "attempts", "error_type", "error_message", "finished_at")
    readonly_fields = fields
    can_delete = False
    extra = 0
    max_num = 0
    show_change_link = False
    verbose_name_plural = "failed tasks"

    def get_queryset(self, request):
        return super().get_queryset(request).filter(status=RunTask.Status.FAILED)


@admin.register(CollectionRun)
class CollectionRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "status",
        "phase",
        "progress",
        "products_found",
        "ebay_searches_done",
        "sellers_found",
        "sellers_new",
        "failed_tasks",
        "created_at",
        "live_page",
    ]
    list_filter = ["status", "phase", "created_at"]
    date_hierarchy = "created_at"
    fields = (
        "live_page",
        "outcome_page",
        "status",
        "phase",
        "pause_reason",
        "status_message",
        "resume_at",
        "requested_action",
        "preset",
        "category_list",
        "run_options",
        "products_found",
        "ebay_searches_done",
        "sellers_found",
        "sellers_new",
        "sightings",
        "requests",
        "retries",
        "failed_tasks",
        "skipped_records",
        "stats",
        "estimate",
        "estimate_vs_actual",
        "event_seq",
        "started_by",
        "rerun_of",
        "schedule",
        "created_at",
        "started_at",
        "finished_at",
        "heartbeat_at",
        "executor",
        "failure_reason",
    )
    readonly_fields = fields
    inlines = [RunTaskInline]
    actions = ["rerun_runs", "pause_runs", "resume_runs", "cancel_runs", "add_worker_to_runs"]
    change_form_template = "admin/collection/collectionrun/change_form.html"
    change_list_template = "admin/collection/collectionrun/change_list.html"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                _tasks=Count("tasks"),
                _finished=Count("tasks", filter=Q(tasks__status__in=RunTask.FINISHED_STATUSES)),
            )
        )

    def has_add_permission(self, request):
        return False  # runs start through the start form (services), never a bare model form

    def has_start_run_permission(self, request):
        return request.user.has_perm("collection.add_collectionrun")

    def has_control_permission(self, request):
        return self.has_change_permission(request)

    # Django capitalizes read-only labels ("Ebay pages"): the options are one line instead.
    @admin.display(description="options")
    def run_options(self, obj):
        return (
            f"{obj.workers} workers · Amazon pages: {obj.amazon_pages} · eBay pages: "
            f"{obj.ebay_pages} (200 listings each) · eBay queries: {obj.ebay_queries} · "
            f"markup {obj.markup_min_percent.normalize():f}–"
            f"{obj.markup_max_percent.normalize():f} %"
        )

    @admin.display(description="searches on eBay", ordering="ebay_searches")
    def ebay_searches_done(self, obj):
        return obj.ebay_searches

    @admin.display(description="tasks done")
    def progress(self, obj):
        total = getattr(obj, "_tasks", None)
        if not total:
            return "—"
        return f"{obj._finished}/{total} ({100 * obj._finished // total} %)"

    @admin.display(description="live")
    def live_page(self, obj):
        if obj.pk is None:
            return "—"
        return format_html('<a href="{}">live page</a>', run_live_url(obj.pk))

    @admin.display(description="outcome")
    def outcome_page(self, obj):
        url = reverse("admin:collection_collectionrun_outcome", args=[obj.pk])
        return format_html('<a href="{}">what this run added and saw</a>', url)

    @admin.display(description="requests: estimated / sent")
    def estimate_vs_actual(self, obj):
        return run_estimate_compare_line(run=obj).removeprefix("Requests: ") or "—"

    @admin.display(description="categories")
    def category_list(self, obj):
        names = [str(c) for c in obj.categories.all()[:50]]
        more = obj.categories.count() - len(names)
        return ", ".join(names) + (f" … and {more} more" if more > 0 else "")

    # Actions: one service call per selected run, one message per outcome.

    def _control(self, request, queryset, op) -> list[CollectionRun]:
        """One service call per run, one message per outcome; the runs it produced."""
        done = []
        for run_id in queryset.order_by("pk").values_list("pk", flat=True):
            result = run_control(run_id=run_id, action=op, user=request.user)
            if result.run is not None:  # result.ok
                self.message_user(
                    request, run_link_message(result.run, result.message), messages.SUCCESS
                )
                done.append(result.run)
            else:
                self.message_user(request, result.message, messages.ERROR)
        return done

    def _cancel_confirmation(self, request, runs, *, action: str = ""):
        """The page that asks before a cancel (a cancelled run cannot be resumed)."""
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel " + ("this run" if len(runs) == 1 else f"{len(runs)} runs") + "?",
            "opts": self.model._meta,
            "runs": runs,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "single": runs[0] if not action else None,
        }
        return TemplateResponse(
            request, "admin/collection/collectionrun/cancel_confirmation.html", context
        )

    @admin.action(description="Re-run with the same options", permissions=["start_run"])
    def rerun_runs(self, request, queryset):
        self._control(request, queryset, "rerun")

    @admin.action(description="Pause", permissions=["control"])
    def pause_runs(self, request, queryset):
        self._control(request, queryset, "pause")

    @admin.action(description="Resume (queue for a task worker)", permissions=["control"])
    def resume_runs(self, request, queryset):
        self._control(request, queryset, "resume")

    @admin.action(description="Cancel…", permissions=["control"])
    def cancel_runs(self, request, queryset):
        runs = list(queryset.order_by("pk"))
        # Ask when something would stop for good; finished runs get the service's answer.
        if request.POST.get("confirm") != "yes" and any(not r.is_finished for r in runs):
            return self._cancel_confirmation(request, runs, action="cancel_runs")
        self._control(request, queryset, "cancel")
        return None

    @admin.action(description="Add a worker process to the run", permissions=["control"])
    def add_worker_to_runs(self, request, queryset):
        self._control(request, queryset, "add_worker")

    # Extra pages: start form, per-run outcome, change-page buttons.

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("start/", view(self.start_view), name="collection_collectionrun_start"),
            path(
                "<int:run_id>/outcome/",
                view(self.outcome_view),
                name="collection_collectionrun_outcome",
            ),
            path(
                "<int:run_id>/control/<str:op>/",
                view(self.control_view),
                name="collection_collectionrun_control",
            ),
        ] + super().get_urls()

    def start_view(self, request):
        if not self.has_start_run_permission(request):
            raise PermissionDenied
        bound = request.method == "POST"
        form = StartRunForm(request.POST if bound else None, initial=RunOptionsForm.defaults())
        return start_run_response(
            self, request, form=form, categories=[], preset=None, context={"standalone": True}
        )

    def outcome_view(self, request, run_id: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            outcome = selectors.run_outcome_get(run_id=run_id)
        except CollectionRun.DoesNotExist:
            raise Http404("No such run.") from None
        context = {
            **self.admin_site.each_context(request),
            "title": f"Run {run_id}: what it added and saw",
            "opts": self.model._meta,
            "original": outcome.run,
            "outcome": outcome,
            "live_url": run_live_url(run_id),
        }
        return TemplateResponse(request, "admin/collection/collectionrun/outcome.html", context)

    def control_view(self, request, run_id: int, op: str):
        if op not in CONTROL_ACTIONS:
            raise Http404("No such action.")
        # Only a cancel has a page of its own (the confirmation); every control is a POST.
        if request.method != "POST" and not (op == "cancel" and request.method == "GET"):
            return HttpResponseNotAllowed(["POST"])
        allowed = (
            self.has_start_run_permission(request)
            if op == "rerun"
            else self.has_control_permission(request)
        )
        if not allowed:
            raise PermissionDenied
        run = get_object_or_404(CollectionRun, pk=run_id)
        if op == "cancel" and request.POST.get("confirm") != "yes" and not run.is_finished:
            return self._cancel_confirmation(request, [run])
        if request.method != "POST":  # a finished run's cancel link: nothing to ask
            return HttpResponseRedirect(
                reverse("admin:collection_collectionrun_change", args=[run_id])
            )
        done = self._control(request, CollectionRun.objects.filter(pk=run_id), op)
        if op == "rerun" and done:  # like "Start the run": on to the new run's live page
            return HttpResponseRedirect(run_live_url(done[0].pk))
        return HttpResponseRedirect(reverse("admin:collection_collectionrun_change", args=[run_id]))

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "show_save": False,
            "show_save_and_continue": False,
            "show_save_and_add_another": False,
            "can_control": self.has_control_permission(request),
            "can_start": self.has_start_run_permission(request),
            "live_url": run_live_url(object_id) if str(object_id).isdigit() else "",
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_start": self.has_start_run_permission(request),
        }
        return super().changelist_view(request, extra_context)


# --- Links out (fixed https URLs; a scraped id is quoted into the path) ------------------

EBAY_ITEM_URL = "https://www.ebay.com/itm/{}"
AMAZON_PRODUCT_URL = "https://www.amazon.com/dp/{}"
EBAY_STORE_URL = "https://www.ebay.com/str/{}"
EBAY_FEEDBACK_URL = "https://www.ebay.com/fdbk/feedback_profile/{}"


def _outbound(template: str, value: str) -> str:
    """A fixed https URL with ``value`` quoted into its path ('' when there is no value)."""
    return template.format(quote(value, safe="")) if value else ""


def _http_url(url: str) -> str:
    """``url`` when it is an http(s) URL, else '' (a scraped javascript: URL is dropped)."""
    return url if urlsplit(url or "").scheme.lower() in ("http", "https") else ""


# --- Products -----------------------------------------------------------------------------


class ProductCategoryInline(admin.TabularInline):
    model = ProductCategory
    fields = ("category", "rank", "run", "updated_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name = "product category"
    verbose_name_plural = "Product categories (best-seller rank, latest seen)"


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    """Products come from runs: what was scraped is shown, never edited."""

    list_display = ["asin", "short_title", "price", "currency", "rating", "ratings_count"]
    search_fields = ["asin", "title"]
    list_filter = ["categories__department"]
    fields = (
        "asin",
        "amazon_link",
        "title",
        "price",
        "currency",
        "rating",
        "ratings_count",
        "url",
        "price_run",
        "first_seen_run",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    inlines = [ProductCategoryInline]

    def has_add_permission(self, request):
        return False  # products come from runs

    @admin.display(description="title", ordering="title")
    def short_title(self, obj):
        return obj.title[:100]  # escaped by the admin: plain text

    @admin.display(description="on Amazon")
    def amazon_link(self, obj):
        url = _outbound(AMAZON_PRODUCT_URL, obj.asin)
        return (
            format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', url, url)
            if url
            else "—"
        )


# --- Sellers ------------------------------------------------------------------------------


# The evidence on the seller page is a paged table under the form, not an inline: a
# read-only inline still posts two hidden fields per row, and a top seller's ~640 sightings
# made the rename a 400 (TooManyFieldsSent), besides ~1 MB of HTML per load.
EVIDENCE_PER_PAGE = 25
EVIDENCE_PAGE_PARAM = "evidence"


def _money(amount: Decimal | None, currency: str) -> str:
    if amount is None:
        return "—"
    return f"${amount:,.2f}" if currency in ("", "USD") else f"{currency} {amount:,.2f}"


@dataclass(frozen=True, slots=True)
class EvidenceRow:
    """One sighting as the seller page shows it (every text is escaped by the template)."""

    sighting: SellerSighting
    ebay_url: str
    amazon_url: str
    listing_price: str
    amazon_price: str
    markup: str
    match_score: str
    shipping: str

    @classmethod
    def of(cls, sighting: SellerSighting) -> EvidenceRow:
        product = sighting.product
        ratio = sighting.price_ratio
        if (
            ratio is None
            and sighting.listing_price
            and product.price
            and (sighting.currency in ("", "USD") and product.currency in ("", "USD"))
        ):
            ratio = float(sighting.listing_price / product.price)
        shipping = sighting.shipping_cost
        return cls(
            sighting=sighting,
            ebay_url=_outbound(EBAY_ITEM_URL, sighting.item_id) or _http_url(sighting.item_url),
            amazon_url=_outbound(AMAZON_PRODUCT_URL, product.asin),
            listing_price=_money(sighting.listing_price, sighting.currency),
            amazon_price=_money(product.price, product.currency),
            markup="—" if ratio is None else f"{(ratio - 1) * 100:+.0f} %",
            match_score="—" if sighting.match_score is None else f"{sighting.match_score:.0f}",
            shipping="—"
            if shipping is None
            else "Free"
            if shipping == 0
            else _money(shipping, sighting.currency),
        )


def seller_evidence_page(*, seller_id: int, page: str | int | None):
    """One page of a seller's sightings, newest first (a bad or past-the-end page number
    shows the first or last page)."""
    # A plain paged queryset, kept here: new seller reads in collection/selectors.py belong
    # to the operator pages (the "ui" room), whose seller page may replace this one.
    sightings = (
        SellerSighting.objects.filter(seller_id=seller_id)
        .select_related("product", "run")
        .order_by("-created_at", "-id")
    )
    page_obj = Paginator(sightings, EVIDENCE_PER_PAGE).get_page(page)
    # The template reads page.rows beside page.object_list; Page has no such field.
    page_obj.rows = [EvidenceRow.of(s) for s in page_obj.object_list]  # type: ignore[attr-defined]
    return page_obj


class NewInRunFilter(admin.SimpleListFilter):
    title = "new in run"
    parameter_name = "new_in_run"

    def lookups(self, request, model_admin):
        runs = CollectionRun.objects.order_by("-id").values_list("id", flat=True)[:20]
        return [(str(r), f"Run {r}") for r in runs]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(first_seen_run_id=self.value())
        return queryset


class DeletedFilter(admin.SimpleListFilter):
    title = "deleted"
    parameter_name = "deleted"

    def lookups(self, request, model_admin):
        return [("no", "Active"), ("yes", "Deleted")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(deleted_at__isnull=False)
        if self.value() == "no":
            return queryset.filter(deleted_at__isnull=True)
        return queryset


class SellerForm(forms.ModelForm):
    class Meta:
        model = Seller
        fields = ["display_name"]


class HistoryForm(forms.Form):
    """The history page: the list as of a run or a date, and the diff between two runs."""

    as_of_run = forms.IntegerField(required=False, min_value=1, label="As of run")
    as_of_date = forms.DateField(
        required=False, label="As of date", help_text="YYYY-MM-DD (end of that day)"
    )
    from_run = forms.IntegerField(required=False, min_value=1, label="Diff from run")
    to_run = forms.IntegerField(required=False, min_value=1, label="to run")

    def clean(self):
        data = super().clean()
        for name in ("as_of_run", "from_run", "to_run"):
            run_id = data.get(name)
            if run_id and not CollectionRun.objects.filter(pk=run_id).exists():
                self.add_error(name, f"Run {run_id} does not exist.")
        if bool(data.get("from_run")) != bool(data.get("to_run")):
            raise ValidationError("A diff needs both runs.")
        return data


HISTORY_LIMIT = 200


async def _aiter_chunks(chunks):
    """Stream a sync generator under ASGI without collecting it (Django would, see
    ``StreamingHttpResponse.__aiter__``): one chunk at a time, always on the same thread,
    which keeps the database cursor on its connection."""
    step = sync_to_async(lambda: next(chunks, None), thread_sensitive=True)
    while (chunk := await step()) is not None:
        yield chunk


@admin.register(Seller)
class SellerAdmin(admin.ModelAdmin):
    form = SellerForm
    list_display = [
        "username",
        "display_name",
        "feedback_score",
        "feedback_percent",
        "times_seen",
        "products_matched",
        "runs_seen",
        "score",
        "flagged",
        "is_active",
        "first_seen_at",
        "last_seen_at",
    ]
    list_filter = ["flagged", DeletedFilter, NewInRunFilter]
    search_fields = ["username", "normalized", "display_name"]
    ordering = ["-score", "normalized"]
    sortable_by = [
        "username",
        "display_name",
        "feedback_score",
        "feedback_percent",
        "times_seen",
        "products_matched",
        "runs_seen",
        "score",
        "flagged",
        "first_seen_at",
        "last_seen_at",
    ]
    fields = (
        "username",
        "display_name",
        "normalized",
        "user_id_on_ebay",
        "why",
        "score",
        "products_matched",
        "median_markup",
        "copy_share_shown",
        "runs_seen",
        "times_seen",
        "feedback_score",
        "feedback_percent",
        "flagged",
        "deleted_at",
        "first_seen_run",
        "last_seen_run",
        "first_seen_at",
        "last_seen_at",
        "created_at",
        "updated_at",
    )
    readonly_fields = [f for f in fields if f != "display_name"]
    change_form_template = "admin/collection/seller/change_form.html"
    actions = [
        "flag_sellers",
        "unflag_sellers",
        "delete_sellers",
        "restore_sellers",
        "export_csv",
        "export_json",
    ]
    change_list_template = "admin/collection/seller/change_list.html"

    def has_add_permission(self, request):
        return False  # sellers come from runs

    def has_delete_permission(self, request, obj=None):
        return False  # soft-delete (an action) keeps the history; a hard delete would not

    @admin.display(description="active", boolean=True, ordering="deleted_at")
    def is_active(self, obj):
        return obj.deleted_at is None

    @admin.display(description="user id on eBay")  # not "Ebay user id" (capitalized field name)
    def user_id_on_ebay(self, obj):
        return obj.ebay_user_id or "—"

    @admin.display(description="why")
    def why(self, obj):
        return seller_why(
            products_matched=obj.products_matched,
            median_price_ratio=obj.median_price_ratio,
            copy_share=obj.copy_share,
        )

    @admin.display(description="median markup")
    def median_markup(self, obj):
        markup = markup_percent(obj.median_price_ratio)
        return "—" if markup is None else f"{markup:+.0f} %"

    @admin.display(description="copy share")
    def copy_share_shown(self, obj):
        share = share_percent(obj.copy_share)
        return "—" if share is None else f"{share:.0f} % of their listings copy a best seller"

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        if str(object_id).isdigit() and self.has_view_permission(request):
            seller = Seller.objects.filter(pk=object_id).only("username").first()
            if seller is not None:
                extra_context.update(
                    evidence=seller_evidence_page(
                        seller_id=seller.pk, page=request.GET.get(EVIDENCE_PAGE_PARAM)
                    ),
                    evidence_param=EVIDENCE_PAGE_PARAM,
                    ebay_store_url=_outbound(EBAY_STORE_URL, seller.username),
                    ebay_feedback_url=_outbound(EBAY_FEEDBACK_URL, seller.username),
                )
        return super().change_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        # Only the display name is editable, and it changes through the service (logged).
        try:
            seller_rename(seller_id=obj.pk, display_name=obj.display_name, actor=request.user)
        except SellerError as exc:
            self.message_user(request, str(exc), messages.ERROR)

    def _bulk(self, request, queryset, service, done: str):
        count = service(seller_ids=queryset.values_list("pk", flat=True), actor=request.user)
        self.message_user(request, f"{count} seller(s) {done}.", messages.SUCCESS)

    @admin.action(description="Flag the selected sellers", permissions=["change"])
    def flag_sellers(self, request, queryset):
        self._bulk(request, queryset, sellers_flag, "flagged")

    @admin.action(description="Unflag the selected sellers", permissions=["change"])
    def unflag_sellers(self, request, queryset):
        self._bulk(request, queryset, sellers_unflag, "unflagged")

    @admin.action(description="Soft-delete the selected sellers", permissions=["change"])
    def delete_sellers(self, request, queryset):
        self._bulk(request, queryset, sellers_delete, "soft-deleted")

    @admin.action(description="Restore the selected sellers", permissions=["change"])
    def restore_sellers(self, request, queryset):
        self._bulk(request, queryset, sellers_restore, "restored")

    def _export(self, request, queryset, fmt):
        filters = {key: value for key, value in request.GET.items() if key not in ("o", "p")}
        if request.POST.get("select_across") != "1":
            filters["selected"] = True
        try:
            export = sellers_export(
                fmt=fmt,
                sellers=queryset,
                actor=request.user,
                filters=filters,
                # Like the command's --include-deleted: only when the list was filtered so.
                include_deleted=request.GET.get(DeletedFilter.parameter_name) == "yes",
            )
        except ExportError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return None
        chunks = export.chunks
        content = _aiter_chunks(chunks) if isinstance(request, ASGIRequest) else chunks
        response = StreamingHttpResponse(content, content_type=export.content_type)
        response["Content-Disposition"] = f'attachment; filename="{export.filename}"'
        return response

    @admin.action(description="Export the selected sellers as CSV", permissions=["view"])
    def export_csv(self, request, queryset):
        return self._export(request, queryset, "csv")

    @admin.action(description="Export the selected sellers as JSON", permissions=["view"])
    def export_json(self, request, queryset):
        return self._export(request, queryset, "json")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            # Not ``history_view``: that is ModelAdmin's per-object history (<id>/history/).
            path(
                "history/",
                view(self.sellers_history_view),
                name="collection_seller_list_history",
            ),
        ] + super().get_urls()

    def sellers_history_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form = HistoryForm(request.GET or None)
        context = {
            **self.admin_site.each_context(request),
            "title": "Seller history",
            "opts": self.model._meta,
            "form": form,
            "limit": HISTORY_LIMIT,
        }
        if form.is_bound and form.is_valid():
            data = form.cleaned_data
            if data.get("as_of_run") or data.get("as_of_date"):
                if data.get("as_of_run"):
                    at = selectors.run_point_in_time(run_id=data["as_of_run"])
                    label = f"as of run {data['as_of_run']} ({at:%Y-%m-%d %H:%M} UTC)"
                else:
                    at = data["as_of_date"]
                    label = f"as of the end of {at.isoformat()}"
                sellers = selectors.sellers_as_of(at=at).order_by("normalized")
                context["as_of"] = {
                    "label": label,
                    "count": sellers.count(),
                    "sellers": sellers[:HISTORY_LIMIT],
                }
            if data.get("from_run") and data.get("to_run"):
                diff = selectors.runs_diff(from_run_id=data["from_run"], to_run_id=data["to_run"])
                context["diff"] = diff
                context["diff_lists"] = [
                    (title, qs.count(), qs.order_by("normalized")[:HISTORY_LIMIT])
                    for title, qs in diff.sections
                ]
        return TemplateResponse(request, "admin/collection/seller/history.html", context)


@admin.register(SellerChange)
class SellerChangeAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "action",
        "source",
        "seller",
        "run",
        "actor",
        "seller_count_after",
    ]
    list_filter = ["action", "source", "created_at"]
    search_fields = ["seller__username", "seller__normalized"]
    date_hierarchy = "created_at"
    list_select_related = ["seller", "run", "actor"]


@admin.register(SellerSnapshot)
class SellerSnapshotAdmin(ReadOnlyAdmin):
    list_display = [
        "run",
        "created_at",
        "total_sellers",
        "new_sellers",
        "flagged_sellers",
        "products_searched",
    ]
    date_hierarchy = "created_at"


@admin.register(RunTask)
class RunTaskAdmin(ReadOnlyAdmin):
    list_display = [
        "run",
        "key",
        "phase",
        "status",
        "attempts",
        "result_count",
        "error_type",
        "finished_at",
    ]
    list_filter = ["status", "phase", "error_type"]
    search_fields = ["key", "query"]
    list_select_related = ["run"]
    raw_id_fields = ["run", "category", "product"]
    show_full_result_count = False  # a big run has 100k tasks: no second COUNT(*)


# Requests sent per provider and window (collection.store.usage); the current windows'
# used / left / reset time are shown above the list.
@admin.register(ProviderUsage)
class ProviderUsageAdmin(ReadOnlyAdmin):
    list_display = ["provider", "window_start", "requests", "updated_at"]
    list_filter = ["provider"]
    ordering = ["-window_start", "provider"]

    def changelist_view(self, request, extra_context=None):
        for line in selectors.quota_usage_lines():
            messages.info(request, line)
        return super().changelist_view(request, extra_context)


# --- Schedules ----------------------------------------------------------------------------


class ScheduleForm(forms.ModelForm):
    confirm_frequent = forms.BooleanField(
        required=False,
        label="Yes, run this often",
        help_text="Needed when the cron starts a run more often than hourly.",
    )

    class Meta:
        model = Schedule
        fields = [
            "name",
            "preset",
            "cron",
            "confirm_frequent",
            "enabled",
            "workers",
            "amazon_pages",
            "ebay_pages",
            "ebay_queries",
            "markup_min_percent",
            "markup_max_percent",
        ]
        labels = {
            "ebay_pages": "eBay pages",
            "ebay_queries": "eBay queries",
            "amazon_pages": "Amazon pages",
            "markup_min_percent": "Markup min %",
            "markup_max_percent": "Markup max %",
        }
        help_texts = {
            "cron": (
                "Five fields: minute hour day-of-month month day-of-week, e.g. '0 3 * * *' for "
                f"03:00 every day ({settings.TIME_ZONE}), or @daily / @hourly."
            ),
            "ebay_pages": "Result pages of 200 listings per eBay query, at most (1–50).",
            "ebay_queries": "eBay searches per product, at most (1–5).",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        queries = self.fields["ebay_queries"]
        queries.required = False  # empty: the default, as on the start form
        if self.instance.pk is None:
            queries.initial = settings.COLLECTION_EBAY_QUERIES

    def clean_cron(self):
        try:
            return cron_validate(self.cleaned_data["cron"])
        except ScheduleError as exc:
            raise ValidationError(str(exc)) from exc

    def clean(self):
        data = _run_options_clean(super().clean(), self.errors)
        if data.get("cron"):
            try:
                schedule_frequency_check(
                    cron=data["cron"], confirmed=bool(data.get("confirm_frequent"))
                )
            except ScheduleError as exc:
                self.add_error("confirm_frequent", str(exc))
        if PREVIEW_BUTTON in self.data:  # show the firings, save nothing
            self.add_error(None, ValidationError("Preview only.", code="preview"))
        return data


PREVIEW_BUTTON = "_preview"


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    form = ScheduleForm
    list_display = ["name", "preset", "cron", "enabled", "last_run_at", "next_run_at", "last_run"]
    list_filter = ["enabled"]
    readonly_fields = ["last_run_at", "next_run_at", "last_run"]
    change_form_template = "admin/collection/schedule/change_form.html"

    @admin.display(description="last run")
    def last_run(self, obj):
        run = obj.runs.order_by("-pk").first() if obj.pk else None
        if run is None:
            return "—"
        url = reverse("admin:collection_collectionrun_change", args=[run.pk])
        return format_html('<a href="{}">Run {} ({})</a>', url, run.pk, run.get_status_display())

    def save_model(self, request, obj, form, change):
        schedule_save(schedule=obj)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        form = context["adminform"].form
        if form.is_bound:
            values = getattr(form, "cleaned_data", {})
        elif obj is not None:
            values = {
                name: getattr(obj, name)
                for name in ScheduleForm.Meta.fields
                if name != "confirm_frequent"
            }
        else:
            values = {}
        preview_only = form.is_bound and [e.code for e in form.non_field_errors().as_data()] == [
            "preview"
        ]
        if preview_only and not [name for name in form.errors if name != "__all__"]:
            context["errors"] = []  # nothing to correct: the operator asked for a preview
        context.update(
            preview=_schedule_preview(values),
            preview_only=preview_only,
            preview_button=PREVIEW_BUTTON,
        )
        return super().render_change_form(request, context, add, change, form_url, obj)


def _schedule_preview(values: dict) -> dict | None:
    """The next firings of the values in the form, or why there are none to show."""
    needed = (
        "cron",
        "preset",
        "amazon_pages",
        "ebay_pages",
        "markup_min_percent",
        "markup_max_percent",
    )
    if any(values.get(name) in (None, "") for name in needed):
        return None
    try:
        firings = schedule_preview(
            cron=values["cron"],
            categories=list(values["preset"].categories.all()),
            amazon_pages=values["amazon_pages"],
            ebay_pages=values["ebay_pages"],
            markup_min_percent=values["markup_min_percent"],
            markup_max_percent=values["markup_max_percent"],
            ebay_queries=values.get("ebay_queries"),
        )
    except (ScheduleError, RunError) as exc:
        return {"error": str(exc), "firings": []}
    return {"error": "", "firings": firings, "frequent": cron_is_frequent(cron=values["cron"])}
