from django.urls import path
from django.views.generic import RedirectView

app_name = "activity"

urlpatterns = [
    # Replaced by the live pages (activity.views).
    path("runs/", RedirectView.as_view(url="/admin/collection/collectionrun/"), name="run_list"),
]
