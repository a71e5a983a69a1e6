from django.urls import path, re_path

from explorer import logs, views

urlpatterns = [
    path("", views.search_page, name="search"),
    path("histogram", views.histogram_page, name="search-histogram"),
    path("tail", views.tail_rows, name="tail-rows"),
    path("export.<str:fmt>", views.export, name="export"),
    path("searches/save", views.save_search, name="save-search"),
    path("preferences/time", views.time_preference, name="time-preference"),
    re_path(r"^logs/(?P<log_id>[0-9a-f]{24})$", logs.log_page, name="log"),
    re_path(r"^logs/(?P<log_id>[0-9a-f]{24})/around$", logs.log_around, name="log-around"),
    path("searches/<int:pk>/delete", views.delete_saved_search, name="delete-saved-search"),
]
