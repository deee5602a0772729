from django.contrib import admin
from django.urls import include, path

# The root is the dropshipper leaderboard (activity.urls): the first page after logging in.
urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("activity.urls")),
]
