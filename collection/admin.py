"""Admin for what an operator looks at. Scraped text is always shown escaped."""

from django.contrib import admin
from django.db.models import Count, Q
from django.urls import reverse
from django.utils.html import format_html

from collection.models import (
    Category,
    CategoryPreset,
    CollectionRun,
    Product,
    ProductCategory,
    RunTask,
    Schedule,
    Seller,
    SellerChange,
    SellerSighting,
    SellerSnapshot,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the system only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Category)
class CategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "department", "node_id", "is_department"]
    list_filter = ["is_department", "department"]
    search_fields = ["name", "department", "node_id"]


@admin.register(CategoryPreset)
class CategoryPresetAdmin(admin.ModelAdmin):
    list_display = ["name", "category_count", "is_builtin", "updated_at"]
    search_fields = ["name"]
    filter_horizontal = ["categories"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_categories=Count("categories"))

    @admin.display(description="categories", ordering="_categories")
    def category_count(self, obj):
        return obj._categories

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.is_builtin:
            return False
        return super().has_delete_permission(request, obj)

    def get_deleted_objects(self, objs, request):
        # Bulk delete: the built-in preset is protected like the single delete above.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        builtin = [str(o) for o in objs if o.is_builtin]
        return deleted, model_count, perms_needed, list(protected) + builtin


class RunTaskInline(admin.TabularInline):
    model = RunTask
    fields = ["key", "status", "attempts", "error_type", "error_message", "finished_at"]
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
        "id", "status", "phase", "progress", "products_found", "ebay_searches",
        "sellers_found", "sellers_new", "failed_tasks", "created_at", "live_page",
    ]
    list_filter = ["status", "phase", "created_at"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "status", "phase", "pause_reason", "status_message", "resume_at", "requested_action",
        "products_found", "ebay_searches", "sellers_found", "sellers_new", "sightings",
        "requests", "retries", "failed_tasks", "skipped_records", "stats", "estimate",
        "event_seq", "started_by", "rerun_of", "schedule", "created_at", "started_at",
        "finished_at", "heartbeat_at", "executor", "failure_reason", "live_page",
    ]
    filter_horizontal = ["categories"]
    inlines = [RunTaskInline]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(
            _tasks=Count("tasks"),
            _finished=Count("tasks", filter=Q(tasks__status__in=RunTask.FINISHED_STATUSES)),
        )

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
        return format_html(
            '<a href="{}">live page</a>', reverse("activity:run_detail", args=[obj.pk])
        )


class ProductCategoryInline(admin.TabularInline):
    model = ProductCategory
    fields = ["category", "rank", "run", "updated_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["asin", "short_title", "price", "currency", "rating", "ratings_count"]
    search_fields = ["asin", "title"]
    list_filter = ["categories__department"]
    readonly_fields = ["first_seen_run", "created_at", "updated_at"]
    inlines = [ProductCategoryInline]

    @admin.display(description="title", ordering="title")
    def short_title(self, obj):
        return obj.title[:100]  # escaped by the admin: plain text


class SellerSightingInline(admin.TabularInline):
    model = SellerSighting
    fields = ["run", "product", "listing_price", "currency", "item_id", "created_at"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    max_num = 0


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


@admin.register(Seller)
class SellerAdmin(admin.ModelAdmin):
    list_display = [
        "username", "display_name", "feedback_score", "feedback_percent", "times_seen",
        "products_matched", "runs_seen", "score", "flagged", "first_seen_at", "last_seen_at",
    ]
    list_filter = ["flagged", DeletedFilter, NewInRunFilter]
    search_fields = ["username", "normalized", "display_name"]
    ordering = ["-score"]
    readonly_fields = [
        "username", "normalized", "feedback_score", "feedback_percent", "first_seen_run",
        "last_seen_run", "first_seen_at", "last_seen_at", "times_seen", "products_matched",
        "runs_seen", "score", "flagged", "deleted_at", "created_at", "updated_at",
    ]
    inlines = [SellerSightingInline]

    def has_add_permission(self, request):
        return False  # sellers come from runs


@admin.register(SellerChange)
class SellerChangeAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "action", "source", "seller", "run", "actor", "seller_count_after"]
    list_filter = ["action", "source", "created_at"]
    search_fields = ["seller__username", "seller__normalized"]
    date_hierarchy = "created_at"
    list_select_related = ["seller", "run", "actor"]


@admin.register(SellerSnapshot)
class SellerSnapshotAdmin(ReadOnlyAdmin):
    list_display = ["run", "created_at", "total_sellers", "new_sellers", "flagged_sellers", "products_searched"]
    date_hierarchy = "created_at"


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["name", "preset", "cron", "enabled", "last_run_at", "next_run_at"]
    list_filter = ["enabled"]
    readonly_fields = ["last_run_at", "next_run_at"]
