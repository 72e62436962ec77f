from django.urls import path

from widget import views

app_name = "widget"

urlpatterns = [
    path("widget/v1/cmp-widget.js", views.widget_script, name="script"),
    path("widget/v1/preview/<str:widget_id>/", views.widget_preview, name="preview"),
]
