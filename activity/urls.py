from django.urls import path

from activity import views

app_name = "activity"

urlpatterns = [
    path("runs/", views.run_list, name="run_list"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path(
        "runs/<int:run_id>/<str:action>/", views.run_control, name="run_control"
    ),
]
