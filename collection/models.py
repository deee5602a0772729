"""The collection domain: categories, runs and their tasks, products, sellers and history.

Writes go through ``collection.services``; reads through ``collection.selectors``. Models
hold data and constraints only.

Past 400 lines: the whole domain's schema in one module, as Django expects of an app
(the history of its migrations follows it); no logic lives here.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q


class Category(models.Model):
    """An Amazon best-seller category, identified by its browse node id."""

    node_id = models.CharField(max_length=32, unique=True, help_text="Amazon browse node id")
    name = models.CharField(max_length=200)
    department = models.CharField(max_length=200, blank=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="children"
    )
    is_department = models.BooleanField(default=False)

    class Meta:
        ordering = ["department", "name"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        if self.department and self.department != self.name:
            return f"{self.department} › {self.name} ({self.node_id})"
        return f"{self.name} ({self.node_id})"


class CategoryPreset(models.Model):
    """A named selection of categories that runs and schedules start from."""

    ALL_DEPARTMENTS = "All departments"

    name = models.CharField(max_length=100, unique=True)
    description = models.TextField(blank=True)
    categories = models.ManyToManyField(Category, related_name="presets", blank=True)
    is_builtin = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CollectionRun(models.Model):
    """One collection: the Amazon phase, then the eBay phase, over chosen categories.

    Lifecycle (transitions only through ``collection.services.lifecycle``)::

        queued ──► running ──► completed
                     │  ▲
                     ▼  │
                    paused          running/paused/queued ──► cancelled
                                    running ──► failed (unrecoverable, e.g. bad credentials)
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        """Created, waiting for a process to execute it."""
        RUNNING = "running", "Running"
        """A process holds it (heartbeat fresh) and is executing tasks."""
        PAUSED = "paused", "Paused"
        """Stopped on request, after consecutive failures or at a quota; resumable."""
        COMPLETED = "completed", "Completed"
        """Every task ended (done, failed or skipped); the snapshot is stored."""
        FAILED = "failed", "Failed"
        """Stopped by an unrecoverable error (see failure_reason); resumable after a fix."""
        CANCELLED = "cancelled", "Cancelled"
        """Stopped by an operator; not resumable."""

    class Phase(models.TextChoices):
        AMAZON = "amazon", "Amazon best sellers"
        EBAY = "ebay", "eBay search"
        DONE = "done", "Done"

    class PauseReason(models.TextChoices):
        NONE = "", "—"
        OPERATOR = "operator", "Paused by an operator"
        FAILURES = "failures", "Too many consecutive failed tasks"
        QUOTA = "quota", "Provider quota exhausted"
        INTERRUPTED = "interrupted", "Interrupted (signal or shutdown)"
        ORPHANED = "orphaned", "Its process stopped responding"
        DATABASE = "database", "Database unavailable"

    ACTIVE_STATUSES = (Status.QUEUED, Status.RUNNING)
    FINISHED_STATUSES = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    phase = models.CharField(max_length=16, choices=Phase.choices, default=Phase.AMAZON)
    pause_reason = models.CharField(
        max_length=16, choices=PauseReason.choices, default="", blank=True
    )
    status_message = models.TextField(blank=True, help_text="Why the run paused or failed.")
    resume_at = models.DateTimeField(
        null=True, blank=True, help_text="When a run paused at a quota resumes by itself."
    )
    # Set by another process (admin, command) and seen by the engine through the database.
    requested_action = models.CharField(
        max_length=16, blank=True, default="", help_text="'pause' or 'cancel' requested."
    )

    # Options.
    preset = models.ForeignKey(
        CategoryPreset, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    categories = models.ManyToManyField(Category, related_name="runs")
    workers = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    amazon_pages = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(2)]
    )
    ebay_pages = models.PositiveSmallIntegerField(
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(50)],
        help_text="Result pages of 200 listings per eBay query.",
    )
    ebay_queries = models.PositiveSmallIntegerField(
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(5)],
        help_text="eBay calls per product page: the first query, then fallbacks only when "
        "it finds too little.",
    )
    markup_min_percent = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        default=Decimal("80.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )
    markup_max_percent = models.DecimalField(
        max_digits=7,
        decimal_places=2,
        default=Decimal("120.00"),
        validators=[MinValueValidator(Decimal("0"))],
    )

    # Counters (kept current by the store as batches commit).
    products_found = models.PositiveIntegerField(default=0)
    ebay_searches = models.PositiveIntegerField(default=0)
    sellers_found = models.PositiveIntegerField(default=0, help_text="Distinct sellers seen.")
    sellers_new = models.PositiveIntegerField(default=0)
    sightings = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    failed_tasks = models.PositiveIntegerField(default=0)
    skipped_records = models.PositiveIntegerField(default=0)
    stats = models.JSONField(default=dict, blank=True, help_text="Namespaced counters.")
    estimate = models.JSONField(default=dict, blank=True, help_text="Requests per provider.")

    # Live events: the last sequence number handed out (per run, strictly increasing).
    event_seq = models.PositiveBigIntegerField(default=0)

    # Bookkeeping.
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="collection_runs",
    )
    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    schedule = models.ForeignKey(
        "Schedule", null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    executor = models.CharField(
        max_length=200, blank=True, help_text="host:pid of the process executing the run."
    )
    failure_reason = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(markup_max_percent__gte=models.F("markup_min_percent")),
                name="run_markup_band_ordered",
            ),
        ]

    def __str__(self) -> str:
        return f"Run {self.pk} ({self.status})"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE_STATUSES

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED_STATUSES


class RunTask(models.Model):
    """One unit of work of a run: a (category, page) or a (product, page) fetch.

    ``pending`` ──claim──► ``running`` (leased) ──► ``done`` | ``failed`` | ``skipped``;
    an expired lease makes a running task claimable again. A task's results commit in the
    same transaction as its ``done`` mark.
    """

    class Phase(models.TextChoices):
        AMAZON = "amazon", "Amazon"
        EBAY = "ebay", "eBay"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        """Not started (or released after a pause)."""
        RUNNING = "running", "Running"
        """Claimed by a worker; the claim expires at leased_until."""
        DONE = "done", "Done"
        """Fetched and stored."""
        FAILED = "failed", "Failed"
        """Gave up after retries; error_type and error_message say why."""
        SKIPPED = "skipped", "Skipped"
        """Not needed (e.g. a page after the last page)."""

    FINISHED_STATUSES = (Status.DONE, Status.FAILED, Status.SKIPPED)

    run = models.ForeignKey(CollectionRun, on_delete=models.CASCADE, related_name="tasks")
    phase = models.CharField(max_length=8, choices=Phase.choices)
    key = models.CharField(max_length=100, help_text="e.g. amazon:172282:1, ebay:B0ABC:2")
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    product = models.ForeignKey(
        "Product", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    page = models.PositiveSmallIntegerField(default=1)
    query = models.CharField(
        max_length=300,
        blank=True,
        default="",
        db_default="",
        help_text="The eBay query this task sends (eBay phase).",
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    leased_until = models.DateTimeField(null=True, blank=True)
    leased_by = models.CharField(max_length=200, blank=True)
    error_type = models.CharField(max_length=32, blank=True)
    error_message = models.TextField(blank=True)
    result_count = models.PositiveIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "key"], name="runtask_unique_key"),
        ]
        indexes = [models.Index(fields=["run", "phase", "status"])]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class Product(models.Model):
    """An Amazon best seller, one row per ASIN whatever the categories it ranks in."""

    asin = models.CharField(max_length=20, unique=True)
    title = models.TextField()
    price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="USD")
    rating = models.DecimalField(max_digits=3, decimal_places=2, null=True, blank=True)
    ratings_count = models.PositiveIntegerField(null=True, blank=True)
    url = models.URLField(max_length=2000, blank=True)
    # The run whose records set ``price``: within one run the lowest positive price of all
    # its records wins (whatever order they arrive in), a later run's price replaces it.
    price_run = models.ForeignKey(
        CollectionRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    categories = models.ManyToManyField(
        Category, through="ProductCategory", related_name="products"
    )
    first_seen_run = models.ForeignKey(
        CollectionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["asin"]

    def __str__(self) -> str:
        return f"{self.asin} {self.title[:60]}"


class ProductCategory(models.Model):
    """A product's best-seller rank in one category (the latest seen)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="rankings")
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="rankings")
    rank = models.PositiveIntegerField(null=True, blank=True)
    run = models.ForeignKey(
        CollectionRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["product", "category"], name="productcategory_unique"),
        ]

    def __str__(self) -> str:
        return f"product {self.product_id} in category {self.category_id} (rank {self.rank})"


class Seller(models.Model):
    """An eBay seller, deduplicated on ``normalized`` (see ``collection.normalize``)."""

    username = models.CharField(max_length=255, help_text="As first seen (opaque string).")
    # Unique through Meta.constraints, not ``unique=True``: that would also build a
    # ``varchar_pattern_ops`` (LIKE) index nobody queries, written by every new seller.
    normalized = models.CharField(max_length=255)
    display_name = models.CharField(max_length=255, blank=True)
    ebay_user_id = models.CharField(
        max_length=100,
        blank=True,
        default="",
        db_default="",
        help_text="eBay's immutable user id, where the API sends it.",
    )
    feedback_score = models.IntegerField(null=True, blank=True)
    feedback_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # No database foreign keys on the two runs (``db_constraint=False``), nor on a change's
    # seller and run: each is a deferred check at commit (~4 µs, a key-share lock of the run
    # row), ~4 per new seller and 1 per known seller a run sees first — 0.6 CPU-s of
    # figure 2's store. The store writes them only with the run whose tasks it holds
    # locked and sellers it inserted or looked up under the seller section's lock; a
    # deleted run or seller is SET_NULL by Django's collector (``on_delete``), as before.
    first_seen_run = models.ForeignKey(
        CollectionRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
    )
    # No index: the store moves it once per run for every seller seen, which would make that
    # update non-HOT; only deleting a run looks sellers up by it (a scan, rare).
    last_seen_run = models.ForeignKey(
        CollectionRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    first_seen_at = models.DateTimeField(null=True, blank=True, db_index=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    times_seen = models.PositiveIntegerField(default=0, help_text="Listings seen, all runs.")
    products_matched = models.PositiveIntegerField(
        default=0, help_text="Distinct best sellers with a listing that copies their title."
    )
    # Settled from the sightings when a run finishes (``seller_scores_settle``).
    median_price_ratio = models.FloatField(
        null=True, blank=True, help_text="Median eBay price ÷ Amazon price of matched listings."
    )
    copy_share = models.FloatField(
        null=True, blank=True, help_text="Share of the products listed whose title is copied."
    )
    runs_seen = models.PositiveIntegerField(default=0, help_text="Distinct runs seen in.")
    # score changes with every batch that sees the seller: an index on it would make each of
    # those updates non-HOT (a new entry in every index of the table). The planner does not
    # use it for the admin's ``-score`` list anyway (a parallel scan + top-N sort is cheaper).
    score = models.FloatField(default=0.0, help_text="Dropshipper score.")
    flagged = models.BooleanField(default=False)  # partial index below
    deleted_at = models.DateTimeField(null=True, blank=True, help_text="Soft-deleted at.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # The store's per-batch update of a known seller writes no indexed column, so it is a
    # HOT update (no index entry) when the row's page has room: on PostgreSQL the table keeps
    # 30 % of each page free (fillfactor 70, migration 0005); tests/collection/
    # test_store_hot_updates.py fails if an index or a full page makes those updates cold.
    class Meta:
        ordering = ["normalized"]
        constraints = [
            models.UniqueConstraint(fields=["normalized"], name="seller_normalized_unique"),
        ]
        indexes = [
            # Flagged sellers are few: the run snapshot and the admin filter count them here;
            # the store never writes this index (a new seller is not flagged).
            models.Index(fields=["flagged"], condition=Q(flagged=True), name="seller_flagged_idx"),
            # The store counts active sellers (seller_count_after) once per batch that adds
            # sellers: an index-only scan of this is ~3× cheaper than scanning the table.
            models.Index(
                fields=["id"], condition=Q(deleted_at__isnull=True), name="seller_active_idx"
            ),
            # The leaderboard: active sellers by score. The score moves once per run per seller
            # seen (settled when the run finishes), not with every batch, so the store's
            # per-batch seller update stays HOT.
            models.Index(
                models.F("score").desc(),
                "id",
                condition=Q(deleted_at__isnull=True),
                name="seller_leaderboard_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.display_name or self.username


class SellerSighting(models.Model):
    """Evidence: a seller listed a best seller at a markup, seen by a run."""

    # No single-column indexes on run and seller: the unique (run, seller, product) and the
    # (seller, product) indexes serve those lookups. A lone run_id index is also a trap for
    # the planner while a run grows faster than its statistics (it scans the whole run per
    # (run, seller) probe), and every index costs each inserted sighting.
    #
    # No database foreign keys (``db_constraint=False``): their checks cost ~5 µs per key per
    # row at commit, 3 per sighting — a sixth of the store's time on figure 2. The store
    # writes a sighting only for a seller it inserted or just looked up under the seller
    # section's lock, for the run whose tasks it holds locked, and for the product id of
    # one of those tasks; deletes cascade through Django's collector (``on_delete``). What
    # the database no longer refuses: a hard delete of a run, product or seller that
    # commits while a batch referencing it is being stored leaves that batch's sightings of
    # it behind (readers join them away). Sellers have no hard delete in the app (soft
    # delete only); runs and products are rarely deleted, never by the store.
    run = models.ForeignKey(
        CollectionRun,
        on_delete=models.CASCADE,
        related_name="seller_sightings",
        db_index=False,
        db_constraint=False,
    )
    seller = models.ForeignKey(
        Seller,
        on_delete=models.CASCADE,
        related_name="sightings",
        db_index=False,
        db_constraint=False,
    )
    product = models.ForeignKey(
        Product, on_delete=models.CASCADE, related_name="sightings", db_constraint=False
    )
    item_id = models.CharField(max_length=100, blank=True)
    listing_price = models.DecimalField(max_digits=12, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="USD")
    # What the listing was: the evidence an operator reads.
    title = models.CharField(max_length=300, blank=True, db_default="")
    item_url = models.URLField(max_length=500, blank=True, db_default="")
    shipping_cost = models.DecimalField(
        max_digits=10, decimal_places=2, null=True, blank=True, help_text="0 = free shipping."
    )
    location = models.CharField(max_length=64, blank=True, db_default="")
    query = models.CharField(
        max_length=300, blank=True, db_default="", help_text="The eBay query that found it."
    )
    match_score = models.FloatField(
        null=True, blank=True, help_text="0–100: how closely the title copies the product's."
    )
    # Database defaults too: rows written by SQL outside the ORM (benchmarks, tools, the
    # sightings of runs before listings were judged) are look-alikes with no evidence.
    is_match = models.BooleanField(
        default=False,
        db_default=False,
        help_text="A copy of the product (counts); otherwise a look-alike.",
    )
    price_ratio = models.FloatField(
        null=True, blank=True, help_text="Listing price ÷ Amazon price (USD listings only)."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["run", "seller", "product"], name="sighting_unique_run_seller_product"
            ),
        ]
        indexes = [models.Index(fields=["seller", "product"])]

    def __str__(self) -> str:
        return f"seller {self.seller_id} × product {self.product_id} (run {self.run_id})"


class SellerRunPending(models.Model):
    """What one batch saw of a known seller, until the run settles its sellers' counters.

    Only with ``COLLECTION_SELLER_COUNTERS=per_run`` (PostgreSQL store): instead of updating
    every known seller's row with every batch that sees it, a batch appends one row here per
    known seller (its smallest spelling, best feedback pair, user id, the sightings it
    inserted, when), and ``store.seller_scores_settle`` folds them into the sellers once
    when the run stops, then deletes them. Append-only, no unique key: a small table whose
    pages stay in memory, against a random page of the seller table per update.
    """

    run = models.ForeignKey(
        CollectionRun, on_delete=models.CASCADE, related_name="+", db_constraint=False
    )
    seller = models.ForeignKey(
        "Seller", on_delete=models.CASCADE, related_name="+", db_constraint=False, db_index=False
    )
    username = models.CharField(max_length=255)
    feedback_score = models.IntegerField(null=True, blank=True)
    feedback_percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    ebay_user_id = models.CharField(max_length=100, blank=True, default="")
    listings = models.PositiveIntegerField(default=0, help_text="Sightings the batch inserted.")
    seen_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"seller {self.seller_id} pending in run {self.run_id}"


class SellerChange(models.Model):
    """The audit log: every change to the seller table, by a run or a person."""

    class Action(models.TextChoices):
        ADDED = "added", "Added"
        FLAGGED = "flagged", "Flagged"
        UNFLAGGED = "unflagged", "Unflagged"
        DELETED = "deleted", "Deleted"
        RESTORED = "restored", "Restored"
        RENAMED = "renamed", "Renamed"
        EXPORTED = "exported", "Exported"

    class Source(models.TextChoices):
        RUN = "run", "Collection run"
        ADMIN = "admin", "Admin"
        COMMAND = "command", "Management command"
        SYSTEM = "system", "System"

    action = models.CharField(max_length=16, choices=Action.choices, db_index=True)
    source = models.CharField(max_length=16, choices=Source.choices)
    # No database foreign keys: see ``Seller.first_seen_run``.
    seller = models.ForeignKey(
        Seller,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="changes",
        db_constraint=False,
    )
    run = models.ForeignKey(
        CollectionRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="seller_changes",
        db_constraint=False,
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    details = models.JSONField(default=dict, blank=True)
    seller_count_after = models.PositiveIntegerField(
        null=True, blank=True, help_text="Active sellers after this change."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A run adds a seller at most once, whatever resumes and retries happen.
            models.UniqueConstraint(
                fields=["seller", "run"],
                condition=Q(action="added"),
                name="sellerchange_added_once_per_run",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.seller_id} ({self.source})"


class SellerSnapshot(models.Model):
    """Seller counts when a run completed."""

    run = models.OneToOneField(CollectionRun, on_delete=models.CASCADE, related_name="snapshot")
    total_sellers = models.PositiveIntegerField()
    new_sellers = models.PositiveIntegerField()
    flagged_sellers = models.PositiveIntegerField()
    products_searched = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Run {self.run_id}: {self.total_sellers} sellers ({self.new_sellers} new)"


class Schedule(models.Model):
    """Start a run from a preset on a cron expression."""

    name = models.CharField(max_length=100, unique=True)
    preset = models.ForeignKey(CategoryPreset, on_delete=models.CASCADE, related_name="schedules")
    cron = models.CharField(max_length=100, help_text="Cron expression, e.g. '0 3 * * *'.")
    enabled = models.BooleanField(default=True)
    workers = models.PositiveIntegerField(
        default=5, validators=[MinValueValidator(1), MaxValueValidator(200)]
    )
    amazon_pages = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(2)]
    )
    ebay_pages = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    ebay_queries = models.PositiveSmallIntegerField(
        default=2, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    markup_min_percent = models.DecimalField(
        max_digits=7, decimal_places=2, default=Decimal("80.00")
    )
    markup_max_percent = models.DecimalField(
        max_digits=7, decimal_places=2, default=Decimal("120.00")
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.cron})"


class ProviderUsage(models.Model):
    """Requests actually sent to a provider in one quota window (survives restarts)."""

    provider = models.CharField(max_length=32)
    window_start = models.DateTimeField()
    requests = models.PositiveIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "window_start"], name="usage_unique_window"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.provider} from {self.window_start}: {self.requests} requests"
