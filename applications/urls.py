from django.urls import path

from applications.apis import ApplicationDetailApi, ApplicationListCreateApi

urlpatterns = [
    path("apps", ApplicationListCreateApi.as_view(), name="application-list"),
    path("apps/<str:token>", ApplicationDetailApi.as_view(), name="application-detail"),
]
