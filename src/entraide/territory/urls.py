"""Routes of the welfare map, the service directory and visit planning."""

from . import directory_views, rules_views, views, visit_views

app_name = "territory"
urlpatterns = (views.urlpatterns + rules_views.urlpatterns + directory_views.urlpatterns
               + visit_views.urlpatterns)
