from django.urls import path

from activity import views

app_name = "activity"

urlpatterns = [
    path("", views.leaderboard, name="leaderboard"),
    path("sellers/<int:seller_id>/", views.seller_detail, name="seller_detail"),
    path("products/<str:asin>/", views.product_detail, name="product_detail"),
    path("runs/", views.run_list, name="run_list"),
    path("runs/<int:run_id>/", views.run_detail, name="run_detail"),
    path("runs/<int:run_id>/top.json", views.run_top_sellers, name="run_top_sellers"),
    path("runs/<int:run_id>/<str:action>/", views.run_control, name="run_control"),
]
