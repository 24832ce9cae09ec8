from django.urls import path

from events.views import application_events, chat_events

urlpatterns = [
    path("apps/<str:token>/events", application_events, name="application-events"),
    path("apps/<str:token>/chats/<number:chat_number>/events", chat_events, name="chat-events"),
]
